using System.IO.Pipelines;
using BenchmarkDotNet.Attributes;

namespace TinyProto.Async.Benchmarks;

/// <summary>
/// Opening a connection. Over loopback: TCP connect, the opening handshake and a close, per operation, from one
/// client to one server. In memory: two new connections over a new pipe pair, their handshake, and their close,
/// so the handshake's own cost shows without sockets.
/// </summary>
[MemoryDiagnoser]
[ThreadingDiagnoser]
[ExceptionDiagnoser]
// Not sealed: BenchmarkDotNet derives from benchmark classes and rejects sealed ones.
public class HandshakeBenchmarks
{
    private const int LoopbackN = 16;
    private const int InMemoryN = 256;

    private TinyProtoServer _server = null!;
    private TinyProtoClient _client = null!;
    private int _port;

    [GlobalSetup(Target = nameof(Loopback_ConnectHandshakeClose))]
    public async Task SetupLoopbackAsync()
    {
        _server = new TinyProtoServer();
        _server.SetConnectionHandler<SinkConnection>();
        _port = await LoopbackServer.StartAsync(_server);
        _client = new TinyProtoClient();
    }

    [GlobalCleanup(Target = nameof(Loopback_ConnectHandshakeClose))]
    public async Task CleanupLoopbackAsync()
    {
        await _client.DisposeAsync();
        await _server.DisposeAsync();
    }

    [Benchmark(OperationsPerInvoke = LoopbackN)]
    public async Task Loopback_ConnectHandshakeClose()
    {
        int count = SmokeScale.Operations(LoopbackN);
        for (int i = 0; i < count; i++)
        {
            TinyProtoConnection connection = await _client.ConnectAsync(LoopbackServer.Host, _port);
            await connection.CloseAsync();
        }
    }

    [Benchmark(OperationsPerInvoke = InMemoryN)]
    public async Task InMemory_HandshakeThenClose()
    {
        int count = SmokeScale.Operations(InMemoryN);
        for (int i = 0; i < count; i++)
        {
            (IDuplexPipe clientTransport, IDuplexPipe serverTransport) = InMemoryTransport.CreatePair();
            var client = new TinyProtoConnection();
            var server = new TinyProtoConnection();
            Task serverStarted = server.StartAsync(serverTransport, TinyProtoRole.Server);
            await client.StartAsync(clientTransport, TinyProtoRole.Client);
            await serverStarted;
            await client.CloseAsync();
            await server.CloseAsync();
        }
    }
}
