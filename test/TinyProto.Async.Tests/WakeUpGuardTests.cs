using System.Diagnostics.Metrics;
using TinyProto.Async.Transport;
using Xunit.Abstractions;

namespace TinyProto.Async.Tests;

/// <summary>
/// A lock-step round trip on dedicated-thread connections hands nothing to the thread pool: the reader thread that the
/// data woke parses it and runs the awaiting caller or hook. <see cref="ThreadPool.CompletedWorkItemCount"/> counts the
/// hand-offs in-process (the figure StackExchange.Redis's SyncCompletionTests uses), a count stable enough for a bound
/// far above what is measured and far below what a hand-off per arrival costs. Listening to the meter's message
/// instruments adds none.
/// </summary>
[Collection(nameof(AllocationGuardTestGroup))]
public sealed class WakeUpGuardTests(ITestOutputHelper output) : ConnectionTestBase
{
    private const int RoundTrips = 2_000;

    [Theory]
    [InlineData(TinyProtoThreading.DedicatedThread, 0.0, 0.25, false)]
    [InlineData(TinyProtoThreading.DedicatedThread, 0.0, 0.25, true)]
    [InlineData(TinyProtoThreading.ThreadPool, 1.0, double.MaxValue, false)]
    public async Task LockStepEcho64BOverLoopback_EachThreading_ThreadPoolWorkItemsPerRoundTripWithinBounds(TinyProtoThreading threading, double atLeast, double atMost, bool metersListenedTo)
    {
        if (threading == TinyProtoThreading.DedicatedThread && !NonBlockingSend.IsSupported)
        {
            return;
        }

        using var meters = new TestMeters();
        using var listener = new MeterListener
        {
            InstrumentPublished = (instrument, l) =>
            {
                if (metersListenedTo && ReferenceEquals(instrument.Meter.Scope, meters.Factory))
                {
                    l.EnableMeasurementEvents(instrument);
                }
            },
        };
        listener.Start();

        await using var server = new TinyProtoServer { ConnectionOptions = new TinyProtoConnectionOptions { Threading = threading }, MeterFactory = meters.Factory };
        server.SetConnectionHandler<EchoConnection>();
        int port = await StartLoopbackAsync(server);
        await using var client = new TinyProtoClient { ConnectionOptions = new TinyProtoConnectionOptions { Threading = threading }, MeterFactory = meters.Factory };
        TinyProtoConnection connection = await Bounded(client.ConnectAsync("127.0.0.1", port, TimeoutToken));
        byte[] payload = RandomBytes(64, seed: 5);
        byte[] echo = new byte[64];
        await Bounded(RoundTripsAsync(connection, payload, echo, 500));

        long before = ThreadPool.CompletedWorkItemCount;
        await Bounded(RoundTripsAsync(connection, payload, echo, RoundTrips));
        double perRoundTrip = (double)(ThreadPool.CompletedWorkItemCount - before) / RoundTrips;

        await Bounded(connection.CloseAsync(TimeoutToken).AsTask());
        output.WriteLine($"{threading}{(metersListenedTo ? ", meters listened to" : "")}: {perRoundTrip:0.000} thread-pool work items per round trip (both ends, one process).");
        Assert.InRange(perRoundTrip, atLeast, atMost);
    }

    private static async Task RoundTripsAsync(TinyProtoConnection connection, byte[] payload, byte[] echo, int count)
    {
        for (int i = 0; i < count; i++)
        {
            await connection.TransmitAsync(payload);
            await connection.ReceiveAsync(echo);
        }
    }
}
