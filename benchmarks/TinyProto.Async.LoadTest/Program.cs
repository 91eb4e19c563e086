namespace TinyProto.Async.LoadTest;

internal static class Program
{
    private static void Main() { }
}
