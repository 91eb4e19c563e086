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

    /// <summary>Checks <paramref name="request"/> and fills in the defaults (window, warmup) that depend on the rest.</summary>
    /// <exception cref="UsageException">A missing, out-of-range or conflicting option; the message names it.</exception>
    public static ClientSettings Create(ClientRequest request)
    {
        ClientMode mode = request.Mode switch
        {
            "echo" => ClientMode.Echo,
            "oneway" => ClientMode.Oneway,
            "idle" => ClientMode.Idle,
            null or "" => throw new UsageException("option '--mode' is required (echo, oneway or idle)"),
            _ => throw new UsageException($"--mode must be echo, oneway or idle, not '{request.Mode}'"),
        };

        int connections = request.Connections ?? 1;
        if (mode == ClientMode.Idle)
        {
            foreach ((string name, bool given) in (ReadOnlySpan<(string, bool)>)[
                ("--count", request.Count is not null), ("--size", request.Size is not null), ("--stream", request.Streamed),
                ("--window", request.Window is not null), ("--warmup", request.Warmup is not null), ("--batch", request.Batch is not null)])
            {
                if (given)
                {
                    throw new UsageException($"{name} does not apply to --mode idle (it only opens and holds connections)");
                }
            }

            return new ClientSettings
            {
                Host = request.Host,
                Port = request.Port,
                Mode = mode,
                Connections = connections,
                Pipelined = request.Pipelined,
                DurationSeconds = request.DurationSeconds ?? throw new UsageException("--mode idle needs --duration SEC (how long to hold the connections)"),
                StallSeconds = request.StallSeconds ?? 30,
                ConnectConcurrency = request.ConnectConcurrency ?? 64,
            };
        }

        bool streamed = request.Streamed;
        long maxSize = streamed ? TinyProtoConnectionOptions.ProtocolMaxMessageSize : MaxBufferedSize;
        long size = request.Size ?? throw new UsageException("option '--size' is required for echo and oneway");
        if (size > maxSize)
        {
            throw new UsageException(streamed
                ? $"--size must be at most 0xF0FFFFFF ({TinyProtoConnectionOptions.ProtocolMaxMessageSize}), the protocol maximum, not {size}"
                : $"--size above {MaxBufferedSize} (1G) needs --stream (messages are held in one array otherwise), not {size}");
        }

        if (request.Count is null == request.DurationSeconds is null)
        {
            throw new UsageException("give exactly one of --count N (messages in total) or --duration SEC");
        }

        // In echo mode the server's echo of one message (its size header, then our OK) must get past the payloads
        // we still send, and no status byte can cut into a payload: past the receivers' read-ahead (64 MiB by
        // default) both ends wait on each other until the 5 s status timeout. So keep echo's in-flight bytes small.
        int window = request.Window ?? (request.Pipelined ? 32 : 1);
        if (mode == ClientMode.Echo && size * (window - 1) > EchoInFlightBudget)
        {
            if (request.Window is not null)
            {
                throw new UsageException($"--mode echo with --window {window} keeps {size * (window - 1)} bytes in flight behind each message, more than {EchoInFlightBudget} (32M): the echoes would deadlock against the payloads still being sent; use a smaller --window or --size");
            }

            window = (int)Math.Max(1, EchoInFlightBudget / Math.Max(size, 1) + 1);
        }

        int batch = request.Batch ?? 1;
        if (batch > 1 && (mode != ClientMode.Oneway || streamed || request.Window is not null))
        {
            throw new UsageException("--batch N works with --mode oneway only, and not with --stream or --window (a batch is its own window)");
        }

        if (batch > 1)
        {
            window = 1;
        }

        return new ClientSettings
        {
            Host = request.Host,
            Port = request.Port,
            Mode = mode,
            Size = size,
            Count = request.Count,
            DurationSeconds = request.DurationSeconds,
            Connections = connections,
            Pipelined = request.Pipelined,
            Streamed = streamed,
            Window = window,
            Batch = batch,
            Warmup = request.Warmup ?? (int)Math.Min(DefaultWarmup, WarmupByteBudget / Math.Max(size, 1)),
            StallSeconds = request.StallSeconds ?? 30,
            ConnectConcurrency = request.ConnectConcurrency ?? 64,
        };
    }

    public string Describe() => Mode == ClientMode.Idle
        ? $"mode idle, {Connections} connection(s), {(Pipelined ? "pipelined" : "lock-step")}"
        : string.Create(CultureInfo.InvariantCulture, $"mode {ModeName}, {Size} B messages, {Connections} connection(s), {(Pipelined ? "pipelined" : "lock-step")}, {(Batch > 1 ? $"batches of {Batch}" : $"window {Window}")}, {(Streamed ? "streamed" : "buffered")}");
}
