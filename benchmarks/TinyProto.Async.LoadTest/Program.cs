// The load tool: a TinyProto.Async server and client that measure throughput and latency, with every payload checked.
// Exit codes: 0 success, 1 failure (a lost, reordered or corrupted message, a failed transmit, a connection error), 2 bad arguments.
namespace TinyProto.Async.LoadTest;

internal static class Program
{
    private const string Usage = """
        Usage:
          TinyProto.Async.LoadTest server --port P [--host H] [--sink]
          TinyProto.Async.LoadTest client --port P [--host H] --mode echo|oneway --size S (--count N | --duration SEC)
                                          [--connections C] [--pipelined] [--window W | --batch N] [--stream] [--warmup N]
          TinyProto.Async.LoadTest client --port P [--host H] --mode idle --duration SEC [--connections C] [--pipelined]

        Server:
          --host H        address to listen on (default 127.0.0.1)
          --port P        TCP port, 0..65535 (0 picks a free one; the line 'listening on ENDPOINT' tells which)
          --sink          check and drop messages instead of echoing them (a first message 'S' does the same per connection)

        Client:
          --host H        server address (default 127.0.0.1)
          --port P        server port, 1..65535
          --mode M        echo: each message is echoed and checked; oneway: messages only go to the server;
                          idle: open the connections and hold them, without traffic
          --size S        payload bytes per message: decimal, hex (0x10000) or with K/M/G (x1024: 64K, 1M, 1MiB).
                          0..1G buffered, up to 0xF0FFFFFF (4043309055) with --stream
          --count N       messages in total, split evenly over the connections
          --duration SEC  run for SEC seconds (idle: hold that long) instead of a count
          --connections C connections at once (default 1)
          --pipelined     ask for pipelined mode (fails if the server declines); implies --window 32
          --window W      messages in flight per connection (default 1, or 32 with --pipelined)
          --batch N       oneway only: send in batches of N with TransmitManyAsync (one wait per batch)
          --stream        send each message from a generated stream and receive echoes into a checking stream
          --warmup N      unmeasured messages per connection first (default 200, fewer for messages above 320K)
          --stall-timeout SEC      fail when no message completes for SEC seconds (default 30)
          --connect-concurrency K  connects in flight while opening the connections (default 64)
        """;

    private static async Task<int> Main(string[] args)
    {
        if (args is [] or ["-h" or "--help" or "help", ..])
        {
            Console.WriteLine(Usage);
            return args.Length == 0 ? 2 : 0;
        }

        return await SampleHost.RunAsync(Usage, () => RunCommandAsync(args));
    }

    private static async Task<int> RunCommandAsync(string[] args)
    {
        switch (args[0])
        {
            case "server":
            {
                var options = Arguments.Parse(args.AsSpan(1), ["--host", "--port"], ["--sink"]);
                return await ServerCommand.RunAsync(
                    options.GetString("--host", "127.0.0.1"),
                    (int)(options.GetOptionalInteger("--port", 0, 65535) ?? throw new UsageException("option '--port' is required")),
                    options.HasFlag("--sink"));
            }

            case "client":
            {
                var options = Arguments.Parse(
                    args.AsSpan(1),
                    ["--host", "--port", "--mode", "--size", "--count", "--duration", "--connections", "--window", "--batch", "--warmup", "--stall-timeout", "--connect-concurrency"],
                    ["--pipelined", "--stream"]);
                return await ClientCommand.RunAsync(ClientSettings.Create(ClientRequestFrom(options)));
            }

            default:
                throw new UsageException($"unknown command '{args[0]}' (expected 'server' or 'client')");
        }
    }

    private static ClientRequest ClientRequestFrom(Arguments options) =>
        new(options.GetString("--host", "127.0.0.1"),
            (int)(options.GetOptionalInteger("--port", 1, 65535) ?? throw new UsageException("option '--port' is required")),
            options.GetOptionalString("--mode"))
        {
            Size = options.GetOptionalSize("--size", 0, long.MaxValue),
            Count = options.GetOptionalInteger("--count", 1, long.MaxValue / 2),
            DurationSeconds = options.GetOptionalSeconds("--duration", 0.001, 1e7),
            Connections = (int?)options.GetOptionalInteger("--connections", 1, 1_000_000),
            Pipelined = options.HasFlag("--pipelined"),
            Streamed = options.HasFlag("--stream"),
            Window = (int?)options.GetOptionalInteger("--window", 1, 65_536),
            Batch = (int?)options.GetOptionalInteger("--batch", 1, 1_000_000),
            Warmup = (int?)options.GetOptionalInteger("--warmup", 0, 1_000_000),
            StallSeconds = options.GetOptionalSeconds("--stall-timeout", 0.1, 1e7),
            ConnectConcurrency = (int?)options.GetOptionalInteger("--connect-concurrency", 1, 100_000),
        };
}
