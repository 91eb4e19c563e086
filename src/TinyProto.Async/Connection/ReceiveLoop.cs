using System.Buffers;
using System.IO.Pipelines;
using Microsoft.Extensions.Logging;
using TinyProto.Async.Protocol;
using TinyProto.Async.Transport;

namespace TinyProto.Async.Connection;

/// <summary>
/// The one loop that owns the transport's reader: it reads, parses units with <see cref="FrameCodec"/>, lets the
/// <see cref="Conversation"/> decide what each means, and carries the decisions out: answers go out through the
/// <see cref="Output"/>, statuses to <see cref="StatusWaits"/>, complete messages to the <see cref="Inbox"/>. It never
/// waits for a writer, not even for our own payload; before answering a header it waits for room in the inbox, unless one
/// of our messages is in flight.
/// </summary>
/// <remarks>
/// Its mutable field <c>_waitingHeaderSize</c>, its <see cref="OwnPayloadWrites"/> and the <see cref="IncomingPayload"/>
/// are the loop's own: only
/// <see cref="RunAsync"/> touches them, and it alone calls
/// <see cref="PipeReader.AdvanceTo(SequencePosition, SequencePosition)"/>. <see cref="CancelStreamFlush"/> is the one
/// member for other threads.
/// </remarks>
internal sealed class ReceiveLoop
{
    private readonly PipeReader _input;
    private readonly StreamDuplexPipe? _direct;
    private readonly CancellationToken _directCancellation;
    private readonly object _gate;
    private readonly Conversation _conversation;
    private readonly Inbox _inbox;
    private readonly Output _output;
    private readonly StatusWaits _waits;
    private readonly LockStepTransmissions _lockStep;
    private readonly ConnectionLifetime _lifetime;
    private readonly ILogger _logger;
    private readonly Guid _id;
    private readonly IncomingPayload _payload;
    private readonly Func<bool> _hasRoomForWaitingHeader;
    private readonly long _maxBufferedMessageSize;
    private readonly long _maxReadAheadBytes;
    private readonly OwnPayloadWrites _ownPayloads = new();
    private uint _waitingHeaderSize;
    private readonly ReceiveWatch _watch;
    private readonly Func<bool> _isMidMessage;

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
        _lockStep = parts.LockStep;
        _lifetime = parts.Lifetime;
        _logger = parts.Logger;
        _id = parts.Id;
        _maxBufferedMessageSize = parts.Options.MaxBufferedMessageSize;
        _maxReadAheadBytes = parts.Options.MaxReadAheadBytes;
        _hasRoomForWaitingHeader = HasRoomForWaitingHeader;
        _isMidMessage = () => IsMidMessage(0);
        _watch = new ReceiveWatch(parts.Deadline, parts.Options.TimeProvider, parts.Options.IdleTimeout, parts.Options.MinReceiveBytesPerSecond, parts.AbortWrites);
        _payload = new IncomingPayload(_conversation, parts.Deadline, parts.Plugins, parts.Options, parts.Metrics, Deliver, StreamedMessageEnded);
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
            long unparsed = 0;
            while (true)
            {
                _watch.BeginWait(IsMidMessage(unparsed));
                ReadResult result;
                try
                {
                    result = await _input.ReadAsync().ConfigureAwait(false);
                }
                finally
                {
                    _watch.EndWait();
                }

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
                            _ownPayloads.Add(_lockStep.WriteOwnPayloadAsync());
                            break;
                        case Step.Refuse:
                            await _output.SendAnswersAsync().ConfigureAwait(false);
                            _input.AdvanceTo(buffer.Start);
                            throw _conversation.Violation!;
                        case Step.WaitForRoom:
                            await _output.SendAnswersIfAnyAsync().ConfigureAwait(false);
                            await _inbox.WaitForRoomAsync(_hasRoomForWaitingHeader).ConfigureAwait(false);
                            break;
                        case Step.StreamChunkWritten:
                            await _output.SendAnswersIfAnyAsync().ConfigureAwait(false);
                            await _payload.FlushStreamChunkAsync().ConfigureAwait(false);
                            break;
                    }

                    if (_lifetime.IsClosingNow())
                    {
                        _input.AdvanceTo(buffer.Start);
                        return;
                    }
                }

                // The start of a header cut off by the end of input, for its error (the buffer is the pipe's once advanced).
                string? cutOff = result.IsCompleted && !buffer.IsEmpty ? Convert.ToHexString(buffer.Slice(0, Math.Min(buffer.Length, 3)).ToArray()) : null;
                _input.AdvanceTo(buffer.Start, buffer.End);
                unparsed = buffer.Length;

                // Answers to every header in this read go out together: one write per read, not per message.
                await _output.SendAnswersIfAnyAsync().ConfigureAwait(false);

                if (!result.IsCompleted && !result.IsCanceled && _payload.CanReadDirectly(_direct, buffer))
                {
                    await _payload.ReadDirectAsync(_direct!, _watch, _isMidMessage, _directCancellation).ConfigureAwait(false);
                    unparsed = 0;
                    continue;
                }

                if (result.IsCanceled && _lifetime.IsClosingNow())
                {
                    return;
                }

                if (result.IsCompleted)
                {
                    EndOfInput(unparsed, cutOff);
                    return;
                }
            }
        }
        catch (Exception ex)
        {
            if (!(ex is OperationCanceledException && _lifetime.IsClosingNow()))
            {
                Log.ConnectionFailed(_logger, _id, ex);

                // A receive plugin's error is the connection's end as it is; anything else here came from the transport.
                _lifetime.Fail(_payload.PluginFailed ? ex : ConnectionLifetime.Lost(ex));
            }
        }
        finally
        {
            _watch.Stop();
            Exception? failure;
            lock (_gate)
            {
                // What ended the connection first (a timeout that cut the transport, say), not what the read threw after it.
                failure = _lifetime.Failure;
            }

            _payload.Abort(failure);
            inputEnded();

            await _ownPayloads.AllEnded.ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Whether the loop now waits for the rest of a message the peer is sending: a header begun (<paramref name="unparsed"/>
    /// bytes at a boundary), or a payload we answered. Not while our answer is still owed or held (the peer waits for it).
    /// </summary>
    private bool IsMidMessage(long unparsed) => _conversation.Phase switch
    {
        IncomingPhase.Boundary => unparsed > 0,
        IncomingPhase.Payload => _conversation.AnswersOwed == 0 && !_conversation.IsAnswerHeld,
        _ => false,
    };

    /// <summary>A loop blocked on a stream consumer that stopped reading must notice a close too; safe from any thread.</summary>
    public void CancelStreamFlush() => _payload.CancelStreamFlush();

    /// <summary>Parses as far as it can without awaiting; returns what the loop must do next.</summary>
    private Step Parse(ref ReadOnlySequence<byte> buffer)
    {
        while (true)
        {
            if (_conversation.Phase == IncomingPhase.Payload)
            {
                switch (_payload.Read(ref buffer))
                {
                    case IncomingPayload.Progress.NeedMoreData:
                        return Step.NeedMoreData;
                    case IncomingPayload.Progress.StreamChunkWritten:
                        return Step.StreamChunkWritten;
                }

                continue;
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

                    if (completed is null)
                    {
                        continue;
                    }

                    if (_conversation.IsPipelined)
                    {
                        completed.TrySetResult(completed.Refusal);
                        continue;
                    }

                    _lockStep.OnStatusTaken(completed, status);
                    if (_lockStep.HasOwnPayloadDue)
                    {
                        return Step.WriteOwnPayload;
                    }

                    continue;
                case BoundaryUnit.Header:
                    Step step = TakeHeader(size);
                    if (step == Step.WaitForRoom)
                    {
                        // Back-pressure, or a stop: leave the header unread (and unanswered) until the inbox has room.
                        buffer = atBoundary;
                        _waitingHeaderSize = size;
                        return Step.WaitForRoom;
                    }

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

    /// <summary>
    /// Whether the header the loop holds back may be parsed again: room came, the connection closes (the loop then
    /// ends), or a stop began (the header is then declined, rule 8).
    /// </summary>
    private bool HasRoomForWaitingHeader() => _lifetime.IsClosing || _lifetime.Stopping || HasRoomUnderGate(_waitingHeaderSize);

    /// <summary>Answers, holds or refuses an incoming size header (rules 1, 2 and 5), then starts taking its payload.</summary>
    private Step TakeHeader(uint size)
    {
        HeaderOutcome outcome;
        lock (_gate)
        {
            // Decided with the answer under one lock: a stop that begins meanwhile cannot close past an answered header.
            if (_lifetime.Stopping)
            {
                // Rule 8: declined with 0xFD, so reading goes on (our own statuses may be next). In lock-step mode no
                // payload follows; in pipelined mode the one that follows is read and dropped.
                outcome = _conversation.OnHeaderWhileStopping(size);
                if (outcome == HeaderOutcome.Declined)
                {
                    if (_conversation.IsPipelined)
                    {
                        _payload.BeginDiscarded();
                        return Step.Continue;
                    }

                    return Step.SendAnswers;
                }
            }
            else if (!HasRoomUnderGate(size))
            {
                return Step.WaitForRoom;
            }
            else
            {
                outcome = _conversation.OnHeader(size);
            }

            _inbox.Arriving = outcome is HeaderOutcome.Answered or HeaderOutcome.Held;
            _watch.MessageBegan();
            if (outcome is HeaderOutcome.Answered or HeaderOutcome.Held && _conversation.OwnMessageInFlight && _inbox.Count > 0 &&
                size <= _maxBufferedMessageSize && _inbox.Bytes + size > _maxReadAheadBytes)
            {
                throw new TinyProtoException(TinyProtoError.MessageTooLarge,
                    $"While waiting for the status of its own message, this end had to read past {_inbox.Count} message(s) ({_inbox.Bytes} bytes) that no hook or ReceiveAsync had taken yet; the next one ({size} bytes) would exceed MaxReadAheadBytes ({_maxReadAheadBytes}).");
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
        _payload.Begin(size);
        return Step.Continue;
    }

    private void Deliver(InboundMessage message)
    {
        lock (_gate)
        {
            // A message completed after the connection began to end is dropped: a receive may already have been told
            // that the connection ended, and none may then return a message (a local close drops what nobody took).
            if (_lifetime.IsClosing || _lifetime.ClosedByUser)
            {
                message.Dispose();
                return;
            }

            _inbox.Arriving = message.IsStreamed;
            _inbox.Deliver(message);
        }
    }

    /// <summary>The last byte of a streamed message arrived; a stop may end the connection now.</summary>
    private void StreamedMessageEnded()
    {
        lock (_gate)
        {
            _inbox.Arriving = false;
            _inbox.WakeHooks();
        }
    }

    private void EndOfInput(long unparsed, string? cutOff)
    {
        if (_conversation.OnEndOfInput(unparsed, cutOff) is { } broken)
        {
            throw broken;
        }

        Log.PeerClosed(_logger, _id);
    }
}
