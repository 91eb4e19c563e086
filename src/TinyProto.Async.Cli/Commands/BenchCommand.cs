using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using Spectre.Console;
using TinyProto.Async.Cli.Output;
using TinyProto.Async.LoadTest;

namespace TinyProto.Async.Cli.Commands;

/// <summary>
/// <c>tinyproto bench</c>: the load tool's workloads (benchmarks/TinyProto.Async.LoadTest, whose sources this tool
/// compiles in: the same settings, workers, checks and report), with a live table on a terminal and the load tool's
/// progress lines otherwise, ending with the load tool's figures and its <c>RESULT</c> line.
/// </summary>
internal static class BenchCommand
{
    private static readonly TimeSpan CloseTimeout = TimeSpan.FromSeconds(30);

    public static Command Create()
    {
        var connect = new ConnectOptions("Seconds to wait for each connection");
        var mode = new Option<string>("--mode", "-m") { Description = "echo: each message echoed and checked; oneway: messages to the peer only; idle: open the connections and hold them", DefaultValueFactory = _ => "echo", HelpName = "MODE" };
        mode.AcceptOnlyFromAmong("echo", "oneway", "idle");
        var size = new Option<string?>("--size", "-s") { Description = "Payload bytes per message (64, 1K, 1M; up to 1G, up to 0xF0FFFFFF with --stream); default 64", HelpName = "BYTES" };
        var count = new Option<long?>("--count", "-n") { Description = "Messages in total, split over the connections (instead of --duration)", HelpName = "N" };
        var duration = new Option<double?>("--duration", "-d") { Description = "Seconds to run (default 10 unless --count)", HelpName = "SECONDS" };
        var connections = new Option<int?>("--connections", "-c") { Description = "Connections at once (default 1)", HelpName = "N" };
        var pipelined = new Option<bool>("--pipelined") { Description = "Ask for pipelined mode (fails if the peer declines); implies --window 32" };
        var window = new Option<int?>("--window") { Description = "Messages in flight per connection (default 1, or 32 with --pipelined)", HelpName = "N" };
        var batch = new Option<int?>("--batch") { Description = "oneway only: send in batches of N (one wait per batch)", HelpName = "N" };
        var stream = new Option<bool>("--stream") { Description = "Send each message from a stream and check echoes as a stream" };
        var warmup = new Option<int?>("--warmup") { Description = "Unmeasured messages per connection first (default 200, fewer for large messages)", HelpName = "N" };
        var stall = new Option<double?>("--stall-timeout") { Description = "Fail when no message completes for this many seconds (default 30)", HelpName = "SECONDS" };
        var command = new Command("bench", "Measure a peer's throughput and latency with the load tool's workloads, every payload checked");
        connect.AddTo(command);
        command.Options.Add(mode);
        command.Options.Add(size);
        command.Options.Add(count);
        command.Options.Add(duration);
        command.Options.Add(connections);
        command.Options.Add(pipelined);
        command.Options.Add(window);
        command.Options.Add(batch);
        command.Options.Add(stream);
        command.Options.Add(warmup);
        command.Options.Add(stall);
        command.WithExamples("""
            tinyproto bench 127.0.0.1:5000                                  (64 B lock-step echo for 10 s)
            tinyproto bench 127.0.0.1:5000 --size 1M --count 2000
            tinyproto bench 127.0.0.1:5000 --connections 100 --pipelined --duration 30
            tinyproto bench 127.0.0.1:5000 --mode oneway --batch 64 --size 16
            tinyproto bench 127.0.0.1:5000 --mode idle --connections 10000 --duration 60
            """);
        CommandRunner.SetAction(command, async (parse, cancellationToken) =>
        {
            PeerAddress peer = connect.Peer(parse);
            string modeName = parse.GetValue(mode)!;
            bool measured = modeName != "idle";
            long? messages = parse.GetValue(count);
            ClientSettings settings = Checked(() => ClientSettings.Create(new ClientRequest(peer.Host, peer.Port, modeName)
            {
                Size = parse.GetValue(size) is { } text ? SizeParser.Parse("--size", text, long.MaxValue) : measured ? 64 : null,
                Count = messages is { } n and (< 1 or > long.MaxValue / 2) ? throw new CommandLineException($"--count must be 1 or more, not {n}") : messages,
                DurationSeconds = parse.GetValue(duration) is { } seconds
                    ? seconds is > 0 and <= 1e7 ? seconds : throw new CommandLineException($"--duration must be a number of seconds above 0, not {seconds}")
                    : messages is null ? 10 : null,
                Connections = Positive(parse.GetValue(connections), "--connections", 1_000_000),
                Pipelined = parse.GetValue(pipelined),
                Streamed = parse.GetValue(stream),
                Window = Positive(parse.GetValue(window), "--window", 65_536),
                Batch = Positive(parse.GetValue(batch), "--batch", 1_000_000),
                Warmup = parse.GetValue(warmup) is { } w ? w >= 0 ? w : throw new CommandLineException($"--warmup must be 0 or more, not {w}") : null,
                StallSeconds = parse.GetValue(stall) is { } s ? s > 0 ? s : throw new CommandLineException($"--stall-timeout must be above 0 seconds, not {s}") : null,
            }));

            using var reserve = new FileDescriptorReserve(64);
            using var run = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            await using TinyProtoClient client = connect.CreateClient(parse, peer);
            client.ConnectionOptions.RequestPipelining = settings.Pipelined;
            var opener = new ConnectionOpener(client, settings, reserve);
            long openStart = Stopwatch.GetTimestamp();
            await opener.OpenAsync(run.Token);
            Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"opened {opener.Opened} of {settings.Connections} connection(s) to {peer} in {Stopwatch.GetElapsedTime(openStart).TotalSeconds:0.000} s; {settings.Describe()}"));
            try
            {
                if (opener.Error is { } openError)
                {
                    cancellationToken.ThrowIfCancellationRequested();
                    throw new IOException(openError);
                }

                return settings.Mode == ClientMode.Idle
                    ? await HoldAsync(settings, opener.Connections, run.Token)
                    : await MeasureAsync(settings, opener.Connections, run);
            }
            finally
            {
                using var closing = new CancellationTokenSource(CloseTimeout);
                await Task.WhenAll(opener.All.Select(connection => connection.CloseAsync(closing.Token).AsTask()))
                    .ContinueWith(_ => { }, TaskScheduler.Default);
            }
        });
        return command;
    }

    private static async Task<int> MeasureAsync(ClientSettings settings, IReadOnlyList<TinyProtoConnection> connections, CancellationTokenSource run)
    {
        var loadRun = new LoadRun(settings, connections);
        Terminal terminal = Terminal.Detect();
        LoadResult result = terminal.IsInteractive
            ? await LiveTable.ShowAsync(terminal, observer => loadRun.RunAsync(run, observer))
            : await loadRun.RunAsync(run, progress => Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"progress: {progress.Seconds,6:0.0} s, {progress.Messages,12} messages, {progress.MessagesPerSecond,12:0} msg/s, {progress.MegabytesPerSecond,8:0.0} MB/s")));
        foreach (string error in result.Errors.Take(10))
        {
            Console.Error.WriteLine($"error: {error}");
        }

        ResultReport.Print(settings, result);
        return result.Errors.Count == 0 ? ExitCode.Ok : ExitCode.Failed;
    }

    private static async Task<int> HoldAsync(ClientSettings settings, IReadOnlyList<TinyProtoConnection> connections, CancellationToken cancellationToken)
    {
        (int held, double seconds) = await IdleWorkload.HoldAsync(connections, settings.DurationSeconds!.Value, cancellationToken);
        int dropped = connections.Count - held;
        if (dropped > 0)
        {
            Console.Error.WriteLine($"error: {dropped} connection(s) dropped while idle");
        }

        ResultReport.PrintIdle(settings, held, dropped, seconds, dropped > 0 ? 1 : 0);
        return dropped == 0 ? ExitCode.Ok : ExitCode.Failed;
    }

    /// <summary>The load tool's settings, its usage errors reported as this tool's.</summary>
    private static ClientSettings Checked(Func<ClientSettings> create)
    {
        try
        {
            return create();
        }
        catch (UsageException ex)
        {
            throw new CommandLineException(ex.Message);
        }
    }

    private static int? Positive(int? value, string option, int max) =>
        value is not { } given ? null
        : given is >= 1 && given <= max ? given
        : throw new CommandLineException(string.Create(CultureInfo.InvariantCulture, $"{option} must be from 1 to {max}, not {given}"));

    /// <summary>The live table on a terminal: the run's progress, redrawn as it comes, left on the screen at the end.</summary>
    private static class LiveTable
    {
        public static async Task<LoadResult> ShowAsync(Terminal terminal, Func<Action<LoadProgress>, Task<LoadResult>> run)
        {
            // What runs is on the line above it ("opened ...; mode echo, ..."): the table holds the figures alone.
            var table = new Table().Border(TableBorder.Rounded);
            table.AddColumn(new TableColumn("seconds").RightAligned());
            table.AddColumn(new TableColumn("messages").RightAligned());
            table.AddColumn(new TableColumn("msg/s").RightAligned());
            table.AddColumn(new TableColumn("MB/s").RightAligned());
            table.AddRow("warming up", "", "", "");
            LoadProgress? latest = null;
            Task<LoadResult> running = run(progress => Volatile.Write(ref latest, progress));
            await terminal.Console.Live(table).AutoClear(false).StartAsync(async context =>
            {
                // The display is redrawn on this task alone (Spectre's live display is not thread-safe); the progress
                // timer only leaves its latest figures.
                while (true)
                {
                    if (Volatile.Read(ref latest) is { } progress)
                    {
                        CultureInfo c = CultureInfo.InvariantCulture;
                        table.UpdateCell(0, 0, progress.Seconds.ToString("0.0", c));
                        table.UpdateCell(0, 1, progress.Messages.ToString("N0", c));
                        table.UpdateCell(0, 2, terminal.Paint(progress.MessagesPerSecond.ToString("N0", c), "green"));
                        table.UpdateCell(0, 3, progress.MegabytesPerSecond.ToString("0.0", c));
                        context.Refresh();
                    }

                    if (running.IsCompleted)
                    {
                        return;
                    }

                    await Task.WhenAny(running, Task.Delay(250));
                }
            });
            return await running;
        }
    }
}
