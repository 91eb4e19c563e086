using System.Buffers;
using System.IO.Pipelines;
using System.Runtime.CompilerServices;
using TinyProto.Async.Buffers;
using TinyProto.Async.Protocol;
using TinyProto.Async.Transport;

namespace TinyProto.Async.Connection;

/// <summary>
/// The payload the receive loop is taking off the wire: buffered whole in pooled memory (delivered once complete), or,
/// above <see cref="TinyProtoConnectionOptions.MaxBufferedMessageSize"/>, streamed to its consumer while it arrives.
/// The <see cref="Conversation"/> counts the bytes; this type keeps them.
/// </summary>
/// <remarks>
/// It owns <c>_body</c>, <c>_stream</c>, <c>_consumerGone</c>, <c>_messages</c>, and <c>_size</c> and <c>_startedAt</c>
/// (what the message's measurement needs): only the receive loop touches them, except <see cref="CancelStreamFlush"/>,
/// which a close calls from any thread.
/// </remarks>
internal sealed class IncomingPayload
{
    /// <summary>Payloads from this size on are read straight into the message's buffer when the transport allows it.</summary>
    private const int DirectThreshold = 64 * 1024;

    private readonly Conversation _conversation;
    private readonly Deadline _deadline;
    private readonly PluginChain _plugins;
    private readonly Action<InboundMessage> _deliver;
    private readonly Action _streamEnded;
    private readonly long _maxBuffered;
    private readonly MessagePool _messages;
    private readonly Diagnostics.ConnectionMetrics _metrics;
    private PooledBuffer? _body;
    private InboundMessage? _stream;
    private bool _consumerGone;
    private uint _size;
    private long _startedAt;

    /// <summary>A payload keeper whose <paramref name="deliver"/> hands each message on (to the inbox); a streamed one as soon as its header was answered.</summary>
    public IncomingPayload(Conversation conversation, Deadline deadline, PluginChain plugins, TinyProtoConnectionOptions options, Diagnostics.ConnectionMetrics metrics, Action<InboundMessage> deliver, Action streamEnded)
    {
        _metrics = metrics;
        _streamEnded = streamEnded;
        _messages = new MessagePool(options.BufferPool);
        _maxBuffered = options.MaxBufferedMessageSize;
        _conversation = conversation;
        _deadline = deadline;
        _plugins = plugins;
        _deliver = deliver;
    }

    /// <summary>Whether a receive plugin threw: the connection ends with the plugin's own exception.</summary>
    public bool PluginFailed { get; private set; }

    /// <summary>What <see cref="Read"/> did with the bytes it was given.</summary>
    public enum Progress
    {
        /// <summary>Everything given was taken; the payload needs more.</summary>
        NeedMoreData,

        /// <summary>The message is complete and delivered: the next bytes are at a boundary.</summary>
        Completed,

        /// <summary>A chunk went to the stream's consumer: flush it (<see cref="FlushStreamChunkAsync"/>) before reading on.</summary>
        StreamChunkWritten,
    }

    /// <summary>Starts the payload of a header just answered or held, of <paramref name="size"/> bytes.</summary>
    public void Begin(uint size)
    {
        // A receive is timed from its header (when someone listens): the peer's whole transmission as this end sees it.
        _size = size;
        _startedAt = _metrics.Start();
        if (size > _maxBuffered)
        {
            _stream = InboundMessage.Streamed(size);
            _consumerGone = false;
            _deliver(_stream);
        }
        else
        {
            _body = _messages.RentBuffer(size);
        }
    }

    /// <summary>Starts the payload of a header declined while stopping (pipelined mode): its bytes are read and dropped.</summary>
    public void BeginDiscarded()
    {
        _body = null;
        _stream = null;
        _consumerGone = true;
    }

    /// <summary>Takes what it can of the payload from <paramref name="buffer"/>, slicing past it.</summary>
    public Progress Read(ref ReadOnlySequence<byte> buffer)
    {
        long remaining = _conversation.IncomingRemaining;
        if (remaining == 0)
        {
            Complete();
            return Progress.Completed;
        }

        if (buffer.IsEmpty)
        {
            return Progress.NeedMoreData;
        }

        ReadOnlySequence<byte> chunk = buffer.Slice(0, Math.Min(buffer.Length, remaining));
        buffer = buffer.Slice(chunk.End);
        _conversation.OnPayload(chunk.Length);
        _deadline.PayloadReceived(chunk.Length);

        if (_body is not null)
        {
            _body.Append(chunk);
        }
        else if (!_consumerGone)
        {
            foreach (ReadOnlyMemory<byte> memory in chunk)
            {
                _stream!.StreamWriter.Write(memory.Span);
            }

            return Progress.StreamChunkWritten;
        }

        if (_conversation.IncomingRemaining > 0)
        {
            return Progress.NeedMoreData;
        }

        Complete();
        return Progress.Completed;
    }

    /// <summary>Flushes a chunk to the stream's consumer, waiting while it does not read (bounded memory).</summary>
    public async ValueTask FlushStreamChunkAsync()
    {
        FlushResult flush = await _stream!.StreamWriter.FlushAsync().ConfigureAwait(false);
        if (flush.IsCanceled)
        {
            throw new OperationCanceledException("The connection is closing.");
        }

        if (flush.IsCompleted)
        {
            // The consumer stopped reading: skip the rest of the payload so the framing stays intact.
            _consumerGone = true;
        }

        if (_conversation.IncomingRemaining == 0)
        {
            _conversation.CompleteMessage();
            _metrics.Received(_size, _startedAt);
            await _stream.StreamWriter.CompleteAsync().ConfigureAwait(false);
            _stream = null;
            _streamEnded();
        }
    }

    /// <summary>
    /// Whether the rest of the payload can be read from <paramref name="direct"/> straight into the message's buffer:
    /// only when the pipe holds nothing unread (<paramref name="unread"/> is empty), since the transport is read only
    /// inside the reader's ReadAsync, and only for buffered payloads big enough for the saved copy to matter.
    /// Protocol-safe: nothing but payload bytes can come until the payload ends (rules 5 and 6).
    /// </summary>
    public bool CanReadDirectly(StreamDuplexPipe? direct, in ReadOnlySequence<byte> unread) =>
        direct is not null && unread.IsEmpty && _conversation.Phase == IncomingPhase.Payload &&
        _body is not null && _conversation.IncomingRemaining >= DirectThreshold;

    /// <summary>Reads the rest of the payload from the stream into its buffer, then completes the message.</summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    public async ValueTask ReadDirectAsync(StreamDuplexPipe direct, ReceiveWatch watch, Func<bool> isMidMessage, CancellationToken cancellationToken)
    {
        while (_conversation.IncomingRemaining > 0)
        {
            Memory<byte> memory = _body!.GetAppendMemory(_conversation.IncomingRemaining);
            int read;
            watch.BeginWait(isMidMessage());
            try
            {
                read = await direct.ReadDirectAsync(memory, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is System.Net.Sockets.SocketException or ObjectDisposedException && direct.ReadsSocket)
            {
                // Reported as the socket reader reports its own receive failures (and as NetworkStream does).
                throw SocketPipeReader.ReceiveFailure(ex);
            }
            finally
            {
                watch.EndWait();
            }

            if (read == 0)
            {
                throw _conversation.OnEndOfInput(0)!;
            }

            _body.Advance(read);
            _conversation.OnPayload(read);
            _deadline.PayloadReceived(read);
        }

        Complete();
    }

    /// <summary>A loop blocked on a stream consumer that stopped reading must notice a close too; safe from any thread.</summary>
    public void CancelStreamFlush() => Volatile.Read(ref _stream)?.StreamWriter.CancelPendingFlush();

    /// <summary>
    /// The loop ended (<paramref name="error"/>: what ended it, null for a close): a partial payload is dropped, never
    /// delivered (rule 7), and counted as cut short; its consumer learns why.
    /// </summary>
    public void Abort(Exception? error)
    {
        if (_body is not null || _stream is not null)
        {
            _metrics.ReceiveFailed(_startedAt, error);
        }

        _body?.Dispose();
        _body = null;
        if (_stream is not null)
        {
            _stream.StreamWriter.Complete(new TinyProtoException(TinyProtoError.ConnectionClosed,
                $"The connection ended after {_conversation.IncomingLength - _conversation.IncomingRemaining} of the message's {_conversation.IncomingLength} bytes."));
            _stream = null;
        }
    }

    private void Complete()
    {
        _conversation.CompleteMessage();
        if (_stream is not null)
        {
            _metrics.Received(_size, _startedAt);
            _stream.StreamWriter.Complete();
            _stream = null;
            _streamEnded();
            return;
        }

        if (_body is null)
        {
            // A declined payload, read and dropped (BeginDiscarded).
            return;
        }

        PooledBuffer body = _body;
        _body = null;
        _metrics.Received(_size, _startedAt);
        ReadOnlySequence<byte> message;
        try
        {
            message = _plugins.Receive(body.Sequence);
        }
        catch
        {
            body.Dispose();
            PluginFailed = true;
            throw;
        }

        _deliver(_messages.RentMessage(body, message));
    }
}
