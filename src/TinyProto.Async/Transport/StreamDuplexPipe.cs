using System.IO.Pipelines;

namespace TinyProto.Async.Transport;

/// <summary>
/// The pipe pair over a byte stream that <see cref="StreamTransport"/> makes. A connection that runs over one may
/// also move large payloads between the stream and the message's own buffers directly, skipping a copy through
/// the pipe's buffers (see <c>TinyProtoConnection.DirectPayload.cs</c>).
/// </summary>
internal sealed class StreamDuplexPipe(PipeReader input, PipeWriter output, Stream stream) : IDuplexPipe
{
    public PipeReader Input { get; } = input;

    public PipeWriter Output { get; } = output;

    /// <summary>The stream under both pipes; it reads and writes only inside their ReadAsync and FlushAsync.</summary>
    public Stream Stream { get; } = stream;
}
