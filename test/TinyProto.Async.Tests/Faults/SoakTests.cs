using System.Buffers;
using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using Xunit.Abstractions;

namespace TinyProto.Async.Tests.Faults;

/// <summary>
/// Many clients, each way checksummed messages, lock-step and pipelined, through a <see cref="FaultProxy"/> that
/// splits, delays, stalls, resets and half-closes a third of the connections at drawn byte offsets. What must hold:
/// nothing is delivered twice, out of order, corrupted or in part; on a connection without a fault every transmission
/// that completed was delivered; on one with a fault only the last ones before it may be missing (the protocol has no
/// acknowledgement after a payload: lock-step at most the last one, pipelined at most the last batch); every server
/// connection runs PostLoopAsync and ConnectionShutdownAsync exactly once; and afterwards the server holds no
/// connection, and its memory and file descriptors are back near where they were.
/// </summary>
/// <remarks>
/// CI runs a short soak (50 clients x 150 messages each way). <c>test/soak.sh</c> runs the long one with
/// <c>TINYPROTO_SOAK_MESSAGES</c>, <c>TINYPROTO_SOAK_CLIENTS</c>, <c>TINYPROTO_SOAK_SEED</c> and
/// <c>TINYPROTO_SOAK_REPORT</c> (a file the figures are written to).
/// </remarks>
[Collection(nameof(AllocationGuardTestGroup))]
public sealed class SoakTests(ITestOutputHelper output) : ConnectionTestBase(TimeSpan.FromMinutes(10))
{
    private const int PipelinedBatch = 8;
    private const int ServerIndex = -1;

    [Fact]
    public async Task ClientsThroughAFaultInjectingProxy_LoseNothingTheyWereToldWasSent_AndTheServerEndsClean()
    {
        int clients = Setting("TINYPROTO_SOAK_CLIENTS", 50);
        int messages = Setting("TINYPROTO_SOAK_MESSAGES", 150);
        int seed = Setting("TINYPROTO_SOAK_SEED", 15);
        var clock = Stopwatch.StartNew();
        long memoryBefore = ManagedMemory();
        int descriptorsBefore = OpenDescriptors();

        var server = new SoakServer(messages);
        server.ConnectionOptions.Timeout = TimeSpan.FromSeconds(2);
        server.ConnectionOptions.IdleTimeout = TimeSpan.FromSeconds(4);
        await StartLoopbackAsync(server);
        var plans = new ConcurrentDictionary<int, (FaultPlan ToServer, FaultPlan ToClient)>();
        var proxy = new FaultProxy(PortOf(server), index =>
        {
            // A third of the connections get a fault somewhere in their first few messages' bytes, either way.
            var random = new Random(seed * 7919 + index);
            long within = 1 + (messages * 120L);
            (FaultPlan, FaultPlan) plan = random.Next(2) == 0
                ? (FaultPlan.Draw(random, 0.33, within), FaultPlan.Draw(random, 0, within))
                : (FaultPlan.Draw(random, 0, within), FaultPlan.Draw(random, 0.33, within));
            plans[index] = plan;
            return plan;
        });

        var lockStep = new TinyProtoClient();
        var pipelined = new TinyProtoClient();
        foreach (TinyProtoClient each in new[] { lockStep, pipelined })
        {
            each.ConnectionOptions.Timeout = TimeSpan.FromSeconds(2);
        }

        pipelined.ConnectionOptions.RequestPipelining = true;
        var members = new SoakClient[clients];
        for (int i = 0; i < clients; i++)
        {
            // Connected one after another: client i is the proxy's connection i.
            members[i] = new SoakClient(i, pipelined: i % 2 == 1);
            await members[i].ConnectAsync(members[i].Pipelined ? pipelined : lockStep, proxy.Port, TimeoutToken);
        }

        await Bounded(Task.WhenAll(members.Select(m => m.RunAsync(messages, seed))));

        // Whatever is still open (a stalled direction, a half-closed one) ends with the proxy's sockets.
        await lockStep.DisposeAsync();
        await pipelined.DisposeAsync();
        await proxy.DisposeAsync();
        await WaitUntilAsync(() => server.ActiveConnections.Count == 0 && server.Ended == server.Started);

        var problems = new List<string>();
        SoakReport report = Judge(members, server, proxy, plans, messages, problems);
        await server.DisposeAsync();
        long memoryGrowth = ManagedMemory() - memoryBefore;
        int descriptorGrowth = OpenDescriptors() - descriptorsBefore;
        string figures = string.Create(CultureInfo.InvariantCulture, $"""
            soak: {clients} clients (half lock-step, half pipelined) x {messages} messages each way, seed {seed}, {clock.Elapsed.TotalSeconds:0.0} s
            faults injected: {proxy.Injected.Length} ({string.Join(", ", proxy.Injected.GroupBy(f => f.Split(' ')[2]).Select(g => $"{g.Count()} {g.Key}"))}) on {report.FaultedConnections} of {clients} connections
            messages checked: {report.Delivered} delivered whole (each checksum verified), of {report.Completed} transmissions that completed and {report.Failed} that threw
            lost: {report.Lost} on connections without a fault; {report.InFlight} completed just before a fault (allowed: the protocol acknowledges no payload)
            twice: {report.Twice}, out of order: {report.OutOfOrder}, corrupt or partial: {report.Corrupt}
            server hooks: PostLoopAsync {server.PostLoops} and ConnectionShutdownAsync {server.Shutdowns} for {server.Started} connections
            afterwards: managed memory {memoryGrowth / 1024.0 / 1024.0:+0.0;-0.0} MiB, file descriptors {descriptorGrowth:+0;-0}
            """);
        output.WriteLine(figures);
        if (Environment.GetEnvironmentVariable("TINYPROTO_SOAK_REPORT") is { Length: > 0 } path)
        {
            await File.WriteAllTextAsync(path, figures + "\n" + string.Join('\n', problems.Prepend("problems:")) + "\n");
        }

        if (memoryGrowth > 32L * 1024 * 1024)
        {
            problems.Add($"the managed memory grew by {memoryGrowth / 1024 / 1024} MiB");
        }

        if (descriptorGrowth > 16)
        {
            problems.Add($"{descriptorGrowth} more file descriptors are open than before");
        }

        Assert.True(problems.Count == 0, figures + "\n" + string.Join("\n", problems.Take(30)));
    }

    private static SoakReport Judge(SoakClient[] members, SoakServer server, FaultProxy proxy, ConcurrentDictionary<int, (FaultPlan ToServer, FaultPlan ToClient)> plans, int messages, List<string> problems)
    {
        var report = new SoakReport();
        problems.AddRange(server.Problems);
        var faulted = new HashSet<int>(proxy.Injected.Select(f => int.Parse(f.Split(' ')[1].TrimEnd(':'), CultureInfo.InvariantCulture)));
        report.FaultedConnections = faulted.Count;
        foreach (SoakClient member in members)
        {
            problems.AddRange(member.Problems);
            bool hasFault = faulted.Contains(member.Index);
            string where = $"client {member.Index} ({(member.Pipelined ? "pipelined" : "lock-step")}, {plans[member.Index].ToServer} / {plans[member.Index].ToClient})";

            // Client to server.
            server.ReceivedFrom.TryGetValue(member.Index, out ConcurrentQueue<int>? atServer);
            Check(where + " -> server", member.CompletedSequences, atServer?.ToArray() ?? [], member.SentCount, hasFault, member.Pipelined, report, problems);

            // Server to client.
            int[] sentByServer = server.CompletedTo.TryGetValue(member.Index, out ConcurrentQueue<int>? completed) ? [.. completed] : [];
            int sentCount = server.SentTo.TryGetValue(member.Index, out int count) ? count : 0;
            Check("server -> " + where, sentByServer, [.. member.Received], sentCount, hasFault, member.Pipelined, report, problems);
        }

        if (server.PostLoops != server.Started || server.Shutdowns != server.Started || server.MaxHookCallsPerConnection > 1)
        {
            problems.Add($"server hooks: {server.Started} connections, {server.PostLoops} PostLoopAsync, {server.Shutdowns} ConnectionShutdownAsync, at most {server.MaxHookCallsPerConnection} per connection");
        }

        report.Corrupt = server.Corrupt + members.Sum(m => m.Corrupt);
        return report;
    }

    /// <summary>One direction of one connection: what the sender completed and threw, against what arrived.</summary>
    private static void Check(string direction, IReadOnlyList<int> completed, int[] delivered, int sent, bool hasFault, bool pipelined, SoakReport report, List<string> problems)
    {
        report.Completed += completed.Count;
        report.Failed += sent - completed.Count;
        report.Delivered += delivered.Length;
        if (delivered.Distinct().Count() != delivered.Length)
        {
            report.Twice += delivered.Length - delivered.Distinct().Count();
            problems.Add($"{direction}: a message was delivered twice");
        }

        for (int i = 1; i < delivered.Length; i++)
        {
            if (delivered[i] <= delivered[i - 1])
            {
                report.OutOfOrder++;
                problems.Add($"{direction}: message {delivered[i]} arrived after {delivered[i - 1]}");
            }
        }

        if (delivered.Any(s => s >= sent))
        {
            problems.Add($"{direction}: a message arrived that was never sent ({delivered.Max()} of {sent})");
        }

        var arrived = delivered.ToHashSet();
        int[] missing = [.. completed.Where(s => !arrived.Contains(s))];
        if (missing.Length == 0)
        {
            return;
        }

        if (!hasFault)
        {
            report.Lost += missing.Length;
            problems.Add($"{direction}: lost {missing.Length} messages whose transmission completed, with no fault injected (first: {missing[0]})");
            return;
        }

        // Only the last transmissions before the fault: lock-step the last one, pipelined the last batch.
        int allowed = pipelined ? PipelinedBatch : 1;
        int[] suffix = [.. completed.TakeLast(missing.Length)];
        if (missing.Length > allowed || !missing.SequenceEqual(suffix))
        {
            report.Lost += missing.Length;
            problems.Add($"{direction}: {missing.Length} completed messages missing after the fault, not just the last {allowed} ({string.Join(",", missing.Take(10))})");
            return;
        }

        report.InFlight += missing.Length;
    }

    private static int Setting(string name, int fallback) =>
        int.TryParse(Environment.GetEnvironmentVariable(name), NumberStyles.None, CultureInfo.InvariantCulture, out int value) && value > 0 ? value : fallback;

    private static long ManagedMemory()
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        return GC.GetTotalMemory(forceFullCollection: true);
    }

    private static int OpenDescriptors() => Directory.Exists("/proc/self/fd") ? Directory.GetFiles("/proc/self/fd").Length : 0;

    /// <summary>[from: int32][sequence: int32][payload][FNV-1a of what precedes: uint32], all little-endian.</summary>
    private static byte[] Message(int from, int sequence, int seed)
    {
        var random = new Random(HashCode.Combine(seed, from, sequence));
        byte[] message = new byte[8 + random.Next(0, 240) + 4];
        BinaryPrimitives.WriteInt32LittleEndian(message, from);
        BinaryPrimitives.WriteInt32LittleEndian(message.AsSpan(4), sequence);
        random.NextBytes(message.AsSpan(8, message.Length - 12));
        BinaryPrimitives.WriteUInt32LittleEndian(message.AsSpan(message.Length - 4), Fnv(message.AsSpan(0, message.Length - 4)));
        return message;
    }

    /// <summary>The message's sender and sequence, if it is whole and its checksum holds.</summary>
    private static bool TryRead(ReadOnlySequence<byte> message, out int from, out int sequence)
    {
        byte[] bytes = message.ToArray();
        from = sequence = 0;
        if (bytes.Length < 12 || BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(bytes.Length - 4)) != Fnv(bytes.AsSpan(0, bytes.Length - 4)))
        {
            return false;
        }

        from = BinaryPrimitives.ReadInt32LittleEndian(bytes);
        sequence = BinaryPrimitives.ReadInt32LittleEndian(bytes.AsSpan(4));
        return true;
    }

    private static uint Fnv(ReadOnlySpan<byte> bytes)
    {
        uint hash = 2166136261;
        foreach (byte b in bytes)
        {
            hash = (hash ^ b) * 16777619;
        }

        return hash;
    }

    private sealed class SoakReport
    {
        public int FaultedConnections { get; set; }

        public long Completed { get; set; }

        public long Failed { get; set; }

        public long Delivered { get; set; }

        public long Lost { get; set; }

        public long InFlight { get; set; }

        public long Twice { get; set; }

        public long OutOfOrder { get; set; }

        public long Corrupt { get; set; }
    }

    /// <summary>One client: sends its messages (lock-step one by one, pipelined in batches) while it checks what the server sends.</summary>
    private sealed class SoakClient(int index, bool pipelined)
    {
        private readonly ConcurrentQueue<int> _received = new();
        private readonly ConcurrentQueue<string> _problems = new();
        private readonly List<int> _completed = [];
        private TinyProtoConnection? _connection;
        private int _corrupt;

        public int Index { get; } = index;

        public bool Pipelined { get; } = pipelined;

        public int SentCount { get; private set; }

        public IReadOnlyList<int> CompletedSequences => _completed;

        public int[] Received => [.. _received];

        public string[] Problems => [.. _problems];

        public int Corrupt => Volatile.Read(ref _corrupt);

        public async Task ConnectAsync(TinyProtoClient client, int port, CancellationToken cancellationToken)
        {
            _connection = await client.ConnectAsync("127.0.0.1", port, cancellationToken);
            if (_connection.IsPipelined != Pipelined)
            {
                _problems.Enqueue($"client {Index}: pipelined is {_connection.IsPipelined}, asked for {Pipelined}");
            }
        }

        public async Task RunAsync(int messages, int seed)
        {
            TinyProtoConnection connection = _connection!;
            Task receiving = ReceiveAsync(connection);
            try
            {
                if (Pipelined)
                {
                    for (int first = 0; first < messages; first += PipelinedBatch)
                    {
                        int[] batch = [.. Enumerable.Range(first, Math.Min(PipelinedBatch, messages - first))];
                        SentCount += batch.Length;
                        await connection.TransmitManyAsync([.. batch.Select(s => (ReadOnlyMemory<byte>)Message(Index, s, seed))]);
                        _completed.AddRange(batch);
                    }
                }
                else
                {
                    for (int sequence = 0; sequence < messages; sequence++)
                    {
                        SentCount++;
                        await connection.TransmitAsync(Message(Index, sequence, seed));
                        _completed.Add(sequence);
                    }
                }
            }
            catch (TinyProtoException)
            {
                // The connection's end (a fault): the rest is not sent.
            }

            // The server's messages, until it is done or the connection ends.
            await Task.WhenAny(receiving, Task.Delay(TimeSpan.FromSeconds(3)));
            await connection.CloseAsync();
            await receiving;
        }

        private async Task ReceiveAsync(TinyProtoConnection connection)
        {
            try
            {
                while (true)
                {
                    byte[] message = await connection.ReceiveAsync();
                    if (!TryRead(new ReadOnlySequence<byte>(message), out int from, out int sequence) || from != ServerIndex)
                    {
                        Interlocked.Increment(ref _corrupt);
                        _problems.Enqueue($"client {Index} got a message that is not whole or not the server's ({message.Length} bytes)");
                        continue;
                    }

                    _received.Enqueue(sequence);
                }
            }
            catch (TinyProtoException)
            {
                // Closed.
            }
        }
    }

    /// <summary>Checks and records every message; once a connection names its client, sends it its messages.</summary>
    private sealed class SoakServer : TinyProtoServer
    {
        private readonly ConcurrentDictionary<Guid, int> _hookCalls = new();
        private readonly ConcurrentQueue<string> _problems = new();
        private int _started;
        private int _ended;
        private int _postLoops;
        private int _shutdowns;
        private int _corrupt;

        public SoakServer(int messages) => SetConnectionHandler(() => new SoakConnection(this, messages));

        public ConcurrentDictionary<int, ConcurrentQueue<int>> ReceivedFrom { get; } = new();

        public ConcurrentDictionary<int, ConcurrentQueue<int>> CompletedTo { get; } = new();

        public ConcurrentDictionary<int, int> SentTo { get; } = new();

        public string[] Problems => [.. _problems];

        public int Started => Volatile.Read(ref _started);

        public int Ended => Volatile.Read(ref _ended);

        public int PostLoops => Volatile.Read(ref _postLoops);

        public int Shutdowns => Volatile.Read(ref _shutdowns);

        public int Corrupt => Volatile.Read(ref _corrupt);

        public int MaxHookCallsPerConnection => _hookCalls.Values.DefaultIfEmpty(0).Max() / 2;

        protected override ValueTask ConnectionInitAsync(Guid id, TinyProtoConnection connection, CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref _started);
            return default;
        }

        protected override ValueTask ConnectionShutdownAsync(Guid id, TinyProtoConnection connection, CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref _shutdowns);
            _hookCalls.AddOrUpdate(id, 1, (_, n) => n + 1);
            Interlocked.Increment(ref _ended);
            return default;
        }

        private sealed class SoakConnection(SoakServer owner, int messages) : TinyProtoConnection
        {
            private int _client = int.MinValue;
            private Task _sending = Task.CompletedTask;

            protected override ValueTask TransmissionReceivedAsync(ReadOnlySequence<byte> message, CancellationToken cancellationToken)
            {
                if (!TryRead(message, out int from, out int sequence) || from < 0 || (_client != int.MinValue && from != _client))
                {
                    Interlocked.Increment(ref owner._corrupt);
                    owner._problems.Enqueue($"the server got a message that is not whole or not its client's ({message.Length} bytes)");
                    return default;
                }

                owner.ReceivedFrom.GetOrAdd(from, _ => new ConcurrentQueue<int>()).Enqueue(sequence);
                if (_client == int.MinValue)
                {
                    _client = from;
                    _sending = Task.Run(() => SendAsync(from), CancellationToken.None);
                }

                return default;
            }

            protected override async ValueTask PostLoopAsync(CancellationToken cancellationToken)
            {
                Interlocked.Increment(ref owner._postLoops);
                owner._hookCalls.AddOrUpdate(Id, 1, (_, n) => n + 1);
                await _sending;
            }

            private async Task SendAsync(int client)
            {
                ConcurrentQueue<int> completed = owner.CompletedTo.GetOrAdd(client, _ => new ConcurrentQueue<int>());
                try
                {
                    for (int sequence = 0; sequence < messages; sequence++)
                    {
                        owner.SentTo.AddOrUpdate(client, 1, (_, n) => n + 1);
                        await TransmitAsync(Message(ServerIndex, sequence, client));
                        completed.Enqueue(sequence);
                    }
                }
                catch (Exception ex) when (ex is TinyProtoException or InvalidOperationException)
                {
                    // The connection ended.
                }
            }
        }
    }
}
