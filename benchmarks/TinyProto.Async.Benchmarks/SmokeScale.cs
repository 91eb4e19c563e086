namespace TinyProto.Async.Benchmarks;

/// <summary>
/// Lets the smoke test (test/TinyProto.Async.Tests/BenchmarkSmokeTests.cs) run every benchmark with a tiny
/// workload. A BenchmarkDotNet run never enables it, so the loops then do exactly the counts their
/// <c>OperationsPerInvoke</c> declares.
/// </summary>
internal static class SmokeScale
{
    private static volatile bool s_enabled;

    /// <summary>Whether benchmarks run the smoke workload.</summary>
    public static bool Enabled
    {
        get => s_enabled;
        set => s_enabled = value;
    }

    /// <summary>How many operations a loop declared with <paramref name="count"/> runs now.</summary>
    public static int Operations(int count) => Enabled ? Math.Min(count, 2) : count;

    /// <summary>How many bytes a benchmark declared with <paramref name="count"/> moves now.</summary>
    public static long Bytes(long count) => Enabled ? Math.Min(count, 1024 * 1024) : count;
}
