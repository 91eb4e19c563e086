// chatcheck: drives chat members through the load balancer in front of the scaled-out chat sample
// (samples/TinyProto.Samples.Chat with --redis and --proxy-from), and checks what arrives where. deploy/scale-out/run.sh
// starts what it talks to. Exit codes: 0 the checks passed, 1 one failed, 2 bad arguments.
using System.Diagnostics;
using System.Globalization;
using TinyProto.Async;
using TinyProto.ScaleOut.ChatCheck;

const string Usage = """
    Usage:
      chatcheck fanout --port P [--host H] [--members N] [--rate R] [--seconds S] [--size B] [--servers K] [--pids PIDS] [--pipelined]
      chatcheck rolling --port P [--host H] [--members N] [--rate R] [--size B] [--servers K]
      chatcheck connections --port P [--host H] [--count C] [--pids PIDS]

    fanout       N members (default 12) join, send R lines a second each (default: as fast as lock-step
                 goes) for S seconds (default 10), and leave: every line must reach every other member once,
                 in order; joins and leaves must cross servers; prints the rates, the fan-out latency and
                 context switches. (Each line goes to N-1 members: past what they can take, the servers close
                 the members that fall too far behind, and the check fails.)
    rolling      N members send R lines a second each (default 20) until standard input ends (while the
                 servers are restarted one by one): no line whose TransmitAsync completed may be lost for a
                 member that stayed connected; what reconnecting members missed is counted
    connections  C members (default 600) join at once and leave: the join rate, and the servers' memory

    Options:
      --host H      the balancer's address (default 127.0.0.1)
      --port P      the balancer's port
      --servers K   how many servers are behind it (default 3): members must land on each
      --size B      bytes per line (default 64)
      --pids PIDS   processes whose context switches and memory to count (servers, Redis, HAProxy), comma-separated
      --pipelined   members ask for pipelined mode (the server then sends without waiting for each 0xFF)
    """;

if (args is ["-h" or "--help" or "help", ..] or [])
{
    Console.WriteLine(Usage);
    return args.Length == 0 ? 2 : 0;
}

try
{
    var options = Arguments.Parse(args.AsSpan(1), ["--host", "--port", "--members", "--seconds", "--size", "--servers", "--pids", "--rate", "--count"], ["--pipelined"]);
    var target = new Target(
        options.GetString("--host", "127.0.0.1"),
        options.GetInt("--port", 1, 65535),
        options.GetOptionalInt("--servers", 1, 100) ?? 3,
        options.GetOptionalString("--pids") is { } pids ? [.. pids.Split(',', StringSplitOptions.RemoveEmptyEntries).Select(p => int.Parse(p, CultureInfo.InvariantCulture))] : [],
        options.HasFlag("--pipelined"));
    using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(10));
    return args[0] switch
    {
        "fanout" => await FanOutAsync(target, options.GetOptionalInt("--members", 2, 1000) ?? 12, options.GetOptionalInt("--rate", 1, 100000), options.GetOptionalInt("--seconds", 1, 3600) ?? 10, options.GetOptionalInt("--size", 16, 1 << 20) ?? 64, timeout.Token),
        "rolling" => await RollingAsync(target, options.GetOptionalInt("--members", 2, 1000) ?? 12, options.GetOptionalInt("--rate", 1, 10000) ?? 20, options.GetOptionalInt("--size", 16, 1 << 20) ?? 64, timeout.Token),
        "connections" => await ConnectionsAsync(target, options.GetOptionalInt("--count", 1, 100000) ?? 600, timeout.Token),
        _ => throw new UsageException($"unknown command '{args[0]}' (expected fanout, rolling or connections)"),
    };
}
catch (UsageException ex)
{
    Console.Error.WriteLine($"error: {ex.Message}\n\n{Usage}");
    return 2;
}
catch (FormatException ex)
{
    Console.Error.WriteLine($"error: --pids: {ex.Message}\n\n{Usage}");
    return 2;
}

static async Task<int> FanOutAsync(Target target, int count, int? rate, int seconds, int size, CancellationToken cancellationToken)
{
    List<Member> members = await JoinAsync(target, count, cancellationToken);
    var problems = new List<string>();
    try
    {
        CheckSpread(members, target, problems);

        // Every member on every server announced itself to the others: the first to join saw all the others join.
        await WaitForAsync(() => members[0].Joins >= count - 1, TimeSpan.FromSeconds(10), cancellationToken);
        if (members[0].Joins < count - 1)
        {
            problems.Add($"the first member saw {members[0].Joins} of the {count - 1} others join");
        }

        ProcessStats before = ProcessStats.Of([.. target.Pids, Environment.ProcessId]);
        long started = Stopwatch.GetTimestamp();
        using (var stop = new CancellationTokenSource(TimeSpan.FromSeconds(seconds)))
        {
            await Task.WhenAll(members.Select(m => Task.Run(() => m.SendAsync(rate, size, stop.Token), cancellationToken)));
        }

        double sending = Stopwatch.GetElapsedTime(started).TotalSeconds;
        await SettleAsync(members, cancellationToken);
        ProcessStats used = ProcessStats.Of([.. target.Pids, Environment.ProcessId]) - before;
        Verdict verdict = Verdict.Judge(members);
        problems.AddRange(verdict.Problems);
        if (members.Any(m => m.Reconnects > 0))
        {
            problems.Add($"{members.Sum(m => m.Reconnects)} reconnect(s) with nothing restarted");
        }

        if (verdict.Excused > 0)
        {
            problems.Add($"{verdict.Excused} deliveries missed by members that were not connected throughout, with nothing restarted");
        }

        Console.WriteLine($"fanout: {count} {(target.Pipelined ? "pipelined" : "lock-step")} members, {(rate is null ? "as fast as they go" : $"{rate} lines/s each")}, {size}-byte lines, {sending:0.0} s: {verdict.Accepted} lines sent and accepted, {verdict.Delivered} deliveries of {verdict.Required} due, {verdict.Lost} lost, {verdict.Duplicates} twice, {verdict.OutOfOrder} out of order");
        Report("fanout_lines_per_second", verdict.Accepted / sending);
        Report("fanout_deliveries_per_second", verdict.Delivered / sending);
        Report("fanout_deliveries_per_second_per_server", verdict.Delivered / sending / target.Servers);
        ReportLatency(verdict.LatenciesMs);
        if (target.Pids.Length > 0)
        {
            Report("fanout_context_switches_per_delivery", (double)used.ContextSwitches / Math.Max(1, verdict.Delivered));
        }

        // Leaving is announced across servers too: the first member sees every other one leave.
        int leavesBefore = members[0].Leaves;
        foreach (Member member in members.Skip(1))
        {
            await member.DisposeAsync();
        }

        await WaitForAsync(() => members[0].Leaves - leavesBefore >= count - 1, TimeSpan.FromSeconds(10), cancellationToken);
        if (members[0].Leaves - leavesBefore < count - 1)
        {
            problems.Add($"the first member saw {members[0].Leaves - leavesBefore} of the {count - 1} others leave");
        }

        Console.WriteLine($"fanout: joins and leaves crossed servers: the first member saw {members[0].Joins} join and {members[0].Leaves - leavesBefore} leave");
    }
    finally
    {
        foreach (Member member in members)
        {
            await member.DisposeAsync();
        }
    }

    return Finish("fanout", problems);
}

static async Task<int> RollingAsync(Target target, int count, int rate, int size, CancellationToken cancellationToken)
{
    List<Member> members = await JoinAsync(target, count, cancellationToken);
    var problems = new List<string>();
    try
    {
        CheckSpread(members, target, problems);
        long started = Stopwatch.GetTimestamp();
        using var stop = new CancellationTokenSource();
        Task[] sending = [.. members.Select(m => Task.Run(() => m.SendAsync(rate, size, stop.Token), cancellationToken))];

        // The script restarts the servers meanwhile and says so on standard input, which ends when it is done.
        while (await Console.In.ReadLineAsync(cancellationToken) is { } line)
        {
            Console.WriteLine($"rolling: {Stopwatch.GetElapsedTime(started).TotalSeconds,5:0.0} s: {line}");
        }

        await stop.CancelAsync();
        await Task.WhenAll(sending);
        await SettleAsync(members, cancellationToken);
        Verdict verdict = Verdict.Judge(members);
        problems.AddRange(verdict.Problems);
        int reconnects = members.Sum(m => m.Reconnects);
        if (reconnects == 0)
        {
            problems.Add("no member reconnected: no server was restarted, so nothing was checked across a restart");
        }

        foreach (string refusal in members.SelectMany(m => m.Refusals).Take(5))
        {
            Console.WriteLine($"rolling: told failed (not a loss): {refusal}");
        }

        Console.WriteLine($"rolling: {count} members, {rate} lines/s each, {Stopwatch.GetElapsedTime(started).TotalSeconds:0.0} s, {reconnects} reconnects: {verdict.Accepted} lines accepted, {verdict.NotAccepted} failed and told so; {verdict.Required} deliveries due to members connected throughout, {verdict.Delivered} delivered in all, {verdict.Lost} lost, {verdict.Duplicates} twice, {verdict.OutOfOrder} out of order; {verdict.Excused} missed by members while they reconnected (at most once)");
        Report("rolling_reconnects", reconnects);
        Report("rolling_lines_accepted", verdict.Accepted);
        Report("rolling_lines_failed_told", verdict.NotAccepted);
        Report("rolling_deliveries_due", verdict.Required);
        Report("rolling_lost", verdict.Lost);
        Report("rolling_missed_while_reconnecting", verdict.Excused);
    }
    finally
    {
        foreach (Member member in members)
        {
            await member.DisposeAsync();
        }
    }

    return Finish("rolling", problems);
}

static async Task<int> ConnectionsAsync(Target target, int count, CancellationToken cancellationToken)
{
    var problems = new List<string>();
    ProcessStats before = ProcessStats.Of(target.Pids);
    var everyone = new Member(-1);
    await using var client = new TinyProtoClient(new StderrLogger("connections"));
    client.SetConnectionHandler(() => new MemberConnection(everyone));
    var connections = new TinyProtoConnection[count];
    long started = Stopwatch.GetTimestamp();
    int next = -1;
    await Task.WhenAll(Enumerable.Range(0, Math.Min(64, count)).Select(_ => Task.Run(async () =>
    {
        for (int i; (i = Interlocked.Increment(ref next)) < count;)
        {
            connections[i] = await client.ConnectAsync(target.Host, target.Port, cancellationToken);
        }
    }, cancellationToken)));
    await WaitForAsync(() => everyone.Welcomes >= count, TimeSpan.FromSeconds(60), cancellationToken);
    double joining = Stopwatch.GetElapsedTime(started).TotalSeconds;

    // Each join is announced to everyone already there: wait until the last member heard of nobody new for a moment.
    int heard;
    do
    {
        heard = everyone.Joins;
        await Task.Delay(500, cancellationToken);
    }
    while (everyone.Joins != heard);
    ProcessStats held = ProcessStats.Of(target.Pids);
    double settled = Stopwatch.GetElapsedTime(started).TotalSeconds;
    problems.AddRange(everyone.Failures);
    int servers = everyone.Connections.Select(c => c.Server).Distinct().Count();
    if (servers != target.Servers)
    {
        problems.Add($"the members landed on {servers} server(s), not {target.Servers}");
    }

    // Each join reaches those attached before its notice was published: at least the ones before it, and at most all.
    long expectedJoins = (long)count * (count - 1) / 2;
    Console.WriteLine($"connections: {count} members joined through the balancer in {joining:0.00} s ({count / joining:0} a second; each welcomed with its own address), on {servers} servers; {everyone.Joins} join notices arrived (at least {expectedJoins} due) in {settled:0.0} s");
    if (everyone.Joins < expectedJoins || everyone.Joins > 2 * expectedJoins)
    {
        problems.Add($"{everyone.Joins} join notices arrived, not from {expectedJoins} to {2 * expectedJoins}");
    }

    Report("connections_joined_per_second", count / joining);
    if (target.Pids.Length > 0)
    {
        Report("connections_resident_kib_per_member", (double)(held.ResidentKiB - before.ResidentKiB) / count);
    }

    foreach (TinyProtoConnection connection in connections)
    {
        await connection.CloseAsync(cancellationToken);
    }

    return Finish("connections", problems);
}

static async Task<List<Member>> JoinAsync(Target target, int count, CancellationToken cancellationToken)
{
    var members = new List<Member>();
    for (int i = 0; i < count; i++)
    {
        var member = new Member(i);
        members.Add(member);
        await member.ConnectAsync(target.Host, target.Port, target.Pipelined, cancellationToken);
    }

    return members;
}

// Round robin behind the balancer: the members are on every server, so a line crosses servers to reach most of them.
static void CheckSpread(List<Member> members, Target target, List<string> problems)
{
    string?[] servers = [.. members.Select(m => m.Connections.First().Server).Distinct()];
    Console.WriteLine($"members on servers: {string.Join(", ", members.GroupBy(m => m.Connections.First().Server).Select(g => $"{g.Key}: {g.Count()}"))}");
    if (servers.Length != Math.Min(target.Servers, members.Count))
    {
        problems.Add($"the members landed on {servers.Length} server(s), not {target.Servers}");
    }
}

// Lines still on their way arrive within the grace; wait that long and a little.
static Task SettleAsync(List<Member> members, CancellationToken cancellationToken) =>
    Task.Delay(Verdict.Grace + TimeSpan.FromMilliseconds(500), cancellationToken);

static async Task WaitForAsync(Func<bool> condition, TimeSpan limit, CancellationToken cancellationToken)
{
    long start = Stopwatch.GetTimestamp();
    while (!condition() && Stopwatch.GetElapsedTime(start) < limit)
    {
        await Task.Delay(10, cancellationToken);
    }
}

static void ReportLatency(List<double> latencies)
{
    if (latencies.Count == 0)
    {
        return;
    }

    latencies.Sort();
    Report("fanout_latency_p50_ms", latencies[latencies.Count / 2]);
    Report("fanout_latency_p99_ms", latencies[(int)(latencies.Count * 0.99)]);
    Report("fanout_latency_max_ms", latencies[^1]);
}

static void Report(string name, double value) => Console.WriteLine(FormattableString.Invariant($"RESULT {name}={value:0.###}"));

static int Finish(string check, List<string> problems)
{
    foreach (string problem in problems.Take(30))
    {
        Console.WriteLine($"{check}: FAILED: {problem}");
    }

    Console.WriteLine(problems.Count == 0 ? $"{check}: OK" : $"{check}: FAILED ({problems.Count} problem(s))");
    return problems.Count == 0 ? 0 : 1;
}

/// <summary>Where the balancer is, how many servers are behind it, and which processes to count.</summary>
internal sealed record Target(string Host, int Port, int Servers, int[] Pids, bool Pipelined);
