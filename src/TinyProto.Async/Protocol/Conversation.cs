using System.Buffers;
using System.Diagnostics;

namespace TinyProto.Async.Protocol;

/// <summary>
/// The state of PROTOCOL.md rules 4 to 6 for one established connection: our own messages awaiting statuses, the
/// answers we owe or hold, whether our payload is due or was cut short, and where the incoming byte stream stands.
/// It consumes what was read (statuses, headers, payload byte counts, the end of input) and what this end did (began a
/// message, put its payload in the output), and returns decisions the connection carries out: answer now, hold the
/// answer, write our payload now, deliver the message, or end the connection because the peer broke a rule (<see cref="Violation"/>).
/// It does no I/O and knows nothing of tasks, threads or time.
/// </summary>
/// <remarks>
/// Who may touch it: the incoming side (<see cref="Phase"/>, <see cref="IncomingLength"/>, <see cref="IncomingRemaining"/>,
/// <see cref="OnPayload"/>, <see cref="CompleteMessage"/>, <see cref="OnEndOfInput"/>) is read and written by the one
/// loop that reads the transport, without a lock. Every other member is called under the connection's gate, which
/// that loop also takes for <see cref="OnStatus"/> and <see cref="OnHeader"/>.
/// </remarks>
internal sealed class Conversation
{
    private readonly bool _server;
    private readonly long _maxMessageSize;

    // The incoming side: written only by the loop that reads the transport.
    private IncomingPhase _phase;
    private long _incomingLength;
    private long _incomingRemaining;

    // Our own messages and the answers we owe: under the connection's gate.
    private int _awaitingStatuses;
    private OwnExchange _own;
    private int _answersOwed;
    private bool _answerHeld;
    private bool _declineHeld;
    private bool _refusalOwed;
    private int _declinesOwed;
    private bool _refusalWritten;
    private bool _cutShort;
    private TinyProtoException? _violation;

    /// <summary>Starts the conversation of a connection whose handshake just succeeded.</summary>
    /// <param name="role">This end's role: rule 5 lets only a server hold an answer.</param>
    /// <param name="pipelined">Whether the handshake negotiated pipelined mode (rule 6).</param>
    /// <param name="maxMessageSize">This end's size limit (rule 1), at most the protocol maximum.</param>
    public Conversation(TinyProtoRole role, bool pipelined, long maxMessageSize)
    {
        _server = role == TinyProtoRole.Server;
        IsPipelined = pipelined;
        _maxMessageSize = maxMessageSize;
    }

    /// <summary>Our lock-step exchange (rule 5): at most one own message between its header and its payload.</summary>
    private enum OwnExchange
    {
        None,
        AwaitingStatus,
        PayloadDue,
    }

    /// <summary>Whether the connection is in pipelined mode (rule 6); otherwise lock-step (rule 5).</summary>
    public bool IsPipelined { get; }

    /// <summary>Where the incoming byte stream stands: what the next bytes are.</summary>
    public IncomingPhase Phase => _phase;

    /// <summary>The size of the incoming message whose header was read last.</summary>
    public long IncomingLength => _incomingLength;

    /// <summary>How many payload bytes of the incoming message are still to come.</summary>
    public long IncomingRemaining => _incomingRemaining;

    /// <summary>How many of our own messages await a status.</summary>
    public int AwaitingStatuses => _awaitingStatuses;

    /// <summary>Whether one of our own messages awaits its status or (lock-step) its payload is not yet in the output.</summary>
    public bool OwnMessageInFlight => _own != OwnExchange.None || _awaitingStatuses > 0;

    /// <summary>Whether a new own message may begin: always in pipelined mode, in lock-step once the last exchange ended.</summary>
    public bool CanBeginOwnMessage => IsPipelined || _own == OwnExchange.None;

    /// <summary>Whether our lock-step payload is due: its OK came and it is not yet in the output; no answer may go first.</summary>
    public bool IsPayloadDue => _own == OwnExchange.PayloadDue;

    /// <summary>
    /// Whether answers may be written now: not while our lock-step payload is due (rule 5: nothing overtakes it), and
    /// never after a payload of ours was cut short (the peer would read them as the rest of that payload).
    /// </summary>
    public bool MayWriteAnswers => _own != OwnExchange.PayloadDue && !_cutShort && !_refusalWritten;

    /// <summary>Whether answers are owed and may be written now.</summary>
    public bool HasAnswersToWrite => MayWriteAnswers && (_answersOwed > 0 || _declinesOwed > 0 || _refusalOwed);

    /// <summary>How many OKs we owe the peer and have not written (held ones not counted).</summary>
    public int AnswersOwed => _answersOwed;

    /// <summary>Whether a server's answer (an OK, or a stop's decline) is held until our own payload is in the output (rule 5).</summary>
    public bool IsAnswerHeld => _answerHeld || _declineHeld;

    /// <summary>Why the peer's bytes end the connection, once a decision said so.</summary>
    public TinyProtoException? Violation => _violation;

    /// <summary>
    /// Registers <paramref name="count"/> own messages as awaiting statuses, before their headers go out. In lock-step
    /// mode only one at a time (<see cref="CanBeginOwnMessage"/>); the exchange lasts until <see cref="EndOwnExchange"/>.
    /// </summary>
    public void BeginOwnMessages(int count)
    {
        Debug.Assert(count > 0 && CanBeginOwnMessage && (IsPipelined || count == 1));
        if (!IsPipelined)
        {
            _own = OwnExchange.AwaitingStatus;
        }

        _awaitingStatuses += count;
    }

    /// <summary>
    /// Our lock-step exchange is over: its payload is in the output, or it was given up (refused, cancelled, timed out).
    /// A held answer is now owed, to go out right behind the payload (rule 5). Harmless when no exchange is active.
    /// </summary>
    public void EndOwnExchange()
    {
        _own = OwnExchange.None;
        if (_answerHeld)
        {
            _answerHeld = false;
            _answersOwed++;
        }

        if (_declineHeld)
        {
            _declineHeld = false;
            _declinesOwed++;
        }
    }

    /// <summary>
    /// The connection is ending and no status will come for our messages: none awaits one any more, and a lock-step
    /// exchange still waiting for its OK is over (a held answer becomes owed, as at <see cref="EndOwnExchange"/>).
    /// </summary>
    public void AbandonAwaitedStatuses()
    {
        _awaitingStatuses = 0;
        if (_own == OwnExchange.AwaitingStatus)
        {
            EndOwnExchange();
        }
    }

    /// <summary>A payload of ours ended before its announced length: nothing may follow it on the wire.</summary>
    public void CutShort() => _cutShort = true;

    /// <summary>
    /// A status byte (<c>0xF1</c>..<c>0xFF</c>) read at a message boundary (rule 4): the status of our oldest message
    /// awaiting one. With none awaiting it is a stray status, or the first byte of a header above the protocol maximum
    /// (what a Python sender writes for an oversize message): a refusal is owed and <see cref="Violation"/> says why.
    /// </summary>
    /// <param name="status">The byte.</param>
    /// <param name="rest">What follows it in the buffer, to describe an oversize header when there is one.</param>
    public StatusOutcome OnStatus(byte status, in ReadOnlySequence<byte> rest)
    {
        if (_awaitingStatuses == 0)
        {
            _refusalOwed = true;
            _violation = UnexpectedStatus(status, rest);
            return StatusOutcome.Unexpected;
        }

        _awaitingStatuses--;
        if (_phase == IncomingPhase.HeldBoundary)
        {
            // Our status came: next is the payload of the header whose answer we hold.
            _phase = IncomingPhase.Payload;
        }

        if (IsPipelined)
        {
            return status == Signal.Ok ? StatusOutcome.Accepted : StatusOutcome.Refused;
        }

        if (status == Signal.Ok)
        {
            // Rule 5: the payload goes into the output as soon as its OK is read, before any answer.
            _own = OwnExchange.PayloadDue;
            return StatusOutcome.PayloadDue;
        }

        EndOwnExchange();
        return StatusOutcome.Refused;
    }

    /// <summary>
    /// An incoming size header (rules 1, 2 and 5): answered at once, held (a lock-step server with its own exchange
    /// active), refused as too large (a refusal is owed, then the connection closes), or a violation (a second header
    /// while the first one's answer is held and our status is still due).
    /// </summary>
    public HeaderOutcome OnHeader(uint size)
    {
        if (_phase == IncomingPhase.HeldBoundary || _declineHeld)
        {
            _violation = new TinyProtoException(TinyProtoError.ProtocolViolation,
                $"The peer sent a second size header ({size} bytes) before the first one was answered.");
            return HeaderOutcome.Violation;
        }

        if (size > _maxMessageSize)
        {
            _refusalOwed = true;
            string limit = _maxMessageSize == TinyProtoConnectionOptions.ProtocolMaxMessageSize
                ? $"the protocol maximum of {FrameCodec.MaxMessageSize} bytes (0xF0FFFFFF)"
                : $"this end's limit of {_maxMessageSize} bytes";
            _violation = new TinyProtoException(TinyProtoError.MessageTooLarge,
                $"The peer announced a message of {size} bytes (0x{size:X8}), above {limit}; it was refused with 0xFC and the connection closed.");
            return HeaderOutcome.Refused;
        }

        _incomingLength = size;
        _incomingRemaining = size;
        if (_server && !IsPipelined && _own != OwnExchange.None)
        {
            // Rule 5: a lock-step server answers once its own exchange is done. Until our status arrives the next unit
            // is that status; after it, this header's payload (which the peer sends only once we answer).
            _answerHeld = true;
            _phase = _awaitingStatuses > 0 ? IncomingPhase.HeldBoundary : IncomingPhase.Payload;
            return HeaderOutcome.Held;
        }

        _answersOwed++;
        _phase = IncomingPhase.Payload;
        return HeaderOutcome.Answered;
    }

    /// <summary>
    /// An incoming size header while this end stops (rule 8): declined with <c>0xFD</c>, after the OKs owed for earlier
    /// headers. In lock-step mode the sender writes no payload for a refused header (rule 5), so the next unit is again
    /// at a boundary; in pipelined mode its payload follows and is read (and dropped). Either way statuses for our own
    /// messages keep coming, and the connection goes on until it closes. A lock-step server with its own exchange active
    /// holds the decline as it holds an OK (rule 5): the client answered our header at once and reads our payload next,
    /// so the decline goes out right behind it, never before it.
    /// </summary>
    public HeaderOutcome OnHeaderWhileStopping(uint size)
    {
        if (_phase == IncomingPhase.HeldBoundary || _declineHeld || size > _maxMessageSize)
        {
            return OnHeader(size);
        }

        if (_server && !IsPipelined && _own != OwnExchange.None)
        {
            _declineHeld = true;
            return HeaderOutcome.Declined;
        }

        _declinesOwed++;
        if (IsPipelined)
        {
            // Rule 6: the payload follows unasked; it is read and dropped. Its status goes out in order with the others.
            _incomingLength = size;
            _incomingRemaining = size;
            _phase = IncomingPhase.Payload;
        }

        return HeaderOutcome.Declined;
    }

    /// <summary>Counts <paramref name="count"/> payload bytes of the incoming message as read.</summary>
    public void OnPayload(long count)
    {
        Debug.Assert(_phase == IncomingPhase.Payload && count <= _incomingRemaining);
        _incomingRemaining -= count;
    }

    /// <summary>The incoming message is complete (<see cref="IncomingRemaining"/> is zero): the next bytes are at a boundary.</summary>
    public void CompleteMessage()
    {
        Debug.Assert(_phase == IncomingPhase.Payload && _incomingRemaining == 0);
        _phase = IncomingPhase.Boundary;
    }

    /// <summary>
    /// The peer closed its side. At a boundary that is a clean end (null); inside a header, before a held header's
    /// payload, or inside a payload it broke the connection, and the partial message is never delivered (rule 7).
    /// </summary>
    /// <param name="unparsedBytes">Bytes read at a boundary that did not make a whole unit (part of a header).</param>
    /// <param name="unparsed">Those bytes in hex (at most 3), shown in the error.</param>
    public TinyProtoException? OnEndOfInput(long unparsedBytes, string? unparsed = null)
    {
        string? broken = _phase switch
        {
            IncomingPhase.Payload => $"The peer closed the connection inside a payload, after {_incomingLength - _incomingRemaining} of {_incomingLength} bytes; the partial message was dropped.",
            IncomingPhase.HeldBoundary => $"The peer closed the connection before the payload of its {_incomingLength}-byte message.",
            _ when unparsedBytes > 0 => $"The peer closed the connection inside a size header, after {unparsedBytes} of 4 bytes{(unparsed is null ? "" : $" ({unparsed})")}.",
            _ => null,
        };

        return broken is null ? null : new TinyProtoException(TinyProtoError.ProtocolViolation, broken);
    }

    /// <summary>
    /// Writes the answers owed, if they may go now (<see cref="MayWriteAnswers"/>): the OKs in the order of their
    /// headers, then the declines of a stop (rule 8), then a refusal if one is owed, which is the last byte this end ever writes. Returns how many bytes it wrote.
    /// </summary>
    public int WriteAnswers(IBufferWriter<byte> output)
    {
        if (!MayWriteAnswers)
        {
            return 0;
        }

        int count = _answersOwed + _declinesOwed + (_refusalOwed ? 1 : 0);
        if (count == 0)
        {
            return 0;
        }

        Span<byte> span = output.GetSpan(count)[..count];
        span[.._answersOwed].Fill(Signal.Ok);
        span.Slice(_answersOwed, _declinesOwed).Fill(Signal.Stopping);
        _declinesOwed = 0;
        if (_refusalOwed)
        {
            span[^1] = Signal.TooLarge;
            _refusalOwed = false;
            _refusalWritten = true;
        }

        output.Advance(count);
        _answersOwed = 0;
        return count;
    }

    /// <summary>A copy of this state, for exploring what would follow from it (the model check does).</summary>
    public Conversation Clone() => (Conversation)MemberwiseClone();

    /// <summary>The whole state in one line, for logs and for telling states apart.</summary>
    public override string ToString() =>
        $"{(_server ? "server" : "client")} {(IsPipelined ? "pipelined" : "lock-step")} in={_phase}:{_incomingRemaining}/{_incomingLength} " +
        $"own={_own} awaiting={_awaitingStatuses} owed={_answersOwed} declined={_declinesOwed} held={_answerHeld} declineHeld={_declineHeld} refusal={(_refusalWritten ? "written" : _refusalOwed ? "owed" : "none")} cut={_cutShort}";

    private static TinyProtoException UnexpectedStatus(byte first, in ReadOnlySequence<byte> rest)
    {
        if (rest.Length >= FrameCodec.HeaderLength - 1)
        {
            Span<byte> tail = stackalloc byte[FrameCodec.HeaderLength - 1];
            rest.Slice(0, tail.Length).CopyTo(tail);
            uint size = ((uint)first << 24) | ((uint)tail[0] << 16) | ((uint)tail[1] << 8) | tail[2];
            return new TinyProtoException(TinyProtoError.MessageTooLarge,
                $"The peer announced a message of {size} bytes (0x{size:X8}), above the protocol maximum of {FrameCodec.MaxMessageSize} bytes (0xF0FFFFFF); it was refused with 0xFC and the connection closed.");
        }

        return new TinyProtoException(TinyProtoError.ProtocolViolation,
            $"The peer sent {Signal.Describe(first)} at a message boundary while none of this end's messages awaited a status: a stray status, or a header above the protocol maximum. It was answered with 0xFC and the connection closed.");
    }
}
