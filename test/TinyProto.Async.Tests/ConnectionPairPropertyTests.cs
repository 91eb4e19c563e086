using System.Text.RegularExpressions;
using CsCheck;
using Xunit.Abstractions;

namespace TinyProto.Async.Tests;

/// <summary>
/// A model-based property test of a connected pair (CsCheck: generated operation lists, shrunk to the shortest failing
/// one, replayable from the seed it prints): random interleavings of transmissions and batches from both ends
/// (lock-step or pipelined), receives, cancellations (of a token before the call, or of a transmission already under
/// way), closes from either end and a graceful stop of the server at any point, against a model of what each end may
/// deliver. In half the runs, messages above 1,000 bytes are streamed to the receiver rather than buffered whole.
/// </summary>
/// <remarks>
/// <para>
/// Until the first close or late cancellation, the model is exact: two FIFO queues, every receive gets the oldest
/// message the model has for it, and a transmission cancelled before it began sends nothing.
/// </para>
/// <para>
/// From then on what happens depends on timing (a cancellation may find its transmission waiting for its turn, under way,
/// or done; a close may find the peer's header before or after it stopped reading), so every operation is recorded and
/// the run is checked against what the library promises whatever the timing:
/// </para>
/// <list type="bullet">
/// <item>everything ends: every call returns, both ends complete, and the run never waits on time (the connections'
/// timeouts are off);</item>
/// <item>each end delivers, in order and once, messages its peer transmitted, skipping only transmissions that were
/// cancelled (one cancelled while it waited its turn leaves the connection as it was); after any other gap nothing more
/// arrives;</item>
/// <item>nothing is delivered that was cancelled before it began, or transmitted after its sender's own close began, and
/// such a transmission never completes;</item>
/// <item>nothing whose transmission completed is lost, unless the receiver closed (messages nobody took are dropped by
/// a local close) or a transmission under way was cancelled (which cuts the connection: the protocol acknowledges a
/// header, never a payload);</item>
/// <item>a receive called after its own end's close began fails; once a receive fails, every later one fails;</item>
/// <item>errors are only <see cref="TinyProtoError.ConnectionClosed"/>, <see cref="TinyProtoError.ProtocolViolation"/>
/// at the peer of a connection cut inside a message, or <see cref="TinyProtoError.MessageRefused"/> with 0xFD from a
/// stopping server; an end that closed or stopped completes cleanly unless the connection was cut, and its peer faults
/// only with <see cref="TinyProtoError.ConnectionClosed"/> (the close stopped reading a payload it was sending).</item>
/// <item>a stopping server still delivers everything it accepted, and its completed transmissions arrive.</item>
/// </list>
/// <para>
/// <c>TINYPROTO_PROPERTY_RUNS</c> sets the number of runs of each test (a long run); each test writes what its runs
/// covered to the test output.
/// </para>
/// </remarks>
public sealed class ConnectionPairPropertyTests(ITestOutputHelper output) : ConnectionTestBase(TimeSpan.FromMinutes(8))
{
    private enum Kind
    {
        ClientSends,
        ServerSends,
        ClientSendsBatch,
        ServerSendsBatch,
        ClientReceives,
        ServerReceives,
        ClientSendsCancelled,
        ServerSendsCancelled,
        ClientCancelsItsLast,
        ServerCancelsItsLast,
        ClientCloses,
        ServerCloses,
        ServerStops,
    }

    private readonly record struct Step(Kind Kind, int Size)
    {
        /// <summary>A batch's messages: 2 to 5, of up to 300 bytes each, drawn from the step.</summary>
        public byte[][] Batch(int step)
        {
            var random = new Random(step);
            return [.. Enumerable.Range(0, 2 + (Size % 4)).Select(_ => Payload(random.Next(0, 301), random.Next()))];
        }

        public override string ToString() => Kind switch
        {
            Kind.ClientSends or Kind.ServerSends or Kind.ClientSendsCancelled or Kind.ServerSendsCancelled => $"{Kind}({Size})",
            Kind.ClientSendsBatch or Kind.ServerSendsBatch => $"{Kind}({2 + (Size % 4)})",
            _ => Kind.ToString(),
        };
    }

    /// <summary>
    /// One run. <paramref name="StreamAbove"/> is both ends' <see cref="TinyProtoConnectionOptions.MaxBufferedMessageSize"/>:
    /// with 1,000, every larger message is streamed to the receiver while it arrives (and <c>ReceiveAsync</c> reads it
    /// off the wire after taking it); with <see langword="null"/>, the default, all of them are buffered whole.
    /// </summary>
    private sealed record Run(Step[] Steps, bool Pipelined, bool ClientClosesLast, int PauseThreshold, int? StreamAbove)
    {
        public override string ToString() =>
            $"{(Pipelined ? "pipelined" : "lock-step")}, pause at {PauseThreshold}, {(StreamAbove is { } limit ? $"streamed above {limit} B" : "all buffered")}, then the {(ClientClosesLast ? "client" : "server")} closes: {string.Join(" ", Steps)}";
    }

    private static readonly Gen<int> Sizes = Gen.Frequency((6, Gen.Int[0, 300]), (1, Gen.Int[301, 40_000]));

    private static Gen<Run> Runs(Gen<Kind> kinds) =>
        Gen.Select(
            Gen.Select(kinds, Sizes, (kind, size) => new Step(kind, size)).Array[0, 60],
            Gen.Bool,
            Gen.Bool,
            Gen.OneOfConst(64, 4096, 1024 * 1024),
            Gen.OneOfConst<int?>(null, 1000),
            (steps, pipelined, clientCloses, pause, streamAbove) => new Run(steps, pipelined, clientCloses, pause, streamAbove));

    /// <summary>Transmissions, receives and cancellations before the call; one end closes at the end.</summary>
    private static readonly Gen<Kind> OpenKinds = Gen.Frequency(
        (10, Gen.Const(Kind.ClientSends)), (10, Gen.Const(Kind.ServerSends)),
        (2, Gen.Const(Kind.ClientSendsBatch)), (2, Gen.Const(Kind.ServerSendsBatch)),
        (10, Gen.Const(Kind.ClientReceives)), (10, Gen.Const(Kind.ServerReceives)),
        (2, Gen.Const(Kind.ClientSendsCancelled)), (2, Gen.Const(Kind.ServerSendsCancelled)));

    /// <summary>All of those, and cancellations of a transmission under way and closes from either end at any point.</summary>
    private static readonly Gen<Kind> AllKinds = Gen.Frequency(
        (10, Gen.Const(Kind.ClientSends)), (10, Gen.Const(Kind.ServerSends)),
        (2, Gen.Const(Kind.ClientSendsBatch)), (2, Gen.Const(Kind.ServerSendsBatch)),
        (10, Gen.Const(Kind.ClientReceives)), (10, Gen.Const(Kind.ServerReceives)),
        (2, Gen.Const(Kind.ClientSendsCancelled)), (2, Gen.Const(Kind.ServerSendsCancelled)),
        (1, Gen.Const(Kind.ClientCancelsItsLast)), (1, Gen.Const(Kind.ServerCancelsItsLast)),
        (1, Gen.Const(Kind.ClientCloses)), (1, Gen.Const(Kind.ServerCloses)),
        (1, Gen.Const(Kind.ServerStops)));

    private readonly Coverage _coverage = new();

    [Fact]
    public async Task AnyInterleavingOfTransmitsReceivesAndCancellationsBeforeTheCall_MatchesTheExactModel()
    {
        await Runs(OpenKinds).SampleAsync(RunAsync, iter: RunCount(300), threads: 1, print: r => r.ToString());
        output.WriteLine(_coverage.ToString());
    }

    [Fact]
    public async Task ClosesFromEitherEndAndCancellationsOfTransmissionsUnderWayAtAnyPoint_KeepWhatTheLibraryPromises()
    {
        await Runs(AllKinds).SampleAsync(RunAsync, iter: RunCount(400), threads: 1, print: r => r.ToString());
        output.WriteLine(_coverage.ToString());
        Assert.True(_coverage.Cut > 0 && _coverage.ClosedMidRun > 0, $"The runs never reached what this test is for: {_coverage}");
    }

    private static int RunCount(int fallback) =>
        int.TryParse(Environment.GetEnvironmentVariable("TINYPROTO_PROPERTY_RUNS"), out int runs) && runs > 0 ? runs : fallback;

    private async Task RunAsync(Run run)
    {
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(TimeoutToken);
        limit.CancelAfter(TimeSpan.FromSeconds(20));
        var client = new End("client", new TinyProtoConnection(), limit.Token);
        var server = new End("server", new TinyProtoConnection(), limit.Token);
        client.Connection.Options.RequestPipelining = run.Pipelined;
        foreach (End end in new[] { client, server })
        {
            // Nothing here waits on time: a hang is the run's limit, not a timeout that would end a connection.
            end.Connection.Options.Timeout = Timeout.InfiniteTimeSpan;
            if (run.StreamAbove is { } streamAbove)
            {
                end.Connection.Options.MaxBufferedMessageSize = streamAbove;
            }
        }

        await StartPairAsync(client.Connection, server.Connection, run.PauseThreshold);
        Assert.Equal(run.Pipelined, client.Connection.IsPipelined);

        // Exact while nothing has closed or been cancelled under way: each end's messages still to be received.
        bool exact = true;
        for (int step = 0; step < run.Steps.Length; step++)
        {
            Step s = run.Steps[step];
            End own = s.Kind is Kind.ClientSends or Kind.ClientSendsBatch or Kind.ClientReceives or Kind.ClientSendsCancelled or Kind.ClientCancelsItsLast or Kind.ClientCloses ? client : server;
            End peer = own == client ? server : client;
            switch (s.Kind)
            {
                case Kind.ClientSends or Kind.ServerSends:
                    own.Transmit(step, Payload(s.Size, step), precancelled: false);
                    break;
                case Kind.ClientSendsBatch or Kind.ServerSendsBatch:
                    own.TransmitBatch(step, s.Batch(step));
                    break;
                case Kind.ClientSendsCancelled or Kind.ServerSendsCancelled:
                    own.Transmit(step, Payload(s.Size, step), precancelled: true);
                    break;
                case Kind.ClientReceives or Kind.ServerReceives when exact:
                    // Only when the model has a message for it: it must come, and it must be the oldest.
                    Attempt? oldest = peer.OldestUnreceived(own.Delivered.Count);
                    if (oldest is not null)
                    {
                        byte[] message = await own.Connection.ReceiveAsync(limit.Token);
                        Assert.Equal(oldest.Payload, message);
                        own.Received.Add(new Receipt(step, message, null));
                    }

                    break;
                case Kind.ClientReceives or Kind.ServerReceives:
                    own.Receive(step);
                    break;
                case Kind.ClientCancelsItsLast or Kind.ServerCancelsItsLast:
                    exact = false;
                    own.CancelLast();
                    break;
                case Kind.ClientCloses or Kind.ServerCloses:
                    exact = false;
                    own.Close(step);
                    break;
                case Kind.ServerStops:
                    exact = false;
                    own.Stop(step);
                    break;
            }
        }

        _coverage.Runs++;
        if (exact)
        {
            await EndExactlyAsync(client, server, run.ClientClosesLast, limit.Token);
            _coverage.Exact++;
        }
        else
        {
            _coverage.ClosedMidRun += client.ClosedAtStep is not null || server.ClosedAtStep is not null ? 1 : 0;
            _coverage.Stopped += server.StoppedAtStep is not null ? 1 : 0;
            if (client.ClosedAtStep is null && server.ClosedAtStep is null)
            {
                (run.ClientClosesLast ? client : server).Close(run.Steps.Length);
            }

            client.ReceiveUntilTheEnd(run.Steps.Length);
            server.ReceiveUntilTheEnd(run.Steps.Length);
            await Task.WhenAll(client.Settled(), server.Settled()).WaitAsync(limit.Token);
            _coverage.Cut += CheckWhatever(client, server) ? 1 : 0;
        }

        foreach (End end in new[] { client, server })
        {
            _coverage.Delivered += end.Delivered.Count;
            _coverage.Streamed += end.Delivered.Count(m => m.Length > run.StreamAbove);
            _coverage.Completed += end.Attempts.Count(a => a.Outcome == Outcome.Completed);
            _coverage.Cancelled += end.Attempts.Count(a => a.Outcome == Outcome.Cancelled);
            _coverage.Failed += end.Attempts.Count(a => a.Outcome == Outcome.Failed);
            _coverage.Declined += end.Attempts.Count(a => a.Error?.Error == TinyProtoError.MessageRefused);
        }

        // After the end, both ends refuse everything.
        foreach (End end in new[] { client, server })
        {
            Assert.Equal(TinyProtoError.ConnectionClosed, (await Assert.ThrowsAsync<TinyProtoException>(() => end.Connection.ReceiveAsync(limit.Token).AsTask())).Error);
            Assert.Equal(TinyProtoError.ConnectionClosed, (await Assert.ThrowsAsync<TinyProtoException>(() => end.Connection.TransmitAsync(new byte[1], limit.Token).AsTask())).Error);
        }
    }

    /// <summary>The exact model's end: everything on its way arrives, in order; then one end closes and both end cleanly.</summary>
    private static async Task EndExactlyAsync(End client, End server, bool clientCloses, CancellationToken limit)
    {
        foreach ((End receiver, End sender) in new[] { (client, server), (server, client) })
        {
            for (Attempt? next; (next = sender.OldestUnreceived(receiver.Delivered.Count)) is not null;)
            {
                byte[] message = await receiver.Connection.ReceiveAsync(limit);
                Assert.Equal(next.Payload, message);
                receiver.Received.Add(new Receipt(int.MaxValue, message, null));
            }
        }

        await Task.WhenAll(client.Transmissions, server.Transmissions).WaitAsync(limit);
        foreach (Attempt attempt in client.Attempts.Concat(server.Attempts))
        {
            Assert.Equal(attempt.Precancelled ? Outcome.Cancelled : Outcome.Completed, attempt.Outcome);
        }

        await (clientCloses ? client : server).Connection.CloseAsync(limit);
        await client.Connection.Completion.WaitAsync(limit);
        await server.Connection.Completion.WaitAsync(limit);
    }

    /// <summary>What holds however the closes and cancellations fell (see the remarks); whether the connection may have been cut.</summary>
    private static bool CheckWhatever(End client, End server)
    {
        // A transmission cancelled after it began may have cut the connection; one cancelled while it waited did not,
        // but from outside the two look alike, so either is taken as a possible cut.
        bool cut = client.Attempts.Concat(server.Attempts).Any(a => a.Outcome == Outcome.Cancelled && !a.Precancelled);
        foreach ((End sender, End receiver) in new[] { (client, server), (server, client) })
        {
            foreach (Attempt attempt in sender.Attempts)
            {
                Assert.NotEqual(Outcome.Pending, attempt.Outcome);
                // A stopping server declines new headers with 0xFD: their sender hears MessageRefused, nothing was sent.
                Assert.True(
                    attempt.Outcome != Outcome.Failed || attempt.Error!.Error == TinyProtoError.ConnectionClosed
                    || (receiver.StoppedAtStep is not null && attempt.Error.Error == TinyProtoError.MessageRefused && attempt.Error.Message.Contains("0xFD", StringComparison.Ordinal)),
                    $"{sender.Name}'s transmission at step {attempt.Step} failed with {attempt.Error}");
                if (attempt.Precancelled)
                {
                    Assert.Equal(Outcome.Cancelled, attempt.Outcome);
                }

                if (attempt.Step > sender.ClosedAtStep)
                {
                    Assert.True(attempt.Outcome != Outcome.Completed, $"{sender.Name}'s transmission at step {attempt.Step}, after its close at step {sender.ClosedAtStep}, completed");
                }
            }

            bool lossAllowed = cut || receiver.ClosedAtStep is not null;
            Assert.True(
                Explains(sender.Attempts, receiver.Delivered, lossAllowed, sender.ClosedAtStep),
                $"What the {receiver.Name} delivered ({Describe(receiver.Delivered)}) is not what the {sender.Name}'s transmissions ({string.Join(", ", sender.Attempts)}) allow{(lossAllowed ? "" : ", with nothing completed lost")}.");

            bool failed = false;
            foreach (Receipt receipt in receiver.Received)
            {
                if (receipt.Error is null)
                {
                    Assert.False(failed, $"The {receiver.Name} received a message at step {receipt.Step} after a receive had failed.");
                    Assert.False(receipt.Step >= receiver.ClosedAtStep, $"The {receiver.Name} received a message at step {receipt.Step}, after its own close at step {receiver.ClosedAtStep}.");
                }
                else
                {
                    failed = true;
                    TinyProtoError error = receipt.Error.Error;
                    Assert.True(error == TinyProtoError.ConnectionClosed || (cut && error == TinyProtoError.ProtocolViolation), $"The {receiver.Name}'s receive at step {receipt.Step} failed with {receipt.Error}");
                }
            }

            Assert.True(failed, $"The {receiver.Name}'s last receive did not fail.");
        }

        // An end that closed completes cleanly, unless the connection was cut. Its peer may have been sending a payload
        // that the close stopped reading: that transmission, and so the peer's end, fails as a transport would.
        foreach ((End end, End peer) in new[] { (client, server), (server, client) })
        {
            if (end.Connection.Completion.IsFaulted)
            {
                TinyProtoException error = Assert.IsType<TinyProtoException>(end.Connection.Completion.Exception!.InnerException);
                Assert.True(
                    (cut && error.Error is TinyProtoError.ConnectionClosed or TinyProtoError.ProtocolViolation) || ((peer.ClosedAtStep ?? peer.StoppedAtStep) is not null && error.Error == TinyProtoError.ConnectionClosed),
                    $"The {end.Name} ended with {error}");
            }
        }

        return cut;
    }

    /// <summary>
    /// Whether the messages <paramref name="delivered"/> can be the transmissions <paramref name="attempts"/> in their
    /// order: every transmission is delivered once or skipped; only a cancelled one may be skipped with more delivered
    /// after it; one cancelled before it began, or begun after the sender's close, is never delivered; a completed one
    /// is skipped only where <paramref name="lossAllowed"/>. (A search, since messages may be equal: empty ones are.)
    /// </summary>
    private static bool Explains(List<Attempt> attempts, List<byte[]> delivered, bool lossAllowed, int? senderClosedAt)
    {
        var known = new Dictionary<(int, int, bool), bool>();
        return Match(0, 0, ended: false);

        bool Match(int i, int j, bool ended)
        {
            if (i == attempts.Count)
            {
                return j == delivered.Count;
            }

            if (known.TryGetValue((i, j, ended), out bool answer))
            {
                return answer;
            }

            Attempt attempt = attempts[i];
            // Refused (0xFD from a stopping receiver): its payload was never sent, and nothing after it is accepted.
            bool refused = attempt.Error?.Error == TinyProtoError.MessageRefused;
            bool neverSent = attempt.Precancelled || attempt.Step > senderClosedAt || refused;
            answer =
                (!ended && !neverSent && j < delivered.Count && attempt.Payload.AsSpan().SequenceEqual(delivered[j]) && Match(i + 1, j + 1, ended: false))
                || (neverSent && !refused && Match(i + 1, j, ended))
                || (attempt.Outcome == Outcome.Cancelled && Match(i + 1, j, ended))
                || (attempt.Outcome == Outcome.Failed && Match(i + 1, j, ended: true))
                || (attempt.Outcome == Outcome.Completed && lossAllowed && Match(i + 1, j, ended: true));
            known[(i, j, ended)] = answer;
            return answer;
        }
    }

    private static string Describe(List<byte[]> messages) => string.Join(", ", messages.Select(m => $"{m.Length} B"));

    private static byte[] Payload(int size, int step)
    {
        byte[] payload = new byte[size];
        new Random(step).NextBytes(payload);
        return payload;
    }

    private enum Outcome
    {
        Pending,
        Completed,
        Cancelled,
        Failed,
    }

    private sealed class Attempt(int step, byte[] payload, bool precancelled)
    {
        public int Step { get; } = step;

        public byte[] Payload { get; } = payload;

        public bool Precancelled { get; } = precancelled;

        public CancellationTokenSource? Cancellation { get; set; }

        public Outcome Outcome { get; set; }

        public TinyProtoException? Error { get; set; }

        public override string ToString() => $"{Payload.Length} B at step {Step}: {Outcome}{(Precancelled ? " before it began" : "")}";
    }

    private sealed record Receipt(int Step, byte[]? Message, TinyProtoException? Error);

    /// <summary>What the runs of a test covered.</summary>
    private sealed class Coverage
    {
        public int Runs { get; set; }

        public int Exact { get; set; }

        public int ClosedMidRun { get; set; }

        public int Stopped { get; set; }

        public int Cut { get; set; }

        public int Delivered { get; set; }

        public int Completed { get; set; }

        public int Cancelled { get; set; }

        public int Failed { get; set; }

        public int Declined { get; set; }

        public int Streamed { get; set; }

        public override string ToString() =>
            $"{Runs} runs: {Exact} exact to the end, {ClosedMidRun} closed mid-run, {Stopped} with the server stopping, {Cut} with a transmission cancelled after its call (under way, or waiting its turn); " +
            $"transmissions {Completed} completed, {Cancelled} cancelled, {Failed} failed ({Declined} declined by a stopping server); {Delivered} messages delivered and checked ({Streamed} of them streamed)";
    }

    /// <summary>
    /// One end of the pair, with what the run did at it. Its transmissions run one after another, as a caller awaiting
    /// each would, but without holding up the other steps (a receive may be what lets a transmission finish); so do its
    /// receives once the model is no longer exact.
    /// </summary>
    private sealed class End(string name, TinyProtoConnection connection, CancellationToken limit)
    {
        private Task _transmissions = Task.CompletedTask;
        private Task _receives = Task.CompletedTask;
        private Task _close = Task.CompletedTask;

        public string Name { get; } = name;

        public TinyProtoConnection Connection { get; } = connection;

        public List<Attempt> Attempts { get; } = [];

        public List<Receipt> Received { get; } = [];

        public List<byte[]> Delivered => Received.Where(r => r.Message is not null).Select(r => r.Message!).ToList();

        /// <summary>The step at which this end's first close began.</summary>
        public int? ClosedAtStep { get; private set; }

        /// <summary>The step at which this end began to stop gracefully, as a stopping server's connections do.</summary>
        public int? StoppedAtStep { get; private set; }

        /// <summary>The oldest of this end's transmissions not cancelled before it began, after the first <paramref name="received"/>.</summary>
        public Attempt? OldestUnreceived(int received) => Attempts.Where(a => !a.Precancelled).Skip(received).FirstOrDefault();

        public void Transmit(int step, byte[] payload, bool precancelled)
        {
            var attempt = new Attempt(step, payload, precancelled);
            Attempts.Add(attempt);
            _transmissions = TransmitAfter(_transmissions, [attempt]);
        }

        /// <summary>One <c>TransmitManyAsync</c>: its messages share its outcome, but for those before the message a failure names (accepted).</summary>
        public void TransmitBatch(int step, byte[][] payloads)
        {
            Attempt[] batch = [.. payloads.Select(p => new Attempt(step, p, precancelled: false))];
            Attempts.AddRange(batch);
            _transmissions = TransmitAfter(_transmissions, batch);
        }

        public void CancelLast() => Attempts.LastOrDefault(a => !a.Precancelled)?.Cancellation?.Cancel();

        public void Receive(int step) => _receives = ReceiveAfter(_receives, step, untilTheEnd: false);

        public void ReceiveUntilTheEnd(int step) => _receives = ReceiveAfter(_receives, step, untilTheEnd: true);

        /// <summary>
        /// A graceful stop: new headers are declined (0xFD), what was accepted is still delivered, and once nothing is
        /// left (its receiver came back for more) the connection closes.
        /// </summary>
        public void Stop(int step)
        {
            StoppedAtStep ??= step;
            Connection.BeginStop();
        }

        public void Close(int step)
        {
            ClosedAtStep ??= step;
            Task previous = _close;
            Task close = Connection.CloseAsync(limit).AsTask();
            _close = Task.WhenAll(previous, close);
        }

        /// <summary>This end's transmissions, once all of them are over.</summary>
        public Task Transmissions => _transmissions;

        /// <summary>Everything this end was asked to do, and the connection's end, once it is over.</summary>
        public async Task Settled()
        {
            await _transmissions;
            await _receives;
            await _close;
            try
            {
                await Connection.Completion.WaitAsync(limit);
            }
            catch (TinyProtoException)
            {
                // Checked by the caller.
            }
        }

        private async Task TransmitAfter(Task previous, Attempt[] attempts)
        {
            bool precancelled = attempts[0].Precancelled;
            CancellationTokenSource? cancellation = precancelled ? null : CancellationTokenSource.CreateLinkedTokenSource(limit);
            foreach (Attempt attempt in attempts)
            {
                attempt.Cancellation = cancellation;
            }

            await previous;
            CancellationToken token = cancellation?.Token ?? new CancellationToken(canceled: true);
            Outcome outcome;
            TinyProtoException? error = null;
            try
            {
                await (attempts.Length == 1
                    ? Connection.TransmitAsync(attempts[0].Payload, token)
                    : Connection.TransmitManyAsync([.. attempts.Select(a => (ReadOnlyMemory<byte>)a.Payload)], token));
                outcome = Outcome.Completed;
            }
            catch (OperationCanceledException) when (!limit.IsCancellationRequested)
            {
                outcome = Outcome.Cancelled;
            }
            catch (TinyProtoException ex)
            {
                outcome = Outcome.Failed;
                error = ex;
            }

            // A batch's failure names the message it hit: the ones before it were accepted, so they count as completed.
            int hit = error is null ? 0 : FailedInBatch(error);
            for (int i = 0; i < attempts.Length; i++)
            {
                attempts[i].Outcome = i < hit ? Outcome.Completed : outcome;
                attempts[i].Error = i < hit ? null : error;
            }
        }

        private static int FailedInBatch(TinyProtoException error)
        {
            var named = Regex.Match(error.Message, "[Mm]essage ([0-9]+) of a batch of", RegexOptions.CultureInvariant);
            return named.Success ? int.Parse(named.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture) : 0;
        }

        private async Task ReceiveAfter(Task previous, int step, bool untilTheEnd)
        {
            await previous;
            do
            {
                try
                {
                    byte[] message = await Connection.ReceiveAsync(limit);
                    Received.Add(new Receipt(step, message, null));
                }
                catch (TinyProtoException ex)
                {
                    Received.Add(new Receipt(step, null, ex));
                    return;
                }
            }
            while (untilTheEnd);
        }
    }
}
