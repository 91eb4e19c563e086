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
    private TinyProtoServer _server = null!;
    private TinyProtoClient _client = null!;
    private TinyProtoConnection _connection = null!;

    [GlobalSetup]
    public async Task SetupAsync()
    {
        _server = new TinyProtoServer();
        _server.SetConnectionHandler<SinkConnection>();
        int port = await LoopbackServer.StartAsync(_server);
        _client = new TinyProtoClient();
        _client.ConnectionOptions.RequestPipelining = true;
        _connection = await _client.ConnectAsync(LoopbackServer.Host, port);
        if (!_connection.IsPipelined)
        {
            throw new InvalidOperationException("The server did not grant pipelined mode.");
        }
    }

    [GlobalCleanup]
    public async Task CleanupAsync()
    {
        await _connection.DisposeAsync();
        await _client.DisposeAsync();
        await _server.DisposeAsync();
    }

    [Benchmark(OperationsPerInvoke = N)]
    public async Task TransmitAsync_64B()
    {
        int count = SmokeScale.Operations(N);
        for (int i = 0; i < count; i++)
        {
            await _connection.TransmitAsync(_payload);
        }
    }

    [Benchmark(OperationsPerInvoke = Batch * Batches)]
    public async Task TransmitManyAsync_64B()
    {
        int count = SmokeScale.Operations(Batches);
        for (int i = 0; i < count; i++)
        {
            await _connection.TransmitManyAsync(_batch);
        }
    }
}
