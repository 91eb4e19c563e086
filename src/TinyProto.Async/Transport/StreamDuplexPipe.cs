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
    public ValueTask<int> ReadDirectAsync(Memory<byte> destination, CancellationToken cancellationToken) => Input switch
    {
        SocketPipeReader socketReader => socketReader.ReceiveDirectAsync(destination, cancellationToken),
        BlockingSocketReader blockingReader => blockingReader.ReceiveDirectAsync(destination),
        _ => Stream.ReadAsync(destination, cancellationToken),
    };

    /// <summary>
    /// Writes <paramref name="data"/> past the writer, after everything it flushed; only by the holder of the output turn,
    /// after a flush. No cancellation: the transport could still be reading the caller's memory; a close closes it instead.
    /// </summary>
    [System.Runtime.CompilerServices.AsyncMethodBuilder(typeof(System.Runtime.CompilerServices.PoolingAsyncValueTaskMethodBuilder))]
    public async ValueTask WriteDirectAsync(ReadOnlyMemory<byte> data)
    {
        if (Output is BlockingSocketWriter blockingWriter)
        {
            await blockingWriter.WriteDirectAsync(data).ConfigureAwait(false);
        }
        else
        {
            await Stream.WriteAsync(data).ConfigureAwait(false);
        }
    }

    /// <summary>Whether the input fails with socket errors of its own (reported as <see cref="SocketPipeReader.ReceiveFailure"/> does).</summary>
    public bool ReadsSocket => Input is SocketPipeReader or BlockingSocketReader;
}
