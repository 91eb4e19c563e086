using System.Buffers;
using System.IO.Pipelines;
using System.Runtime.CompilerServices;
using Microsoft.Extensions.Logging;
using TinyProto.Async.Buffers;
using TinyProto.Async.Protocol;
using TinyProto.Async.Transport;

namespace TinyProto.Async.Connection;

/// <summary>
/// The one loop that owns the transport's reader: it reads, parses units with <see cref="FrameCodec"/>, lets the
/// <see cref="Conversation"/> decide what each means, and carries the decisions out: answers go out through the
/// <see cref="Output"/>, statuses to <see cref="StatusWaits"/>, complete messages to the <see cref="Inbox"/>. It never
/// waits for a writer; before answering a header it waits for room in the inbox, unless one of our messages is in flight.
/// </summary>
/// <remarks>
/// Every field is the loop's own (<c>_payloadBody</c>, <c>_payloadStream</c>, <c>_streamConsumerGone</c>,
/// <c>_waitingHeaderSize</c>, <c>_messages</c>): only <see cref="RunAsync"/> touches them, and it alone calls
/// <see cref="PipeReader.AdvanceTo(SequencePosition, SequencePosition)"/>. <see cref="CancelStreamFlush"/> is the one
/// member for other threads.
/// </remarks>
internal sealed class ReceiveLoop
{
    /// <summary>Payloads from this size on are read straight into the message's buffer when the transport allows it.</summary>
    private const int DirectThreshold = 64 * 1024;

    private readonly PipeReader _input;
    private readonly StreamDuplexPipe? _direct;
    private readonly CancellationToken _directCancellation;
    private readonly object _gate;
    private readonly Conversation _conversation;
    private readonly Inbox _inbox;
    private readonly Output _output;
    private readonly StatusWaits _waits;
    private readonly Transmissions _transmissions;
    private readonly Deadline _deadline;
    private readonly ConnectionLifetime _lifetime;
    private readonly TinyProtoConnectionOptions _options;
    private readonly PluginChain _plugins;
    private readonly ILogger _logger;
    private readonly Guid _id;
    private readonly MessagePool _messages = new();

    private PooledBuffer? _payloadBody;
    private InboundMessage? _payloadStream;
    private bool _streamConsumerGone;
    private uint _waitingHeaderSize;

    public ReceiveLoop(ConnectionParts parts, PipeReader input, StreamDuplexPipe? direct, CancellationToken directCancellation)
    {
        _input = input;
        _direct = direct;
        _directCancellation = directCancellation;
        _gate = parts.Gate;
        _conversation = parts.Conversation;
        _inbox = parts.Inbox;
        _output = parts.Output;
        _waits = parts.Waits;
        _transmissions = parts.Transmissions;
        _deadline = parts.Deadline;
        _lifetime = parts.Lifetime;
        _options = parts.Options;
        _plugins = parts.Plugins;
        _logger = parts.Logger;
        _id = parts.Id;
    }

    /// <summary>What <see cref="Parse"/> needs the loop to do before it parses on.</summary>
    private enum Step
    {
        NeedMoreData,
        SendAnswers,
        WriteOwnPayload,
        WaitForRoom,
        StreamChunkWritten,
        Continue,
        Refuse,
    }

    /// <summary>
    /// Runs until the peer closes, the connection closes or an error ends it (recorded in the lifetime); then frees
    /// what the loop held and calls <paramref name="inputEnded"/>.
    /// </summary>
    public async Task RunAsync(Action inputEnded)
    {
        await Task.Yield();
        try
        {
            while (true)
            {
                ReadResult result = await _input.ReadAsync().ConfigureAwait(false);
                ReadOnlySequence<byte> buffer = result.Buffer;
                Step step;
                while ((step = Parse(ref buffer)) != Step.NeedMoreData)
                {
                    switch (step)
                    {
                        case Step.SendAnswers:
                            await _output.SendAnswersIfAnyAsync().ConfigureAwait(false);
                            break;
                        case Step.WriteOwnPayload:
                            await _transmissions.WriteOwnPayloadAsync().ConfigureAwait(false);
                            break;
                        case Step.Refuse:
                            await _output.SendAnswersAsync().ConfigureAwait(false);
                            _input.AdvanceTo(buffer.Start);
                            throw _conversation.Violation!;
                        case Step.WaitForRoom:
                            await _output.SendAnswersIfAnyAsync().ConfigureAwait(false);
                            await _inbox.WaitForRoomAsync(HasRoomForWaitingHeader).ConfigureAwait(false);
                            break;
                        case Step.StreamChunkWritten:
                            await _output.SendAnswersIfAnyAsync().ConfigureAwait(false);
                            await FlushStreamChunkAsync().ConfigureAwait(false);
                            break;
                    }

                    if (_lifetime.IsClosingNow())
                    {
                        _input.AdvanceTo(buffer.Start);
                        return;
                    }
                }

                _input.AdvanceTo(buffer.Start, buffer.End);

                // Answers to every header in this read go out together: one write per read, not per message.
                await _output.SendAnswersIfAnyAsync().ConfigureAwait(false);

                if (!result.IsCompleted && !result.IsCanceled && CanReadPayloadDirectly(buffer))
                {
                    await ReadPayloadDirectAsync().ConfigureAwait(false);
                    continue;
                }

                if (result.IsCanceled && _lifetime.IsClosingNow())
                {
                    return;
                }

                if (result.IsCompleted)
                {
                    EndOfInput(buffer.Length);
                    return;
                }
            }
        }
        catch (Exception ex)
        {
            if (!(ex is OperationCanceledException && _lifetime.IsClosingNow()))
            {
                Log.ConnectionFailed(_logger, _id, ex);
                _lifetime.Fail(ex is IOException or System.Net.Sockets.SocketException or ObjectDisposedException
                    ? new TinyProtoException(TinyProtoError.ConnectionClosed, $"The connection was lost: {ex.Message}", ex)
                    : ex);
            }
        }
        finally
        {
            AbortPayload();
            inputEnded();
        }
    }

    /// <summary>A loop blocked on a stream consumer that stopped reading must notice a close too; safe from any thread.</summary>
    public void CancelStreamFlush() => Volatile.Read(ref _payloadStream)?.StreamWriter.CancelPendingFlush();

    /// <summary>Parses as far as it can without awaiting; returns what the loop must do next.</summary>
    private Step Parse(ref ReadOnlySequence<byte> buffer)
    {
        while (true)
        {
            if (_conversation.Phase == IncomingPhase.Payload)
            {
                Step payloadStep = ReadPayload(ref buffer);
                if (payloadStep == Step.Continue)
                {
                    continue;
                }

                return payloadStep;
            }

            ReadOnlySequence<byte> atBoundary = buffer;
            switch (FrameCodec.TryReadBoundary(ref buffer, out byte status, out uint size))
            {
                case BoundaryUnit.Incomplete:
                    return Step.NeedMoreData;
                case BoundaryUnit.Status:
                    if (!_waits.TryTake(status, buffer, out StatusWaiter? completed))
                    {
                        return Step.Refuse;
                    }

                    if (completed is not null)
                    {
                        _transmissions.OnStatusTaken(completed, status);
                        if (_transmissions.HasOwnPayloadDue)
                        {
                            return Step.WriteOwnPayload;
                        }
                    }

                    continue;
                case BoundaryUnit.Header:
                    if (!HasRoom(size))
                    {
                        // Back-pressure: leave the header unread (and unanswered) until the inbox has room.
                        buffer = atBoundary;
                        _waitingHeaderSize = size;
                        return Step.WaitForRoom;
                    }

                    Step step = TakeHeader(size);
                    if (step != Step.Continue)
                    {
                        return step;
                    }

                    if (size == 0 && !_conversation.IsPipelined)
                    {
                        // An empty message is complete at once: answer it before a hook can start answering it back.
                        return Step.SendAnswers;
                    }

                    continue;
            }
        }
    }

    /// <summary>Whether a header of <paramref name="size"/> bytes may be answered now; the caller holds the gate.</summary>
    private bool HasRoomUnderGate(uint size) =>
        _inbox.HasRoom(size, mustReadOn: _lifetime.IsClosing || _conversation.OwnMessageInFlight);

    private bool HasRoom(uint size)
    {
        lock (_gate)
        {
            return HasRoomUnderGate(size);
        }
    }

    private bool HasRoomForWaitingHeader() => HasRoomUnderGate(_waitingHeaderSize);

    /// <summary>Answers, holds or refuses an incoming size header (rules 1, 2 and 5), then starts taking its payload.</summary>
    private Step TakeHeader(uint size)
    {
        HeaderOutcome outcome;
        lock (_gate)
        {
            outcome = _conversation.OnHeader(size);
            if (outcome is HeaderOutcome.Answered or HeaderOutcome.Held && _conversation.OwnMessageInFlight && _inbox.Count > 0 &&
                size <= _options.MaxBufferedMessageSize && _inbox.Bytes + size > _options.MaxReadAheadBytes)
            {
                throw new TinyProtoException(TinyProtoError.MessageTooLarge,
                    $"While waiting for the status of its own message, this end had to read past {_inbox.Count} message(s) ({_inbox.Bytes} bytes) that no hook or ReceiveAsync had taken yet; the next one ({size} bytes) would exceed MaxReadAheadBytes ({_options.MaxReadAheadBytes}).");
            }
        }

        switch (outcome)
        {
            case HeaderOutcome.Violation:
                throw _conversation.Violation!;
            case HeaderOutcome.Refused:
                return Step.Refuse;
        }

        // An answer owed is sent once this read is parsed (the payload cannot come before it).
        if (size > _options.MaxBufferedMessageSize)
        {
            _payloadStream = InboundMessage.Streamed(size);
            _streamConsumerGone = false;
            Deliver(_payloadStream);
        }
        else
        {
            _payloadBody = _messages.RentBuffer(size);
        }

        return Step.Continue;
    }

    private Step ReadPayload(ref ReadOnlySequence<byte> buffer)
    {
        long remaining = _conversation.IncomingRemaining;
        if (remaining == 0)
        {
            return CompletePayload();
        }

        if (buffer.IsEmpty)
        {
            return Step.NeedMoreData;
        }

        ReadOnlySequence<byte> chunk = buffer.Slice(0, Math.Min(buffer.Length, remaining));
        buffer = buffer.Slice(chunk.End);
        _conversation.OnPayload(chunk.Length);
        _deadline.PayloadReceived(chunk.Length);

        if (_payloadBody is not null)
        {
            _payloadBody.Append(chunk);
            return _conversation.IncomingRemaining == 0 ? CompletePayload() : Step.NeedMoreData;
        }

        if (!_streamConsumerGone)
        {
            foreach (ReadOnlyMemory<byte> memory in chunk)
            {
                _payloadStream!.StreamWriter.Write(memory.Span);
            }

            return Step.StreamChunkWritten;
        }

        return _conversation.IncomingRemaining == 0 ? CompletePayload() : Step.NeedMoreData;
    }

    private Step CompletePayload()
    {
        _conversation.CompleteMessage();
        if (_payloadStream is not null)
        {
            _payloadStream.StreamWriter.Complete();
            _payloadStream = null;
            return Step.Continue;
        }

        PooledBuffer body = _payloadBody!;
        _payloadBody = null;
        ReadOnlySequence<byte> message;
        try
        {
            message = _plugins.Receive(body.Sequence);
        }
        catch
        {
            body.Dispose();
            throw;
        }

        Deliver(_messages.RentMessage(body, message));
        return Step.Continue;
    }

    private void Deliver(InboundMessage message)
    {
        lock (_gate)
        {
            _inbox.Deliver(message);
        }
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

    /// <summary>
    /// Whether the rest of the payload being received can be read from the stream straight into the message's
    /// buffer: only when the pipe holds nothing unread (<paramref name="unread"/> is empty), since the transport is
    /// read only inside the reader's ReadAsync, and only for buffered payloads big enough for the saved copy to matter.
    /// Protocol-safe: nothing but payload bytes can come until the payload ends (rules 5 and 6).
    /// </summary>
    private bool CanReadPayloadDirectly(in ReadOnlySequence<byte> unread) =>
        _direct is not null && unread.IsEmpty && _conversation.Phase == IncomingPhase.Payload &&
        _payloadBody is not null && _conversation.IncomingRemaining >= DirectThreshold;

    /// <summary>Reads the rest of the current payload from the stream into its buffer, then completes the message.</summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    private async ValueTask ReadPayloadDirectAsync()
    {
        while (_conversation.IncomingRemaining > 0)
        {
            Memory<byte> memory = _payloadBody!.GetAppendMemory(_conversation.IncomingRemaining);
            int read;
            try
            {
                read = await _direct!.ReadDirectAsync(memory, _directCancellation).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is System.Net.Sockets.SocketException or ObjectDisposedException && _direct!.Input is SocketPipeReader)
            {
                // Reported as the socket reader reports its own receive failures (and as NetworkStream does).
                throw SocketPipeReader.ReceiveFailure(ex);
            }

            if (read == 0)
            {
                EndOfInput(0);
            }

            _payloadBody.Advance(read);
            _conversation.OnPayload(read);
            _deadline.PayloadReceived(read);
        }

        CompletePayload();
    }

    private void EndOfInput(long unparsed)
    {
        if (_conversation.OnEndOfInput(unparsed) is { } broken)
        {
            throw broken;
        }

        Log.PeerClosed(_logger, _id);
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
