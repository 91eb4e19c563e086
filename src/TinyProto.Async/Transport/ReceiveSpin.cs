using System.Diagnostics;
using System.Net.Sockets;

namespace TinyProto.Async.Transport;

/// <summary>
/// How long a reader thread looks for data before it blocks: a lock-step peer often answers within tens of
/// microseconds, and catching the answer awake saves the thread's wake-up, which on some hosts costs more than the
/// whole exchange. It looks with <c>poll(2)</c> and yields the processor between looks, so a thread that waits for a
/// processor (the peer, on a busy machine) gets it. Adaptive: after a few looks in a row that found nothing it stops
/// looking for a while, so a quiet or slow peer costs no CPU; after a look during which the thread was preempted for
/// long (every processor busy) it stops for longer. Never on a single processor, and by at most half the processors'
/// worth of reader threads of the process at once (<c>s_spinning</c>, interlocked), so that many connections never
/// spin the machine away.
/// </summary>
/// <remarks>Owned by one reader thread; not thread-safe.</remarks>
internal struct ReceiveSpin
{
    private static readonly int s_maxSpinning = Environment.ProcessorCount / 2;
    private static readonly long s_window = Stopwatch.Frequency * 50 / 1_000_000;
    private static readonly long s_preempted = Stopwatch.Frequency * 120 / 1_000_000;
    private static int s_spinning;

    private const int MissesBeforeRest = 4;
    private const int RestingReceives = 64;
    private const int ContendedRest = 1024;

    private int _misses;
    private int _resting;

    /// <summary>Looks for data on <paramref name="socket"/> for up to 50 µs unless resting; returns at once when some is there.</summary>
    public void WaitBriefly(Socket socket)
    {
        if (_resting > 0)
        {
            _resting--;
            return;
        }

        if (Interlocked.Increment(ref s_spinning) > s_maxSpinning)
        {
            Interlocked.Decrement(ref s_spinning);
            return;
        }

        try
        {
            long last = Stopwatch.GetTimestamp();
            long deadline = last + s_window;
            while (true)
            {
                // poll(2) with no timeout reads the socket's state without its lock (FIONREAD would take it, and
                // contend with the peer's delivery into the socket); true for data, the end or an error.
                if (socket.Poll(0, SelectMode.SelectRead))
                {
                    _misses = 0;
                    return;
                }

                long now = Stopwatch.GetTimestamp();
                if (now - last > s_preempted)
                {
                    // The scheduler took the processor away in the middle of a look: another thread wanted it, so
                    // every processor is busy and looking only delays whoever runs next, the peer perhaps.
                    _misses = 0;
                    _resting = ContendedRest;
                    return;
                }

                if (now >= deadline)
                {
                    break;
                }

                // Hands the processor over if another thread waits for it (the peer, on a busy machine); else no-op.
                Thread.Yield();
                last = Stopwatch.GetTimestamp();
            }
        }
        finally
        {
            Interlocked.Decrement(ref s_spinning);
        }

        if (++_misses >= MissesBeforeRest)
        {
            _misses = 0;
            _resting = RestingReceives;
        }
    }
}
