namespace TinyProto.Async.Transport;

/// <summary>A completion held back until the reader thread has parsed what arrived (see <see cref="ReaderThread"/>).</summary>
internal interface IDeferredCompletion
{
    /// <summary>Completes the held-back use; its continuation runs inline when <paramref name="inline"/>, else on the thread pool.</summary>
    void CompleteDeferred(bool inline);
}

/// <summary>
/// The thread a dedicated-thread connection reads on (<see cref="TinyProtoThreading.DedicatedThread"/>): it receives
/// with blocking calls, lets the receive loop parse inline, and then runs what the arrival completed (the awaiting
/// transmitter, receiver or hook loop) on itself, before it receives again. One wake-up per arrival, as a blocking C
/// peer has.
/// </summary>
/// <remarks>
/// <para>Completions made on this thread by the library's own awaitables (<see cref="ReusableSource{T}"/>) are queued here
/// (<see cref="TryDefer"/>) rather than run where they are made, so user code never runs inside the receive loop's parse.
/// Only the thread itself queues; the queue and <c>_demoted</c> are guarded by <c>_queue</c>.</para>
/// <para>A continuation may keep the thread (a hook that blocks, or waits synchronously on its own connection): the
/// <see cref="ReaderWatchdog"/> then starts a new thread in its place (<see cref="TakeOver"/>), and the connection runs
/// its continuations on the thread pool from then on. <c>_busySince</c> says since when the current continuation runs
/// (0: none), the one field the watchdog and the thread share; <c>_owner</c> is the thread that reads now (guarded by
/// <c>_queue</c>, read without it): a replaced thread leaves once its stalled continuation returns.</para>
/// </remarks>
internal sealed class ReaderThread
{
    /// <summary>How long one continuation may keep the thread before reading moves to a new one.</summary>
    public static readonly TimeSpan StallLimit = TimeSpan.FromMilliseconds(200);

    [ThreadStatic]
    private static ReaderThread? t_current;

    [ThreadStatic]
    private static bool t_draining;

    private readonly Func<bool> _receiveOnce;
    private readonly string _name;
    private readonly Queue<IDeferredCompletion> _queue = new();
    private readonly List<BlockingSocketWriter> _corked = [];
    private long _busySince;
    private Thread? _owner;
    private bool _demoted;
    private int _running;

    /// <param name="receiveOnce">Waits for a receive to do and does it; false once the reader is done. Only this thread calls it.</param>
    /// <param name="name">The thread's name, for debuggers and dumps.</param>
    public ReaderThread(Func<bool> receiveOnce, string name)
    {
        _receiveOnce = receiveOnce;
        _name = name;
    }

    /// <summary>Whether a continuation stalled this thread once, so continuations now run on the thread pool.</summary>
    public bool IsDemoted
    {
        get
        {
            lock (_queue)
            {
                return _demoted;
            }
        }
    }

    /// <summary>Whether a thread runs this reader now (after a stall, the stalled one may still finish its continuation).</summary>
    public bool IsRunning => Volatile.Read(ref _running) > 0;

    /// <summary>Starts the thread.</summary>
    public void Start() => StartThread();

    /// <summary>
    /// Holds <paramref name="completion"/> back until the current arrival is parsed, if the calling thread is a reader
    /// thread that has not been demoted (true); otherwise the caller completes it itself (false).
    /// </summary>
    public static bool TryDefer(IDeferredCompletion completion)
    {
        ReaderThread? current = t_current;
        if (current is null)
        {
            return false;
        }

        lock (current._queue)
        {
            if (current._demoted)
            {
                return false;
            }

            current._queue.Enqueue(completion);
            return true;
        }
    }

    /// <summary>
    /// Holds a flush of <paramref name="writer"/> back until the held-back completions have all run, if the calling thread
    /// is a reader thread running them (true): transmissions that those continuations start go out in one send, the way
    /// a well-built pipelined client coalesces its writes.
    /// </summary>
    public static bool TryCork(BlockingSocketWriter writer)
    {
        ReaderThread? current = t_current;
        if (current is null || !t_draining)
        {
            return false;
        }

        lock (current._queue)
        {
            if (!current._corked.Contains(writer))
            {
                current._corked.Add(writer);
            }
        }

        return true;
    }

    /// <summary>
    /// Called by the watchdog: if the continuation that started at <paramref name="busySince"/> still runs, demotes the
    /// connection and starts a new thread to read on. True if it did.
    /// </summary>
    public bool TakeOver(long busySince)
    {
        lock (_queue)
        {
            if (busySince <= 0 || Interlocked.CompareExchange(ref _busySince, 0, busySince) != busySince)
            {
                return false;
            }

            _demoted = true;
            StartThread();
        }

        return true;
    }

    /// <summary>Since when (<see cref="Environment.TickCount64"/>) the current continuation runs; 0 when none does.</summary>
    public long BusySince => Volatile.Read(ref _busySince);

    /// <summary>Starts a thread that reads from now on; under <c>_queue</c> when it replaces one.</summary>
    private void StartThread()
    {
        Interlocked.Increment(ref _running);
        var thread = new Thread(Run) { IsBackground = true, Name = _name };
        Volatile.Write(ref _owner, thread);
        thread.Start();
    }

    private void Run()
    {
        t_current = this;
        ReaderWatchdog.Add(this);
        bool replaced = false;
        try
        {
            while (true)
            {
                if (!RunDeferred())
                {
                    replaced = true;
                    break;
                }

                if (!_receiveOnce())
                {
                    replaced = !RunDeferred();
                    break;
                }
            }
        }
        finally
        {
            ReaderWatchdog.Remove(this);
            t_current = null;
            Interlocked.Decrement(ref _running);
            if (!replaced)
            {
                // The thread that replaced this one (after a stall) gives the slot back instead.
                DedicatedThreads.Release();
            }
        }
    }

    /// <summary>Runs the held-back completions; false if a stall handed the reading to a new thread meanwhile.</summary>
    private bool RunDeferred()
    {
        t_draining = true;
        try
        {
            return RunQueued();
        }
        finally
        {
            t_draining = false;
            SendCorked();
        }
    }

    private bool RunQueued()
    {
        while (true)
        {
            IDeferredCompletion? next;
            bool inline;
            lock (_queue)
            {
                if (!_queue.TryDequeue(out next))
                {
                    return true;
                }

                inline = !_demoted;
            }

            long now = Math.Max(1, Environment.TickCount64);
            Interlocked.Exchange(ref _busySince, now);
            ReaderWatchdog.Arm();
            next.CompleteDeferred(inline);

            // Only this continuation's mark: after a takeover the new thread's own may stand there.
            Interlocked.CompareExchange(ref _busySince, 0, now);
            if (Volatile.Read(ref _owner) != Thread.CurrentThread)
            {
                // A new thread reads now; this one leaves, its stalled continuation done.
                return false;
            }
        }
    }

    /// <summary>Sends what flushes held back while the completions ran.</summary>
    private void SendCorked()
    {
        while (true)
        {
            BlockingSocketWriter writer;
            lock (_queue)
            {
                if (_corked.Count == 0)
                {
                    return;
                }

                writer = _corked[^1];
                _corked.RemoveAt(_corked.Count - 1);
            }

            writer.SendCorked();
        }
    }
}
