using System.Diagnostics;
using System.Numerics;

namespace TinyProto.Async.LoadTest;

/// <summary>
/// Latencies in <see cref="Stopwatch"/> ticks, in log-linear buckets (64 per power of two, so a reported percentile
/// is within ~1.6% of the true value). One instance per connection, written by one task only, so recording is an
/// increment in a preallocated array: no lock, no allocation. <see cref="Add"/> merges them after the run.
/// </summary>
internal sealed class LatencyHistogram
{
    private const int SubBucketBits = 6;
    private const int SubBuckets = 1 << SubBucketBits;

    // Values below 2^6 get one bucket each; above, each power of two gets 64. 2^63 ticks covers any run.
    private const int BucketCount = SubBuckets + (63 - SubBucketBits + 1) * SubBuckets;

    private readonly long[] _counts = new long[BucketCount];

    public long Count { get; private set; }

    public long MaxTicks { get; private set; }

    public void Record(long ticks, int times = 1)
    {
        if (ticks < 0)
        {
            ticks = 0;
        }

        _counts[BucketOf(ticks)] += times;
        Count += times;
        if (ticks > MaxTicks)
        {
            MaxTicks = ticks;
        }
    }

    public void Add(LatencyHistogram other)
    {
        for (int i = 0; i < BucketCount; i++)
        {
            _counts[i] += other._counts[i];
        }

        Count += other.Count;
        MaxTicks = Math.Max(MaxTicks, other.MaxTicks);
    }

    /// <summary>The latency in microseconds below which <paramref name="percentile"/> % of the recorded values fall (bucket midpoint), or NaN if empty.</summary>
    public double PercentileMicroseconds(double percentile)
    {
        if (Count == 0)
        {
            return double.NaN;
        }

        long rank = Math.Max(1, (long)Math.Ceiling(percentile / 100 * Count));
        long seen = 0;
        for (int i = 0; i < BucketCount; i++)
        {
            seen += _counts[i];
            if (seen >= rank)
            {
                (long low, long high) = BoundsOf(i);
                // The midpoint, but never above the largest value actually seen.
                double ticks = Math.Min((low + high) / 2.0, MaxTicks);
                return TicksToMicroseconds(ticks);
            }
        }

        return TicksToMicroseconds(MaxTicks);
    }

    public static double TicksToMicroseconds(double ticks) => ticks * 1_000_000.0 / Stopwatch.Frequency;

    private static int BucketOf(long ticks)
    {
        if (ticks < SubBuckets)
        {
            return (int)ticks;
        }

        // The top 7 bits of the value: the power of two picks the group, the next 6 bits the bucket in it.
        int magnitude = BitOperations.Log2((ulong)ticks);
        int shift = magnitude - SubBucketBits;
        int sub = (int)(ticks >> shift) - SubBuckets;
        return SubBuckets + shift * SubBuckets + sub;
    }

    private static (long Low, long High) BoundsOf(int bucket)
    {
        if (bucket < SubBuckets)
        {
            return (bucket, bucket);
        }

        int shift = (bucket - SubBuckets) / SubBuckets;
        long sub = (bucket - SubBuckets) % SubBuckets + SubBuckets;
        long low = sub << shift;
        return (low, low + (1L << shift) - 1);
    }
}
