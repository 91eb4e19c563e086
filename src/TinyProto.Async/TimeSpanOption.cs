namespace TinyProto.Async;

/// <summary>
/// Checks the time spans that options take. Timers and delays in .NET stop at 4,294,967,294 ms (about 49.7 days),
/// so a longer span is refused when it is set, not later inside a handshake or a stop.
/// </summary>
internal static class TimeSpanOption
{
    /// <summary>The longest span a timer or a delay accepts.</summary>
    public static readonly TimeSpan Max = TimeSpan.FromMilliseconds(uint.MaxValue - 1);

    private const string Limit = "49.7 days (4294967294 ms, the longest span a timer takes)";

    /// <summary>A span above zero and at most <see cref="Max"/>, or <see cref="Timeout.InfiniteTimeSpan"/> if <paramref name="infiniteAllowed"/>.</summary>
    public static TimeSpan Positive(TimeSpan value, string option, bool infiniteAllowed) =>
        (value > TimeSpan.Zero && value <= Max) || (infiniteAllowed && value == Timeout.InfiniteTimeSpan)
            ? value
            : throw new ArgumentOutOfRangeException(nameof(value), value,
                $"{option} must be above zero and at most {Limit}{(infiniteAllowed ? ", or Timeout.InfiniteTimeSpan" : "")}.");

    /// <summary>A span of zero up to <see cref="Max"/>.</summary>
    public static TimeSpan NonNegative(TimeSpan value, string option) =>
        value >= TimeSpan.Zero && value <= Max
            ? value
            : throw new ArgumentOutOfRangeException(nameof(value), value, $"{option} must be zero or more and at most {Limit}.");
}
