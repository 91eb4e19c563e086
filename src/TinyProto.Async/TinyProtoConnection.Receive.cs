using System.Buffers;
using System.IO.Pipelines;
using TinyProto.Async.Buffers;
using TinyProto.Async.Framing;

namespace TinyProto.Async;

public partial class TinyProtoConnection
{
    // Receive-loop state; touched only by the receive loop.
    private ReceiveState _receiveState;
    private long _payloadRemaining;
    private long _payloadLength;
    private PooledBuffer? _payloadBody;
    private InboundMessage? _payloadStream;
    private bool _streamConsumerGone;
    private MessagePool _messagePool = null!; // made by the handshake, from the options' BufferPool

    private enum ReceiveState
    {
        Boundary,
        HeldBoundary, // server, lock-step: a header's answer is held until our own exchange is done (rule 5)
        Payload,
    }

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
                            throw _refusal!;
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

    private TinyProtoException? _refusal;
    private uint _waitingHeaderSize;

    /// <summary>Parses as far as it can without awaiting; returns what the loop must do next.</summary>
    private ReceiveStep Parse(ref ReadOnlySequence<byte> buffer)
    {
        while (true)
        {
            if (_receiveState == ReceiveState.Payload)
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
                    if (!TakeStatus(status))
                    {
                        RefuseUnexpected(status, buffer);
                        return ReceiveStep.Refuse;
                    }

                    if (_receiveState == ReceiveState.HeldBoundary)
                    {
                        // Our own exchange is answered; the held header's payload comes once our transmitter releases the answer.
                        _receiveState = ReceiveState.Payload;
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

    /// <summary>Hands a status to the oldest own message awaiting one; false if none awaits.</summary>
    private bool TakeStatus(byte status)
    {
        StatusWaiter? waiter;
        lock (_gate)
        {
            if (!_awaitingStatus.TryPeek(out waiter))
            {
                return false;
            }

            _lastStatusAt = System.Diagnostics.Stopwatch.GetTimestamp();
            if (!waiter.Take(status))
            {
                // More statuses of the same pipelined batch are still to come.
                return true;
            }

            _awaitingStatus.Dequeue();
            if (!IsPipelined && status == Signal.Ok)
            {
                // Rule 5: the payload goes out as soon as its OK is read, so no answer may overtake it.
                _payloadDue = true;
            }

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

    /// <summary>
    /// A byte 0xF1..0xFF at a boundary while none of our messages awaits a status is either a stray status or the
    /// first byte of a header above the protocol maximum (what a Python sender writes for an oversize message).
    /// Either way the answer is 0xFC and the connection closes (rules 2, 4 and 7).
    /// </summary>
    private void RefuseUnexpected(byte first, ReadOnlySequence<byte> rest)
    {
        lock (_gate)
        {
            _pendingStatuses.Enqueue(Signal.TooLarge);
        }

        if (rest.Length >= FrameCodec.HeaderLength - 1)
        {
            Span<byte> tail = stackalloc byte[FrameCodec.HeaderLength - 1];
            rest.Slice(0, tail.Length).CopyTo(tail);
            uint size = ((uint)first << 24) | ((uint)tail[0] << 16) | ((uint)tail[1] << 8) | tail[2];
            _refusal = new TinyProtoException(TinyProtoError.MessageTooLarge,
                $"The peer announced a message of {size} bytes (0x{size:X8}), above the protocol maximum of {FrameCodec.MaxMessageSize} bytes (0xF0FFFFFF); it was refused with 0xFC and the connection closed.");
        }
        else
        {
            _refusal = new TinyProtoException(TinyProtoError.ProtocolViolation,
                $"The peer sent {Signal.Describe(first)} at a message boundary while none of this end's messages awaited a status: a stray status, or a header above the protocol maximum. It was answered with 0xFC and the connection closed.");
        }
    }

    /// <summary>Answers, holds or refuses an incoming size header (rules 1, 2 and 5).</summary>
    private ReceiveStep TakeHeader(uint size)
    {
        if (_receiveState == ReceiveState.HeldBoundary)
        {
            throw new TinyProtoException(TinyProtoError.ProtocolViolation, $"The peer sent a second size header ({size} bytes) before the first one was answered.");
        }

        if (size > _options.MaxMessageSize)
        {
            lock (_gate)
            {
                _pendingStatuses.Enqueue(Signal.TooLarge);
            }

            string limit = _options.MaxMessageSize == TinyProtoConnectionOptions.ProtocolMaxMessageSize
                ? $"the protocol maximum of {FrameCodec.MaxMessageSize} bytes (0xF0FFFFFF)"
                : $"this end's limit of {_options.MaxMessageSize} bytes";
            _refusal = new TinyProtoException(TinyProtoError.MessageTooLarge, $"The peer announced a message of {size} bytes (0x{size:X8}), above {limit}; it was refused with 0xFC and the connection closed.");
            return ReceiveStep.Refuse;
        }

        bool hold;
        bool statusStillAwaited;
        lock (_gate)
        {
            if (OwnMessageInFlight && _inbox.Count > 0 && size <= _options.MaxBufferedMessageSize && _inboxBytes + size > _options.MaxReadAheadBytes)
            {
                throw new TinyProtoException(TinyProtoError.MessageTooLarge,
                    $"While waiting for the status of its own message, this end had to read past {_inbox.Count} message(s) ({_inboxBytes} bytes) that no hook or ReceiveAsync had taken yet; the next one ({size} bytes) would exceed MaxReadAheadBytes ({_options.MaxReadAheadBytes}).");
            }

            // A lock-step server holds its answer until its own payload is in the output (rule 5).
            hold = Role == TinyProtoRole.Server && !IsPipelined && _ownExchangeActive;
            statusStillAwaited = _awaitingStatus.Count > 0;
            if (hold)
            {
                _answerHeld = true;
            }
            else
            {
                _pendingStatuses.Enqueue(Signal.Ok);
            }
        }

        BeginPayload(size);
        if (hold)
        {
            // Until our status arrives the next unit is that status; after it, the held header's payload.
            _receiveState = statusStillAwaited ? ReceiveState.HeldBoundary : ReceiveState.Payload;
        }

        // The answer is queued; the loop sends it once this read is parsed (the payload cannot come before it).
        return ReceiveStep.Continue;
    }

    private void EndOfInput(long unparsed)
    {
        string? broken = _receiveState switch
        {
            ReceiveState.Payload => $"The peer closed the connection inside a payload, after {_payloadLength - _payloadRemaining} of {_payloadLength} bytes; the partial message was dropped.",
            ReceiveState.HeldBoundary => $"The peer closed the connection before the payload of its {_payloadLength}-byte message.",
            _ when unparsed > 0 => $"The peer closed the connection inside a size header, after {unparsed} of 4 bytes.",
            _ => null,
        };

        if (broken is not null)
        {
            throw new TinyProtoException(TinyProtoError.ProtocolViolation, broken);
        }

        Log.PeerClosed(_logger, Id);
    }

    private ValueTask SendStatusesIfAnyAsync()
    {
        lock (_gate)
        {
            if (_pendingStatuses.Count == 0)
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
