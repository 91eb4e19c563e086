namespace TinyProto.Async.Transport;

/// <summary>
/// Watches the reader threads of dedicated-thread connections for a continuation that keeps its thread longer than
/// <see cref="ReaderThread.StallLimit"/>, and has a new thread take over the reading (PROTOCOL.md rule 5: reading never
/// waits for a hook). It looks every 50 ms, on a thread of its own, only while some continuation runs on a reader
/// thread: idle connections cost it nothing, and it never wakes the thread pool (a timer callback would, and a woken
/// pool worker spins, which on a single processor takes time from the reader threads).
/// </summary>
/// <remarks>All state is static and guarded by <c>s_readers</c>, except <c>s_armed</c> (interlocked) for the fast check.</remarks>
internal static class ReaderWatchdog
{
    private static readonly TimeSpan Period = TimeSpan.FromMilliseconds(50);
    private static readonly List<ReaderThread> s_readers = [];
    private static Thread? s_thread;
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

    /// <summary>Starts looking if it does not; cheap when it does (one read).</summary>
    public static void Arm()
    {
        if (Volatile.Read(ref s_armed) != 0)
        {
            return;
        }

        lock (s_readers)
        {
            if (Interlocked.Exchange(ref s_armed, 1) != 0)
            {
                return;
            }

            if (s_thread is null)
            {
                s_thread = new Thread(Watch) { IsBackground = true, Name = "TinyProto watchdog" };
                s_thread.Start();
            }
            else
            {
                Monitor.Pulse(s_readers);
            }
        }
    }

    private static void Watch()
    {
        lock (s_readers)
        {
            while (true)
            {
                if (Volatile.Read(ref s_armed) == 0)
                {
                    Monitor.Wait(s_readers);
                    continue;
                }

                Monitor.Wait(s_readers, Period);
                Look();
            }
        }
    }

    /// <summary>One look at every reader; disarms when none is busy. The caller holds <c>s_readers</c>.</summary>
    private static void Look()
    {
        long now = Environment.TickCount64;
        long limit = (long)ReaderThread.StallLimit.TotalMilliseconds;
        bool anyBusy = false;
        foreach (ReaderThread reader in s_readers)
        {
            long since = reader.BusySince;
            if (since > 0)
            {
                anyBusy = true;
                if (now - since > limit)
                {
                    // Starts a thread; cheap, and rare enough to do under the lock.
                    reader.TakeOver(since);
                }
            }
        }

        if (!anyBusy)
        {
            // Disarm, then look again: a thread that became busy meanwhile saw the watchdog armed and did not arm it;
            // one that becomes busy after this look sees it disarmed and arms it.
            Interlocked.Exchange(ref s_armed, 0);
            if (!s_readers.TrueForAll(static r => r.BusySince <= 0))
            {
                Interlocked.Exchange(ref s_armed, 1);
            }
        }
    }
}
