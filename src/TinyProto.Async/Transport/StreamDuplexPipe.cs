using System.IO.Pipelines;

namespace TinyProto.Async.Transport;

/// <summary>
/// The pipe pair over a byte stream or a socket that <see cref="StreamTransport"/> makes. A connection that runs
/// over one may also move large payloads between the transport and the message's own buffers directly, skipping
/// a copy through the pipes' buffers (see <c>Connection/IncomingPayload.cs</c> and <c>Connection/Output.cs</c>).
/// </summary>
internal sealed class StreamDuplexPipe(PipeReader input, PipeWriter output, Stream stream) : IDuplexPipe
{
    public PipeReader Input { get; } = input;

    public PipeWriter Output { get; } = output;

    /// <summary>The stream under the writer (and under the reader, unless that reads the socket itself).</summary>
    public Stream Stream { get; } = stream;

    /// <summary>
    /// Reads the next bytes past the reader, into <paramref name="destination"/>. Only while the reader holds
    /// nothing unread and no read is pending: the stream reader reads its stream only inside ReadAsync, and the
    /// socket reader checks.
    /// </summary>
    public ValueTask<int> ReadDirectAsync(Memory<byte> destination, CancellationToken cancellationToken) =>
        Input is SocketPipeReader socketReader
            ? socketReader.ReceiveDirectAsync(destination, cancellationToken)
            : Stream.ReadAsync(destination, cancellationToken);
}
