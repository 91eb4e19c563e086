using System.Buffers;
using System.Diagnostics.Metrics;
using TinyProto.Async.Benchmarks;
using Xunit.Abstractions;

namespace TinyProto.Async.Tests;

/// <summary>
/// The steady-state lock-step round trip allocates (next to) nothing, as InMemoryRoundTripBenchmarks measures: this
/// guard fails when a change adds a per-message allocation to the hot path of TransmitAsync, ReceiveAsync(Memory) or
/// the echo hook, be it a Task, a boxed state machine, a closure or a single small object; with the meter's message
/// instruments listened to, too.
/// </summary>
[Collection(nameof(AllocationGuardTestGroup))]
public sealed class AllocationGuardTests(ITestOutputHelper output) : ConnectionTestBase
{
    private const int PayloadSize = 64;
    private const int WarmUpRoundTrips = 2_000;
    private const int Batches = 5;
    private const int RoundTripsPerBatch = 2_000;

    /// <summary>
    /// Measured: 0 to 4 B per round trip in a batch (the process's background work, spread over it). One 24-byte
    /// object per TransmitAsync adds 48 B (the echo transmits too); an async echo hook's state machine, about 145 B.
    /// </summary>
    private const double BudgetPerRoundTrip = 32;

    [Fact]
    public async Task TransmitAsyncThenReceiveAsyncMemory_LockStepEcho64B_AllocatesAtMostTheBudgetPerRoundTrip()
    {
        // Nobody listens to the meter these connections record on (the library's own).
        await MeasureAsync(new TinyProtoConnection(), new EchoConnection());
    }

    [Fact]
    public async Task TransmitAsyncThenReceiveAsyncMemory_LockStepEcho64B_WithEveryMessageInstrumentListenedTo_AllocatesAtMostTheBudgetPerRoundTrip()
    {
        using var meters = new TestMeters();
        long measurements = 0;
        using var listener = new MeterListener
        {
            InstrumentPublished = (instrument, l) =>
            {
                if (ReferenceEquals(instrument.Meter.Scope, meters.Factory))
                {
                    l.EnableMeasurementEvents(instrument);
                }
            },
        };

        // The cheapest listener there is: what is left is what recording costs the connections themselves.
        listener.SetMeasurementEventCallback<long>((_, _, _, _) => Interlocked.Increment(ref measurements));
        listener.SetMeasurementEventCallback<double>((_, _, _, _) => Interlocked.Increment(ref measurements));
        listener.Start();

        await MeasureAsync(
            new TinyProtoConnection { Options = { MeterFactory = meters.Factory } },
            new EchoConnection { Options = { MeterFactory = meters.Factory } });

        // Per round trip and end: a message sent (count, bytes, duration) and one received (count, bytes, duration).
        Assert.True(Interlocked.Read(ref measurements) >= 12L * (WarmUpRoundTrips + (Batches * RoundTripsPerBatch)), $"Only {measurements} measurements were recorded.");
    }

    private async Task MeasureAsync(TinyProtoConnection client, TinyProtoConnection server)
    {
        // The pipes rent from the shared pool, as a real transport does: the checking pool allocates per block.
        await StartPairAsync(client, server, pool: MemoryPool<byte>.Shared);
        byte[] payload = RandomBytes(PayloadSize, seed: 1);
        byte[] echo = new byte[PayloadSize];

        // Warm-up: JIT tiers, the connections' pooled waiters, message objects and pipe segments.
        await Bounded(RoundTripsAsync(client, payload, echo, WarmUpRoundTrips));

        // The measure is process-wide: the test host's own work (reflection, compiled expressions) can add hundreds of
        // bytes per round trip to a batch, while an allocation on the hot path lands in every batch. So the best batch
        // is what the round trip itself costs.
        double[] perRoundTrip = new double[Batches];
        for (int i = 0; i < Batches; i++)
        {
            long before = GC.GetTotalAllocatedBytes(precise: true);
            await Bounded(RoundTripsAsync(client, payload, echo, RoundTripsPerBatch));
            perRoundTrip[i] = (double)(GC.GetTotalAllocatedBytes(precise: true) - before) / RoundTripsPerBatch;
        }

        await Bounded(client.CloseAsync(TimeoutToken).AsTask());
        await Bounded(server.Completion);
        string measured = string.Join(", ", perRoundTrip.Select(bytes => $"{bytes:0.0}"));
        output.WriteLine($"Bytes allocated per round trip in {Batches} batches of {RoundTripsPerBatch}: {measured}.");
        Assert.True(perRoundTrip.Min() <= BudgetPerRoundTrip, $"Every batch allocated more than the budget of {BudgetPerRoundTrip} B per round trip: {measured}.");
    }

    private async Task RoundTripsAsync(TinyProtoConnection client, byte[] payload, byte[] echo, int count)
    {
        for (int i = 0; i < count; i++)
        {
            await client.TransmitAsync(payload, TimeoutToken);
            int length = await client.ReceiveAsync(echo.AsMemory(), TimeoutToken);
            if (length != PayloadSize)
            {
                Assert.Fail($"The echo had {length} bytes instead of {PayloadSize}.");
            }
        }
    }
}
