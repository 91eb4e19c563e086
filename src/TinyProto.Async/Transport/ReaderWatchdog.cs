namespace TinyProto.Async.Transport;

/// <summary>
/// Watches the reader threads of dedicated-thread connections for a continuation that keeps its thread longer than
/// <see cref="ReaderThread.StallLimit"/>, and has a new thread take over the reading (PROTOCOL.md rule 5: reading never
/// waits for a hook). It ticks only while some continuation runs on a reader thread: idle connections cost it nothing.
/// </summary>
/// <remarks>All state is static and guarded by <c>s_readers</c>, except <c>s_armed</c> (interlocked).</remarks>
internal static class ReaderWatchdog
{
    private static readonly TimeSpan Period = TimeSpan.FromMilliseconds(50);
    private static readonly List<ReaderThread> s_readers = [];
    private static readonly Timer s_timer = new(static _ => Tick(), null, Timeout.Infinite, Timeout.Infinite);
    private static int s_armed;

    public static void Add(ReaderThread reader)
    {
        lock (s_readers)
        {
            s_readers.Add(reader);
        }
    }

    public static void Remove(ReaderThread reader)
    {
        lock (s_readers)
        {
            s_readers.Remove(reader);
        }
    }

    /// <summary>Starts ticking if it does not; cheap when it does (one read).</summary>
    public static void Arm()
    {
        if (Volatile.Read(ref s_armed) == 0)
        {
            lock (s_readers)
            {
                if (Interlocked.Exchange(ref s_armed, 1) == 0)
                {
                    s_timer.Change(Period, Period);
                }
            }
        }
    }

    private static void Tick()
    {
        long now = Environment.TickCount64;
        long limit = (long)ReaderThread.StallLimit.TotalMilliseconds;
        bool anyBusy = false;
        List<(ReaderThread Reader, long Since)>? stalled = null;
        lock (s_readers)
        {
            foreach (ReaderThread reader in s_readers)
            {
                long since = reader.BusySince;
                if (since > 0)
                {
                    anyBusy = true;
                    if (now - since > limit)
                    {
                        (stalled ??= []).Add((reader, since));
                    }
                }
            }

            if (!anyBusy)
            {
                // Disarm, then look again: a thread that became busy meanwhile saw the watchdog armed and did not arm
                // it; one that becomes busy after this look sees it disarmed and arms it.
                Interlocked.Exchange(ref s_armed, 0);
                if (s_readers.TrueForAll(static r => r.BusySince <= 0))
                {
                    s_timer.Change(Timeout.Infinite, Timeout.Infinite);
                }
                else
                {
                    Interlocked.Exchange(ref s_armed, 1);
                }
            }
        }

        if (stalled is not null)
        {
            foreach ((ReaderThread reader, long since) in stalled)
            {
                reader.TakeOver(since);
            }
        }
    }
}
