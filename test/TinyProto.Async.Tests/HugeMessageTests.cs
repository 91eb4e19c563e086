using System.Diagnostics;

namespace TinyProto.Async.Tests;

[CollectionDefinition(nameof(HugeMessageTests), DisableParallelization = true)]
public sealed class HugeMessageTestGroup
{
}

/// <summary>A message above 2 GiB over loopback; runs alone so other tests do not disturb the memory measurement.</summary>
[Collection(nameof(HugeMessageTests))]
public sealed class HugeMessageTests : ConnectionTestBase
{
    private const long Length = 2_250_000_000;
    private const long MemoryBudget = 256L * 1024 * 1024;

    public HugeMessageTests()
        : base(TimeSpan.FromSeconds(120))
    {
    }

    [Fact]
    public async Task TransmitAsyncStream_AboveTwoGiBOverLoopback_ArrivesIntactWithBoundedMemory()
    {
        await using var server = new TinyProtoServer();
        server.ConnectionOptions.MaxBufferedMessageSize = 1024 * 1024;
        server.ConnectionOptions.MaxMessageSize = TinyProtoConnectionOptions.ProtocolMaxMessageSize;
        int port = await StartLoopbackAsync(server);
        await using var client = new TinyProtoClient();
        TinyProtoConnection sender = client.ActiveConnections[await Bounded(client.ConnectToAsync("127.0.0.1", port, TimeoutToken))];
        TinyProtoConnection receiver = await SingleServerConnectionAsync(server);

        using Process process = Process.GetCurrentProcess();
        GC.Collect();
        GC.WaitForPendingFinalizers();
        process.Refresh();
        long peakBefore = process.PeakWorkingSet64;
        long baseline = process.WorkingSet64;
        long sampledMax = baseline;
        using var sampling = CancellationTokenSource.CreateLinkedTokenSource(TimeoutToken);
        Task sampler = Task.Run(async () =>
        {
            while (!sampling.IsCancellationRequested)
            {
                process.Refresh();
                sampledMax = Math.Max(sampledMax, process.WorkingSet64);
                try
                {
                    await Task.Delay(20, sampling.Token);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }
        });

        var watch = Stopwatch.StartNew();
        using var source = new GeneratedStream(Length);
        using var destination = new HashingStream();
        Task<long> receive = receiver.ReceiveAsync(destination, TimeoutToken).AsTask();
        await Bounded(sender.TransmitAsync(source, Length, TimeoutToken).AsTask());
        long received = await Bounded(receive);
        watch.Stop();
        await sampling.CancelAsync();
        await sampler;
        process.Refresh();
        long peakGrowth = process.PeakWorkingSet64 - Math.Max(peakBefore, baseline);
        long sampledGrowth = sampledMax - baseline;

        Assert.Equal(Length, received);
        Assert.Equal(Length, destination.Length);
        Assert.Equal(source.Hash(), destination.Hash());
        Assert.True(sampledGrowth < MemoryBudget, $"working set grew by {sampledGrowth / (1024 * 1024)} MiB (sampled)");
        Assert.True(peakGrowth < MemoryBudget, $"peak working set grew by {peakGrowth / (1024 * 1024)} MiB");
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(60), $"took {watch.Elapsed}");

        // The connection still works afterwards.
        await Bounded(sender.TransmitAsync("done"u8.ToArray(), TimeoutToken).AsTask());
        Assert.Equal("done"u8.ToArray(), await Bounded(receiver.ReceiveAsync(TimeoutToken).AsTask()));
    }
}
