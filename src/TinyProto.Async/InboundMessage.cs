using System.Buffers;
using System.IO.Pipelines;
using TinyProto.Async.Buffers;

namespace TinyProto.Async;

/// <summary>
/// One received message on its way from the receive loop to a hook or a <c>ReceiveAsync</c> caller:
/// either buffered whole, or (above <see cref="TinyProtoConnectionOptions.MaxBufferedMessageSize"/>)
/// a stream fed by the receive loop while the payload arrives.
/// </summary>
internal sealed class InboundMessage : IDisposable
{
    private readonly Pipe? _streamPipe;
    private readonly MessagePool? _pool;
    private PooledBuffer? _body;
    private ReadOnlySequence<byte> _sequence;
    private Stream? _stream;
    private bool _disposed;

    private InboundMessage(long length, PooledBuffer? body, ReadOnlySequence<byte> sequence, Pipe? streamPipe, MessagePool? pool)
    {
        Length = length;
        _body = body;
        _sequence = sequence;
        _streamPipe = streamPipe;
        _pool = pool;
    }

    public long Length { get; private set; }

    public bool IsStreamed => _streamPipe is not null;

    /// <summary>The buffered body (after receive plugins); valid until <see cref="Dispose"/>.</summary>
    public ReadOnlySequence<byte> Sequence => _sequence;

    /// <summary>Where the receive loop writes a streamed payload.</summary>
    public PipeWriter StreamWriter => _streamPipe!.Writer;

    /// <summary>The streamed payload as the consumer reads it.</summary>
    public Stream Stream => _stream ??= new IncomingMessageStream(_streamPipe!.Reader, Length);

    public static InboundMessage Buffered(PooledBuffer body, ReadOnlySequence<byte> sequence, MessagePool? pool = null) =>
        new(sequence.Length, body, sequence, null, pool);

    /// <summary>Refills a pooled message object for a new buffered body.</summary>
    public void Reuse(PooledBuffer body, ReadOnlySequence<byte> sequence)
    {
        Length = sequence.Length;
        _body = body;
        _sequence = sequence;
        _disposed = false;
    }

    public static InboundMessage Streamed(long length)
    {
        // The pipe between the receive loop and the consumer bounds memory to about 1 MiB per message.
        var pipe = new Pipe(new PipeOptions(
            pauseWriterThreshold: 1024 * 1024,
            resumeWriterThreshold: 512 * 1024,
            minimumSegmentSize: 64 * 1024,
            useSynchronizationContext: false));
        return new InboundMessage(length, null, default, pipe, null);
    }

    /// <summary>Copies the whole message into <paramref name="destination"/>.</summary>
    public async ValueTask CopyToAsync(Stream destination, CancellationToken cancellationToken)
    {
        if (!IsStreamed)
        {
            foreach (ReadOnlyMemory<byte> memory in _sequence)
            {
                await destination.WriteAsync(memory, cancellationToken).ConfigureAwait(false);
            }

            return;
        }

        await Stream.CopyToAsync(destination, 256 * 1024, cancellationToken).ConfigureAwait(false);
        if (Stream.Position != Length)
        {
            throw new TinyProtoException(TinyProtoError.ConnectionClosed, $"The connection ended after {Stream.Position} of the message's {Length} bytes.");
        }
    }

    /// <summary>Returns the whole message as a new array.</summary>
    public async ValueTask<byte[]> ToArrayAsync(CancellationToken cancellationToken)
    {
        if (!IsStreamed)
        {
            return _sequence.ToArray();
        }

        byte[] array = GC.AllocateUninitializedArray<byte>(checked((int)Length));
        await Stream.ReadExactlyAsync(array, cancellationToken).ConfigureAwait(false);
        return array;
    }

    /// <summary>Returns the buffers; for a streamed message, tells the receive loop to skip what is left unread.</summary>
    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        _body?.Dispose();
        _streamPipe?.Reader.Complete();
        if (_pool is not null)
        {
            _body = null;
            _sequence = default;
            _pool.Return(this);
        }
    }
}
