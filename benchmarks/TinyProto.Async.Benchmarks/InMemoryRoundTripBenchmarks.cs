using System.IO.Pipelines;
using BenchmarkDotNet.Attributes;

namespace TinyProto.Async.Benchmarks;

/// <summary>
/// Lock-step echo of 64 bytes between two connections over an in-memory pipe pair: the library's own cost
/// per round trip (two messages, six protocol units) without sockets or the kernel.
/// </summary>
[MemoryDiagnoser]
[ThreadingDiagnoser]
[ExceptionDiagnoser]
// Not sealed: BenchmarkDotNet derives from benchmark classes and rejects sealed ones.
public class InMemoryRoundTripBenchmarks
{
    private const int N = 1000;
    private const int PayloadSize = 64;

    private readonly byte[] _payload = new byte[PayloadSize];
    private readonly byte[] _echo = new byte[PayloadSize];
    private TinyProtoConnection _client = null!;
    private EchoConnection _server = null!;

    [GlobalSetup]
    public async Task SetupAsync()
    {
        (IDuplexPipe clientTransport, IDuplexPipe serverTransport) = InMemoryTransport.CreatePair();
        _client = new TinyProtoConnection();
        _server = new EchoConnection();
        Task serverStarted = _server.StartAsync(serverTransport, TinyProtoRole.Server);
        await _client.StartAsync(clientTransport, TinyProtoRole.Client);
        await serverStarted;
    }

    [GlobalCleanup]
    public async Task CleanupAsync()
    {
        await _client.DisposeAsync();
        await _server.DisposeAsync();
    }

    /// <summary>One operation = TransmitAsync of 64 B, then ReceiveAsync of its echo into a reused buffer.</summary>
    [Benchmark(OperationsPerInvoke = N)]
    public async Task<long> EchoRoundTrip_64B()
    {
        int count = SmokeScale.Operations(N);
        long received = 0;
        for (int i = 0; i < count; i++)
        {
            await _client.TransmitAsync(_payload);
            int length = await _client.ReceiveAsync(_echo.AsMemory());
            if (length != PayloadSize)
            {
                throw new InvalidOperationException($"The echo had {length} bytes instead of {PayloadSize}.");
            }

            received += length;
        }

        return received;
    }

    /// <summary>As <see cref="EchoRoundTrip_64B"/>, with the echo received as a new 64 B array (<c>ReceiveAsync()</c>).</summary>
    [Benchmark(OperationsPerInvoke = N)]
    public async Task<long> EchoRoundTrip_64B_NewArray()
    {
        int count = SmokeScale.Operations(N);
        long received = 0;
        for (int i = 0; i < count; i++)
        {
            await _client.TransmitAsync(_payload);
            byte[] echo = await _client.ReceiveAsync();
            if (echo.Length != PayloadSize)
            {
                throw new InvalidOperationException($"The echo had {echo.Length} bytes instead of {PayloadSize}.");
            }

            received += echo.Length;
        }

        return received;
    }
}
