// The echo sample: a demo with no arguments, or an echo server and a benchmarking client.
// Exit codes: 0 success, 1 failure (mismatch, timeout, connection error), 2 bad arguments.
using TinyProto.Async;
using TinyProto.Samples.Echo;

const string Usage = """
    Usage:
      TinyProto.Samples.Echo                 run a server and a client in this process and exchange a few messages
      TinyProto.Samples.Echo server --port P [--host H] [--connection-limit N]
      TinyProto.Samples.Echo client --port P [--host H] --count N --size S

    Options:
      --host H               address to listen on or connect to (default 127.0.0.1)
      --port P               TCP port, 0..65535 for a server (0 picks a free one), 1..65535 for a client
      --connection-limit N   most clients served at once; more are refused with 0xFE (default: no limit)
      --count N              number of lock-step echo round trips
      --size S               bytes in each message, 0..1073741824
    """;

if (args is ["-h" or "--help" or "help", ..])
{
    Console.WriteLine(Usage);
    return 0;
}

return await SampleHost.RunAsync(Usage, async () =>
{
    switch (args.FirstOrDefault())
    {
        case null:
            return await Demo.RunAsync();

        case "server":
        {
            var options = Arguments.Parse(args.AsSpan(1), "--host", "--port", "--connection-limit");
            return await EchoServerCommand.RunAsync(
                options.GetString("--host", "127.0.0.1"),
                options.GetInt("--port", 0, 65535),
                options.GetOptionalInt("--connection-limit", 1, int.MaxValue));
        }

        case "client":
        {
            var options = Arguments.Parse(args.AsSpan(1), "--host", "--port", "--count", "--size");
            return await EchoClientCommand.RunAsync(
                options.GetString("--host", "127.0.0.1"),
                options.GetInt("--port", 1, 65535),
                options.GetInt("--count", 1, int.MaxValue),
                options.GetInt("--size", 0, EchoClientCommand.MaxSize));
        }

        default:
            throw new UsageException($"unknown command '{args[0]}' (expected 'server' or 'client')");
    }
});
