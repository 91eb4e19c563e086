using System.Globalization;

namespace TinyProto.Async.LoadTest;

/// <summary>The validated options of the <c>client</c> command.</summary>
internal sealed record ClientSettings
{
    /// <summary>Without --stream a message is one array on each side (TransmitAsync(ReadOnlyMemory); echoes ReceiveAsync(Memory) into a reused array up to 64 MiB, ReceiveAsync() above).</summary>
    public const long MaxBufferedSize = 1L << 30;

    /// <summary>Warmup is capped at this many payload bytes per connection, so a warmup of huge messages stays short.</summary>
    private const long WarmupByteBudget = 64L << 20;

    private const int DefaultWarmup = 200;

    /// <summary>The most payload bytes an echo client keeps in flight behind the oldest message.</summary>
    private const long EchoInFlightBudget = 32L << 20;

    public required string Host { get; init; }

    public required int Port { get; init; }

    public required ClientMode Mode { get; init; }

    public long Size { get; init; }

    /// <summary>Messages across all connections (split evenly), or null when the run is timed.</summary>
    public long? Count { get; init; }

    public double? DurationSeconds { get; init; }

    public int Connections { get; init; } = 1;

    public bool Pipelined { get; init; }

    public bool Streamed { get; init; }

    /// <summary>Messages in flight per connection.</summary>
    public int Window { get; init; } = 1;

    /// <summary>Messages per <c>TransmitManyAsync</c> call (one-way only); 1 sends each with <c>TransmitAsync</c>.</summary>
    public int Batch { get; init; } = 1;

    /// <summary>Unmeasured messages per connection before the measured run.</summary>
    public int Warmup { get; init; }

    /// <summary>The run fails when no message completes for this long.</summary>
    public double StallSeconds { get; init; } = 30;

    public int ConnectConcurrency { get; init; } = 64;

    public string ModeName => Mode switch
    {
        ClientMode.Echo => "echo",
        ClientMode.Oneway => "oneway",
        _ => "idle",
    };

    /// <summary>The messages connection <paramref name="index"/> sends when the run is counted: an even share, the first ones one more.</summary>
    public long CountFor(int index)
    {
        long total = Count ?? 0;
        return total / Connections + (index < total % Connections ? 1 : 0);
    }

    /// <exception cref="UsageException">A missing, out-of-range or conflicting option.</exception>
    public static ClientSettings FromArguments(Arguments options)
    {
        string modeText = options.GetString("--mode", "");
        ClientMode mode = modeText switch
        {
            "echo" => ClientMode.Echo,
            "oneway" => ClientMode.Oneway,
            "idle" => ClientMode.Idle,
            "" => throw new UsageException("option '--mode' is required (echo, oneway or idle)"),
            _ => throw new UsageException($"--mode must be echo, oneway or idle, not '{modeText}'"),
        };

        int port = (int)(options.GetOptionalInteger("--port", 1, 65535) ?? throw new UsageException("option '--port' is required"));
        int connections = (int)(options.GetOptionalInteger("--connections", 1, 1_000_000) ?? 1);
        bool streamed = options.HasFlag("--stream");
        bool pipelined = options.HasFlag("--pipelined");
        long? count = options.GetOptionalInteger("--count", 1, long.MaxValue / 2);
        double? duration = options.GetOptionalSeconds("--duration", 0.001, 1e7);
        double stall = options.GetOptionalSeconds("--stall-timeout", 0.1, 1e7) ?? 30;
        int connectConcurrency = (int)(options.GetOptionalInteger("--connect-concurrency", 1, 100_000) ?? 64);
        string host = options.GetString("--host", "127.0.0.1");

        if (mode == ClientMode.Idle)
        {
            foreach (string name in (string[])["--count", "--size", "--stream", "--window", "--warmup", "--batch"])
            {
                if (options.Has(name))
                {
                    throw new UsageException($"{name} does not apply to --mode idle (it only opens and holds connections)");
                }
            }

            return new ClientSettings
            {
                Host = host,
                Port = port,
                Mode = mode,
                Connections = connections,
                Pipelined = pipelined,
                DurationSeconds = duration ?? throw new UsageException("--mode idle needs --duration SEC (how long to hold the connections)"),
                StallSeconds = stall,
                ConnectConcurrency = connectConcurrency,
            };
        }

        long maxSize = streamed ? TinyProtoConnectionOptions.ProtocolMaxMessageSize : MaxBufferedSize;
        long size = options.GetOptionalSize("--size", 0, long.MaxValue) ?? throw new UsageException("option '--size' is required for echo and oneway");
        if (size > maxSize)
        {
            throw new UsageException(streamed
                ? $"--size must be at most 0xF0FFFFFF ({TinyProtoConnectionOptions.ProtocolMaxMessageSize}), the protocol maximum, not {size}"
                : $"--size above {MaxBufferedSize} (1G) needs --stream (messages are held in one array otherwise), not {size}");
        }

        if (count is null == duration is null)
        {
            throw new UsageException("give exactly one of --count N (messages in total) or --duration SEC");
        }

        // In echo mode the server's echo of one message (its size header, then our OK) must get past the payloads
        // we still send, and no status byte can cut into a payload: past the receivers' read-ahead (64 MiB by
        // default) both ends wait on each other until the 5 s status timeout. So keep echo's in-flight bytes small.
        long? explicitWindow = options.GetOptionalInteger("--window", 1, 65_536);
        int window = (int)(explicitWindow ?? (pipelined ? 32 : 1));
        if (mode == ClientMode.Echo && size * (window - 1) > EchoInFlightBudget)
        {
            if (explicitWindow is not null)
            {
                throw new UsageException($"--mode echo with --window {window} keeps {size * (window - 1)} bytes in flight behind each message, more than {EchoInFlightBudget} (32M): the echoes would deadlock against the payloads still being sent; use a smaller --window or --size");
            }

            window = (int)Math.Max(1, EchoInFlightBudget / Math.Max(size, 1) + 1);
        }

        int batch = (int)(options.GetOptionalInteger("--batch", 1, 1_000_000) ?? 1);
        if (batch > 1 && (mode != ClientMode.Oneway || streamed || explicitWindow is not null))
        {
            throw new UsageException("--batch N works with --mode oneway only, and not with --stream or --window (a batch is its own window)");
        }

        if (batch > 1)
        {
            window = 1;
        }

        long warmupDefault = Math.Min(DefaultWarmup, WarmupByteBudget / Math.Max(size, 1));
        int warmup = (int)(options.GetOptionalInteger("--warmup", 0, 1_000_000) ?? warmupDefault);

        return new ClientSettings
        {
            Host = host,
            Port = port,
            Mode = mode,
            Size = size,
            Count = count,
            DurationSeconds = duration,
            Connections = connections,
            Pipelined = pipelined,
            Streamed = streamed,
            Window = window,
            Batch = batch,
            Warmup = warmup,
            StallSeconds = stall,
            ConnectConcurrency = connectConcurrency,
        };
    }

    public string Describe() => Mode == ClientMode.Idle
        ? $"mode idle, {Connections} connection(s), {(Pipelined ? "pipelined" : "lock-step")}"
        : string.Create(CultureInfo.InvariantCulture, $"mode {ModeName}, {Size} B messages, {Connections} connection(s), {(Pipelined ? "pipelined" : "lock-step")}, {(Batch > 1 ? $"batches of {Batch}" : $"window {Window}")}, {(Streamed ? "streamed" : "buffered")}");
}
