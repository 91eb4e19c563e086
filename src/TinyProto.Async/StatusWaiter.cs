using TinyProto.Async.Framing;

namespace TinyProto.Async;

/// <summary>
/// What a transmission awaits: the peer's status for one message, or for each of a batch of pipelined
/// messages. Reusable, so awaiting a status allocates nothing.
/// </summary>
/// <remarks>
/// Completed exactly once per use, by whichever comes first: the receive loop with the status, the connection's
/// status timer with a timeout, a cancellation, or the connection's end. An OK in lock-step mode may run the
/// awaiting transmitter inline on the receive loop (it only writes its payload there, then yields), which saves
/// a thread-pool hop on every exchange; every other completion runs its continuation asynchronously.
/// </remarks>
internal sealed class StatusWaiter : ReusableSource<byte>
{
    /// <summary>When the wait started (<see cref="System.Diagnostics.Stopwatch"/> ticks), for the status timeout.</summary>
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
    public void Arm(int count, long length)
    {
        Length = length;
        Reset();
        Count = Remaining = count;
        Refusal = Signal.Ok;
        RefusedIndex = -1;
        StartedAt = System.Diagnostics.Stopwatch.GetTimestamp();
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
