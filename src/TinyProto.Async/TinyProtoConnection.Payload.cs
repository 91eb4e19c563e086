using System.Buffers;
using System.IO.Pipelines;
using TinyProto.Async.Buffers;
using TinyProto.Async.Protocol;

namespace TinyProto.Async;

public partial class TinyProtoConnection
{
    private void BeginPayload(uint size)
    {
        if (size > _options.MaxBufferedMessageSize)
        {
            _payloadStream = InboundMessage.Streamed(size);
            _streamConsumerGone = false;
            Deliver(_payloadStream);
        }
        else
        {
            _payloadBody = _messagePool.RentBuffer(size);
        }
    }

    private ReceiveStep ReadPayload(ref ReadOnlySequence<byte> buffer)
    {
        long remaining = _conversation.IncomingRemaining;
        if (remaining == 0)
        {
            return CompletePayload();
        }

        if (buffer.IsEmpty)
        {
            return ReceiveStep.NeedMoreData;
        }

        ReadOnlySequence<byte> chunk = buffer.Slice(0, Math.Min(buffer.Length, remaining));
        buffer = buffer.Slice(chunk.End);
        _conversation.OnPayload(chunk.Length);
        _deadline.PayloadReceived(chunk.Length);

        if (_payloadBody is not null)
        {
            _payloadBody.Append(chunk);
            return _conversation.IncomingRemaining == 0 ? CompletePayload() : ReceiveStep.NeedMoreData;
        }

        if (!_streamConsumerGone)
        {
            foreach (ReadOnlyMemory<byte> memory in chunk)
            {
                _payloadStream!.StreamWriter.Write(memory.Span);
            }

            return ReceiveStep.StreamChunkWritten;
        }

        return _conversation.IncomingRemaining == 0 ? CompletePayload() : ReceiveStep.NeedMoreData;
    }

    private ReceiveStep CompletePayload()
    {
        _conversation.CompleteMessage();
        if (_payloadStream is not null)
        {
            _payloadStream.StreamWriter.Complete();
            _payloadStream = null;
            return ReceiveStep.Continue;
        }

        PooledBuffer body = _payloadBody!;
        _payloadBody = null;
        ReadOnlySequence<byte> message;
        try
        {
            message = ApplyReceivePlugins(body.Sequence);
        }
        catch
        {
            body.Dispose();
            throw;
        }

        Deliver(_messagePool.RentMessage(body, message));
        return ReceiveStep.Continue;
    }

    private async ValueTask FlushStreamChunkAsync()
    {
        FlushResult flush = await _payloadStream!.StreamWriter.FlushAsync().ConfigureAwait(false);
        if (flush.IsCanceled)
        {
            throw new OperationCanceledException("The connection is closing.");
        }

        if (flush.IsCompleted)
        {
            // The consumer stopped reading: skip the rest of the payload so the framing stays intact.
            _streamConsumerGone = true;
        }

        if (_conversation.IncomingRemaining == 0)
        {
            _conversation.CompleteMessage();
            await _payloadStream.StreamWriter.CompleteAsync().ConfigureAwait(false);
            _payloadStream = null;
        }
    }

    private void AbortPayload()
    {
        _payloadBody?.Dispose();
        _payloadBody = null;
        if (_payloadStream is not null)
        {
            _payloadStream.StreamWriter.Complete(new TinyProtoException(TinyProtoError.ConnectionClosed,
                $"The connection ended after {_conversation.IncomingLength - _conversation.IncomingRemaining} of the message's {_conversation.IncomingLength} bytes."));
            _payloadStream = null;
        }
    }
}
