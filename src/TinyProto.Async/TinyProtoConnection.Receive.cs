using System.Buffers;
using System.IO.Pipelines;
using TinyProto.Async.Buffers;
using TinyProto.Async.Protocol;

namespace TinyProto.Async;

public partial class TinyProtoConnection
{
    // The protocol state of rules 4-6 (see its remarks for who may touch what); set by the handshake.
    private Conversation _conversation = null!;

    // Receive-loop state; touched only by the receive loop.
    private PooledBuffer? _payloadBody;
    private InboundMessage? _payloadStream;
    private bool _streamConsumerGone;
    private readonly MessagePool _messagePool = new();

    /// <summary>What <see cref="Parse"/> needs the receive loop to do before it parses on.</summary>
    private enum ReceiveStep
    {
        NeedMoreData,
        SendStatuses,
        WriteOwnPayload,
        WaitForRoom,
        StreamChunkWritten,
        Continue,
        Refuse,
    }

    /// <summary>
    /// The one loop that owns the transport's reader: it parses units with <see cref="FrameCodec"/>, answers
    /// headers, hands statuses to waiting transmitters and complete messages to the inbox. It never waits for
    /// a writer; before answering a header it waits for room in the inbox, unless one of our own messages is in flight.
    /// </summary>
    private async Task ReceiveLoopAsync()
    {
        await Task.Yield();
        try
        {
            while (true)
            {
                ReadResult result = await _input.ReadAsync().ConfigureAwait(false);
                ReadOnlySequence<byte> buffer = result.Buffer;
                ReceiveStep step;
                while ((step = Parse(ref buffer)) != ReceiveStep.NeedMoreData)
                {
                    switch (step)
                    {
                        case ReceiveStep.SendStatuses:
                            await SendStatusesIfAnyAsync().ConfigureAwait(false);
                            break;
                        case ReceiveStep.WriteOwnPayload:
                            await WriteOwnPayloadAsync().ConfigureAwait(false);
                            break;
                        case ReceiveStep.Refuse:
                            await SendPendingStatusesAsync().ConfigureAwait(false);
                            _input.AdvanceTo(buffer.Start);
                            throw _conversation.Violation!;
                        case ReceiveStep.WaitForRoom:
                            await SendStatusesIfAnyAsync().ConfigureAwait(false);
                            await WaitForInboxRoomAsync(_waitingHeaderSize).ConfigureAwait(false);
                            break;
                        case ReceiveStep.StreamChunkWritten:
                            await SendStatusesIfAnyAsync().ConfigureAwait(false);
                            await FlushStreamChunkAsync().ConfigureAwait(false);
                            break;
                    }

                    if (IsClosing())
                    {
                        _input.AdvanceTo(buffer.Start);
                        return;
                    }
                }

                _input.AdvanceTo(buffer.Start, buffer.End);

                // Answers to every header in this read go out together: one write per read, not per message.
                await SendStatusesIfAnyAsync().ConfigureAwait(false);

                if (!result.IsCompleted && !result.IsCanceled && CanReadPayloadDirectly(buffer))
                {
                    await ReadPayloadDirectAsync().ConfigureAwait(false);
                    continue;
                }

                if (result.IsCanceled && IsClosing())
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
            if (!(ex is OperationCanceledException && IsClosing()))
            {
                Log.ConnectionFailed(_logger, Id, ex);
                Fail(ex is IOException or System.Net.Sockets.SocketException or ObjectDisposedException
                    ? new TinyProtoException(TinyProtoError.ConnectionClosed, $"The connection was lost: {ex.Message}", ex)
                    : ex);
            }
        }
        finally
        {
            AbortPayload();
            InputEnded();
        }
    }

    private uint _waitingHeaderSize;

    /// <summary>Parses as far as it can without awaiting; returns what the loop must do next.</summary>
    private ReceiveStep Parse(ref ReadOnlySequence<byte> buffer)
    {
        while (true)
        {
            if (_conversation.Phase == IncomingPhase.Payload)
            {
                ReceiveStep payloadStep = ReadPayload(ref buffer);
                if (payloadStep == ReceiveStep.Continue)
                {
                    continue;
                }

                return payloadStep;
            }

            ReadOnlySequence<byte> atBoundary = buffer;
            switch (FrameCodec.TryReadBoundary(ref buffer, out byte status, out uint size))
            {
                case BoundaryUnit.Incomplete:
                    return ReceiveStep.NeedMoreData;
                case BoundaryUnit.Status:
                    if (!TakeStatus(status, buffer))
                    {
                        return ReceiveStep.Refuse;
                    }

                    if (_ownPayloadDue is not null)
                    {
                        return ReceiveStep.WriteOwnPayload;
                    }

                    continue;
                case BoundaryUnit.Header:
                    if (MustWaitForRoom(size))
                    {
                        // Back-pressure: leave the header unread (and unanswered) until the inbox has room.
                        buffer = atBoundary;
                        _waitingHeaderSize = size;
                        return ReceiveStep.WaitForRoom;
                    }

                    ReceiveStep step = TakeHeader(size);
                    if (step != ReceiveStep.Continue)
                    {
                        return step;
                    }

                    if (size == 0 && !IsPipelined)
                    {
                        // An empty message is complete at once: answer it before a hook can start answering it back.
                        return ReceiveStep.SendStatuses;
                    }

                    continue;
            }
        }
    }

    /// <summary>
    /// Hands a status to the oldest own message awaiting one; false if none awaits (rule 4: a violation, answered with
    /// a refusal). A status for a message whose wait the close already ended is dropped.
    /// </summary>
    private bool TakeStatus(byte status, in ReadOnlySequence<byte> rest)
    {
        StatusWaiter? waiter;
        lock (_gate)
        {
            if (_conversation.OnStatus(status, rest) == StatusOutcome.Unexpected)
            {
                return false;
            }

            _deadline.StatusArrived();
            if (!_awaitingStatus.TryPeek(out waiter))
            {
                return true;
            }

            if (!waiter.Take(status))
            {
                // More statuses of the same pipelined batch are still to come.
                return true;
            }

            _awaitingStatus.Dequeue();
            SignalDrainedIfIdle();
        }

        if (waiter.Transmitter is not null)
        {
            // A buffered lock-step transmission: the receive loop writes its payload next (WriteOwnPayloadAsync).
            if (status == Signal.Ok)
            {
                _ownPayloadDue = waiter;
            }
            else
            {
                AbandonTransmission(waiter, Refused(status, waiter.Length));
            }

            return true;
        }

        // A lock-step OK runs the transmitter inline: it writes its payload from here, without a thread-pool hop,
        // and yields before its caller's code runs (TransmitCoreAsync).
        bool inline = !IsPipelined && status == Signal.Ok;
        t_deliveringStatus = inline ? this : null;
        try
        {
            waiter.TrySetResult(waiter.Refusal, inline);
        }
        finally
        {
            t_deliveringStatus = null;
        }

        return true;
    }

    /// <summary>Answers, holds or refuses an incoming size header (rules 1, 2 and 5), then starts taking its payload.</summary>
    private ReceiveStep TakeHeader(uint size)
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
                return ReceiveStep.Refuse;
        }

        // An answer owed is sent once this read is parsed (the payload cannot come before it).
        BeginPayload(size);
        return ReceiveStep.Continue;
    }

    private void EndOfInput(long unparsed)
    {
        if (_conversation.OnEndOfInput(unparsed) is { } broken)
        {
            throw broken;
        }

        Log.PeerClosed(_logger, Id);
    }

    private ValueTask SendStatusesIfAnyAsync()
    {
        lock (_gate)
        {
            if (!_conversation.HasAnswersToWrite)
            {
                return default;
            }
        }

        return SendPendingStatusesAsync();
    }

    private bool IsClosing()
    {
        lock (_gate)
        {
            return _closing;
        }
    }
}
