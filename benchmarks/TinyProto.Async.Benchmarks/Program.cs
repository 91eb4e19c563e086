namespace TinyProto.Async.Benchmarks;

internal static class Program
{
    private static void Main() { }
}
