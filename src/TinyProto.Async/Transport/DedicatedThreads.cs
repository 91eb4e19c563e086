namespace TinyProto.Async.Transport;

/// <summary>
/// How many connections of the process have a dedicated reader thread (<see cref="TinyProtoThreading"/>), and whether
/// the next may: always when asked for explicitly, under <see cref="TinyProtoThreading.Automatic"/> while fewer than twice
/// the processor count have one (beyond that, thread hand-offs cost less than threads do), never where the platform lacks
/// the non-blocking send (<see cref="NonBlockingSend"/>).
/// </summary>
/// <remarks><c>s_count</c> is the only state, interlocked; a slot is taken before a transport is made and given back by its reader thread.</remarks>
internal static class DedicatedThreads
{
    private static readonly int s_automaticLimit = 2 * Environment.ProcessorCount;
    private static int s_count;

    /// <summary>Dedicated reader threads running (or about to) now.</summary>
    public static int Count => Volatile.Read(ref s_count);

    /// <summary>Whether a connection with <paramref name="threading"/> could get one here (its socket must then never go asynchronous).</summary>
    public static bool MayTake(TinyProtoThreading threading) =>
        threading != TinyProtoThreading.ThreadPool && NonBlockingSend.IsSupported;

    /// <summary>Takes a slot for a new connection with <paramref name="threading"/>, if it gets one.</summary>
    public static bool TryTake(TinyProtoThreading threading)
    {
        if (!MayTake(threading))
        {
            return false;
        }

        if (Interlocked.Increment(ref s_count) <= s_automaticLimit || threading == TinyProtoThreading.DedicatedThread)
        {
            return true;
        }

        Interlocked.Decrement(ref s_count);
        return false;
    }

    /// <summary>Gives a slot back.</summary>
    public static void Release() => Interlocked.Decrement(ref s_count);
}
