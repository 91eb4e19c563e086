using System.Buffers;
using System.Threading.Tasks.Sources;
using TinyProto.Async.Protocol;

namespace TinyProto.Async;

/// <summary>
/// What a transmission awaits: the peer's status for one message, or for each of a batch of pipelined
/// messages. Reusable, so awaiting a status allocates nothing.
/// </summary>
/// <remarks>
/// <para>Completed exactly once per use, by whichever comes first: the receive loop with the status, the connection's
/// status timer with a timeout, a cancellation, or the connection's end. An OK in lock-step mode may run the
/// awaiting transmitter inline on the receive loop (it only writes its payload there, then yields), which saves
/// a thread-pool hop on every exchange; every other completion runs its continuation asynchronously (on a dedicated reader
/// thread, held back and run there once the arrival is parsed: <see cref="Transport.ReaderThread"/>).</para>
/// <para>A buffered lock-step transmission (<c>Connection/LockStepTransmissions.cs</c>) is this waiter and nothing
/// else: the caller awaits it as a plain <see cref="ValueTask"/>, the receive loop writes <see cref="Body"/> when the OK
/// comes and then completes it, and no state machine runs in between.</para>
/// </remarks>
internal sealed class StatusWaiter : ReusableSource<byte>, IValueTaskSource
{
    /// <summary>What the caller's <c>GetResult</c> records, for a measured buffered lock-step transmission; null otherwise.</summary>
    public Diagnostics.SendMeasurement? Measurement { get; set; }

    /// <summary>When the wait started (a timestamp of the connection's clock), for the status timeout.</summary>
    public long StartedAt { get; private set; }

    /// <summary>The message size (of a single message), for error messages.</summary>
    public long Length { get; private set; }

    /// <summary>Statuses still expected; guarded by the connection's gate.</summary>
    public int Remaining { get; private set; }

    /// <summary>The batch size this waiter was armed for.</summary>
    public int Count { get; private set; }

    /// <summary>The first refusal in the batch (<see cref="Signal.Ok"/> while there is none).</summary>
    public byte Refusal { get; private set; }

    /// <summary>Which message of the batch the first refusal answered.</summary>
    public int RefusedIndex { get; private set; }

    /// <summary>Prepares the waiter for a new wait on <paramref name="count"/> statuses.</summary>
    public void Arm(int count, long length, long startedAt)
    {
        Transmitter = null;
        Body = default;
        _payloadWrite = PayloadNotWriting;
        CancelledWhileWriting = default;
        Length = length;
        Reset();
        Count = Remaining = count;
        Refusal = Signal.Ok;
        RefusedIndex = -1;
        StartedAt = startedAt;
    }

    /// <summary>For a buffered lock-step transmission: the connection that sent the header, which owns the rest of the exchange.</summary>
    public Connection.LockStepTransmissions? Transmitter { get; private set; }

    /// <summary>For a buffered lock-step transmission: the payload the receive loop writes once the OK comes.</summary>
    public ReadOnlySequence<byte> Body { get; set; }

    /// <summary>For a buffered lock-step transmission: the caller's cancellation, disposed when the caller takes the result.</summary>
    public CancellationTokenRegistration Registration { get; set; }

    private int _payloadWrite;

    /// <summary>
    /// For a buffered lock-step transmission: the receive loop begins to write its payload (marked before the claim, so
    /// that a cancellation that finds the waiter claimed knows the payload is under way).
    /// </summary>
    public void BeginPayloadWrite() => Volatile.Write(ref _payloadWrite, PayloadWriting);

    /// <summary>
    /// For a buffered lock-step transmission: a cancellation takes the payload under way (true), and must cut the
    /// connection; false when no payload is being written, or its write already ended (the cancellation came too late).
    /// Either the cancellation cuts the write or the write ends first, never both.
    /// </summary>
    public bool TryCutPayload(CancellationToken token)
    {
        CancelledWhileWriting = token;
        return Interlocked.CompareExchange(ref _payloadWrite, PayloadCut, PayloadWriting) == PayloadWriting;
    }

    /// <summary>For a buffered lock-step transmission: its payload's write ended; true when a cancellation had cut it (<see cref="CancelledWhileWriting"/>).</summary>
    public bool EndPayloadWrite() => Interlocked.Exchange(ref _payloadWrite, PayloadNotWriting) == PayloadCut;

    private const int PayloadNotWriting = 0;
    private const int PayloadWriting = 1;
    private const int PayloadCut = 2;

    /// <summary>For a buffered lock-step transmission: the caller's token, once it was cancelled while the payload was written.</summary>
    public CancellationToken CancelledWhileWriting { get; private set; }

    /// <summary>Turns this wait into a buffered lock-step transmission of <paramref name="body"/>.</summary>
    public void BeginTransmission(Connection.LockStepTransmissions transmitter, ReadOnlySequence<byte> body)
    {
        Transmitter = transmitter;
        Body = body;
    }

    /// <summary>Ends the wait with <paramref name="error"/> unless it has ended; a transmission also gives up its exchange.</summary>
    public void Fail(Exception error)
    {
        if (Transmitter is { } transmitter)
        {
            transmitter.Abandon(this, error);
        }
        else
        {
            TrySetException(error);
        }
    }

    /// <summary>The caller of a buffered lock-step transmission takes its outcome; on success the waiter goes back to the pool.</summary>
    void IValueTaskSource.GetResult(short token)
    {
        Registration.Dispose();
        Registration = default;
        Connection.LockStepTransmissions transmitter = Transmitter!;
        Diagnostics.SendMeasurement? measurement = Measurement;
        Measurement = null;
        try
        {
            GetResult(token);
        }
        catch (Exception ex) when (measurement is { } failed)
        {
            failed.Failed(ex);
            throw;
        }

        measurement?.Succeeded();
        transmitter.ReturnWaiter(this);
    }

    /// <summary>Counts one status; true once the last expected one has arrived. The caller holds the connection's gate.</summary>
    public bool Take(byte status)
    {
        if (status != Signal.Ok && Refusal == Signal.Ok)
        {
            Refusal = status;
            RefusedIndex = Count - Remaining;
        }

        return --Remaining == 0;
    }
}
