using System.Buffers;
using System.IO.Pipelines;

namespace TinyProto.Async;

/// <summary>
/// A read-only, forward-only stream over one incoming message's payload, fed by the receive loop
/// through a small bounded pipe. <see cref="Length"/> is the message size; reading past it returns 0.
/// </summary>
internal sealed class IncomingMessageStream : Stream
{
    private readonly PipeReader _reader;
    private readonly long _length;
    private long _position;

    public IncomingMessageStream(PipeReader reader, long length)
    {
        _reader = reader;
        _length = length;
    }

    public override bool CanRead => true;

    public override bool CanSeek => false;

    public override bool CanWrite => false;

    public override long Length => _length;

    public override long Position
    {
        get => _position;
        set => throw new NotSupportedException("An incoming message can only be read forwards.");
    }

    public override int Read(byte[] buffer, int offset, int count) =>
        ReadAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (buffer.IsEmpty || _position == _length)
        {
            return 0;
        }

        while (true)
        {
            ReadResult result = await _reader.ReadAsync(cancellationToken).ConfigureAwait(false);
            ReadOnlySequence<byte> data = result.Buffer;
            if (!data.IsEmpty)
            {
                int n = (int)Math.Min(data.Length, buffer.Length);
                data.Slice(0, n).CopyTo(buffer.Span);
                _reader.AdvanceTo(data.GetPosition(n));
                _position += n;
                return n;
            }

            _reader.AdvanceTo(data.End);
            if (result.IsCompleted)
            {
                throw new TinyProtoException(TinyProtoError.ConnectionClosed, $"The connection ended after {_position} of the message's {_length} bytes.");
            }
        }
    }

    public override void Flush()
    {
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException("An incoming message can only be read forwards.");

    public override void SetLength(long value) => throw new NotSupportedException("An incoming message is read-only.");

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException("An incoming message is read-only.");

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _reader.Complete();
        }

        base.Dispose(disposing);
    }
}
