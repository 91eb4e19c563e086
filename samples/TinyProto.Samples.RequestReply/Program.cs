// The request-reply sample: a key-value store server, a client that keeps working while the server restarts,
// and one-shot commands. Exit codes: 0 success, 1 failure (a failed request, NOTFOUND, ERROR, no connection),
// 2 bad arguments.
using TinyProto.Samples.RequestReply;

const string Usage = """
    Usage:
      TinyProto.Samples.RequestReply server --port P [--host H] [--data FILE] [--idle-timeout S] [--connection-limit N]
      TinyProto.Samples.RequestReply client --port P [--host H] [--count N] [--interval MS] [--timeout S]
      TinyProto.Samples.RequestReply get KEY --port P [--host H] [--timeout S]
      TinyProto.Samples.RequestReply set KEY VALUE --port P [--host H] [--timeout S]
      TinyProto.Samples.RequestReply del KEY --port P [--host H] [--timeout S]
      TinyProto.Samples.RequestReply count --port P [--host H] [--timeout S]

    server: a key-value store; each request is one message (GET key, SET key value, DEL key, COUNT), each
            reply one message (OK ..., NOTFOUND, ERROR ...). Ctrl+C or SIGTERM stops it gracefully.
    client: for i in 1..N, SET ki vi then GET ki, on a connection that reconnects when the server restarts;
            ends with 'done: N ok, F failed' (exit 0 when F is 0).
    get, set, del, count: one request; prints the reply (exit 0 for OK, 1 otherwise).

    Options:
      --host H               address to listen on or connect to (default 127.0.0.1)
      --port P               TCP port, 0..65535 for the server (0 picks a free one), 1..65535 otherwise
      --data FILE            load the store from FILE (JSON) at start, if it exists; save it there on a graceful stop
      --idle-timeout S       seconds a connection may stay without a request before it is closed (default 300)
      --connection-limit N   most clients served at once; more are refused with 0xFE (default: no limit)
      --count N              SET/GET pairs the client makes (default 10)
      --interval MS          pause between one pair and the next, in milliseconds (default 0)
      --timeout S            seconds a request may take, waiting for a connection included; also the most the
                             client waits for its first connection (default 10)
    """;

if (args is ["-h" or "--help" or "help", ..])
{
    Console.WriteLine(Usage);
    return 0;
}

string[] connectionOptions = ["--host", "--port", "--timeout"];

return await SampleHost.RunAsync(Usage, async () =>
{
    switch (args.FirstOrDefault())
    {
        case "server":
        {
            var options = Arguments.Parse(args.AsSpan(1), "--host", "--port", "--data", "--idle-timeout", "--connection-limit");
            return await StoreServerCommand.RunAsync(
                options.GetString("--host", "127.0.0.1"),
                options.GetInt("--port", 0, 65535),
                options.GetOptionalString("--data"),
                options.GetOptionalInt("--connection-limit", 1, int.MaxValue),
                TimeSpan.FromSeconds(options.GetOptionalInt("--idle-timeout", 1, 86_400 * 7) ?? 300));
        }

        case "client":
        {
            var options = Arguments.Parse(args.AsSpan(1), "--host", "--port", "--count", "--interval", "--timeout");
            return await StoreClientCommand.RunAsync(
                options.GetString("--host", "127.0.0.1"),
                options.GetInt("--port", 1, 65535),
                options.GetOptionalInt("--count", 1, int.MaxValue) ?? 10,
                TimeSpan.FromMilliseconds(options.GetOptionalInt("--interval", 0, 3_600_000) ?? 0),
                TimeoutOption(options));
        }

        case "get":
            return await OneShotAsync(1, words => new StoreRequest(StoreOperation.Get, words[0]));

        case "set":
            return await OneShotAsync(2, words => new StoreRequest(StoreOperation.Set, words[0], words[1]));

        case "del":
            return await OneShotAsync(1, words => new StoreRequest(StoreOperation.Delete, words[0]));

        case "count":
            return await OneShotAsync(0, _ => new StoreRequest(StoreOperation.Count));

        case null:
            throw new UsageException("a command is needed");

        default:
            throw new UsageException($"unknown command '{args[0]}' (expected server, client, get, set, del or count)");
    }
});

// A one-shot command: its words (the key, and a value for set) come right after it, then the options.
async Task<int> OneShotAsync(int wordCount, Func<string[], StoreRequest> request)
{
    string[] words = args[1..Math.Min(args.Length, 1 + wordCount)];
    if (words.Length < wordCount || words.Any(w => w.StartsWith("--", StringComparison.Ordinal)))
    {
        throw new UsageException($"{args[0]} takes {(wordCount == 1 ? "a key" : "a key and a value")} before its options");
    }

    var options = Arguments.Parse(args.AsSpan(1 + wordCount), connectionOptions);
    return await OneShotCommand.RunAsync(request(words), options.GetString("--host", "127.0.0.1"), options.GetInt("--port", 1, 65535), TimeoutOption(options));
}

static TimeSpan TimeoutOption(Arguments options) => TimeSpan.FromSeconds(options.GetOptionalInt("--timeout", 1, 86_400) ?? 10);
