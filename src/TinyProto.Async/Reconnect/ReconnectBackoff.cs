namespace TinyProto.Async.Reconnect;

/// <summary>
/// Decides how long a reconnecting connection waits before its next attempt: exponential backoff with jitter,
/// capped. I/O-free: the caller supplies the random draw, so tests pin every delay.
/// </summary>
internal static class ReconnectBackoff
{
    /// <summary>
    /// The wait before the attempt that follows <paramref name="failures"/> failed ones in a row (0 for the first
    /// attempt after a disconnect): <c>InitialDelay × 2^failures</c>, at most <c>MaxDelay</c>, then shortened by up to
    /// <c>Jitter</c> of itself, so clients cut off together do not come back together.
    /// </summary>
    /// <param name="options">The policy.</param>
    /// <param name="failures">Attempts failed in a row so far, 0 or more.</param>
    /// <param name="random">A draw from [0, 1).</param>
    public static TimeSpan Delay(TinyProtoReconnectOptions options, int failures, double random)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(failures);
        double initial = options.InitialDelay.TotalMilliseconds;
        double max = options.MaxDelay.TotalMilliseconds;

        // 2^failures overflows nothing here: past 2^62 the cap has long applied.
        double exponential = initial * Math.Pow(2, Math.Min(failures, 62));
        double capped = Math.Min(exponential, max);
        double jittered = capped * (1 - (options.Jitter * Math.Clamp(random, 0, 1)));
        return TimeSpan.FromMilliseconds(jittered);
    }

    /// <summary>Whether another attempt may follow <paramref name="failures"/> failed ones in a row.</summary>
    public static bool MayRetry(TinyProtoReconnectOptions options, int failures) =>
        options.MaxAttempts is not int max || failures < max;
}
