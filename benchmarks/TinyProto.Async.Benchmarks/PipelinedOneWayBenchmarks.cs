using BenchmarkDotNet.Attributes;

namespace TinyProto.Async.Benchmarks;

/// <summary>
/// One-way 64-byte messages over loopback in pipelined mode (RequestPipelining) to a server that drops them.
/// <c>TransmitAsync_64B</c>: one caller awaits each TransmitAsync before the next, so an operation is header and payload
/// out, OK back. <c>TransmitManyAsync_64B</c>: the batching API, 1000 messages per call; an operation is one message.
/// </summary>
[MemoryDiagnoser]
[ThreadingDiagnoser]
[ExceptionDiagnoser]
// Not sealed: BenchmarkDotNet derives from benchmark classes and rejects sealed ones.
public class PipelinedOneWayBenchmarks
{
    private const int N = 256;
    private const int PayloadSize = 64;
    private const int Batch = 1000;
    private const int Batches = 20;

    private readonly byte[] _payload = new byte[PayloadSize];
    private readonly ReadOnlyMemory<byte>[] _batch = [.. Enumerable.Repeat<ReadOnlyMemory<byte>>(new byte[PayloadSize], Batch)];
    private LoopbackPair _pair = null!;

    [GlobalSetup]
    public async Task SetupAsync()
    {
        var server = new TinyProtoServer();
        server.SetConnectionHandler<SinkConnection>();
        var client = new TinyProtoClient();
        client.ConnectionOptions.RequestPipelining = true;
        _pair = await LoopbackPair.StartAsync(server, client);
        if (!_pair.Connection.IsPipelined)
        {
            throw new InvalidOperationException("The server did not grant pipelined mode.");
        }
    }

    [GlobalCleanup]
    public async Task CleanupAsync()
    {
        await _pair.DisposeAsync();
    }

    [Benchmark(OperationsPerInvoke = N)]
    public async Task TransmitAsync_64B()
    {
        int count = SmokeScale.Operations(N);
        for (int i = 0; i < count; i++)
        {
            await _pair.Connection.TransmitAsync(_payload);
        }
    }

    [Benchmark(OperationsPerInvoke = Batch * Batches)]
    public async Task TransmitManyAsync_64B()
    {
        int count = SmokeScale.Operations(Batches);
        for (int i = 0; i < count; i++)
        {
            await _pair.Connection.TransmitManyAsync(_batch);
        }
    }
}
