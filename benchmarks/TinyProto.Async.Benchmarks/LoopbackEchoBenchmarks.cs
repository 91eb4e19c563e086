using BenchmarkDotNet.Attributes;

namespace TinyProto.Async.Benchmarks;

/// <summary>
/// Lock-step echo over loopback TCP: a <see cref="TinyProtoServer"/> whose connections transmit every message back
/// from their receive hook, and one client connection (made once) doing TransmitAsync then ReceiveAsync: into a
/// reused buffer (<c>EchoRoundTrip</c>, the allocation-free path) or as a new array (<c>EchoRoundTrip_NewArray</c>).
/// Compare with the C and Python figures in docs/performance.md (64 B ~90 µs / ~110-120 µs per round trip).
/// </summary>
[MemoryDiagnoser]
[ThreadingDiagnoser]
[ExceptionDiagnoser]
[Config(typeof(ThroughputConfig))]
// Not sealed: BenchmarkDotNet derives from benchmark classes and rejects sealed ones.
public class LoopbackEchoBenchmarks
{
    // One N for every size: 64 B round trips take ~0.1 ms, so 32 of them amortise the harness's wait per
    // invocation, and 32 round trips of 1 MiB still finish in tens of milliseconds.
    private const int N = 32;

    private LoopbackPair _pair = null!;
    private byte[] _payload = null!;
    private byte[] _echo = null!;

    [Params(0, 64, 4096, 65536, 1048576)]
    public int PayloadSize { get; set; }

    [GlobalSetup]
    public async Task SetupAsync()
    {
        _payload = new byte[PayloadSize];
        _echo = new byte[PayloadSize];
        Random.Shared.NextBytes(_payload);
        var server = new TinyProtoServer();
        server.SetConnectionHandler<EchoConnection>();
        _pair = await LoopbackPair.StartAsync(server, new TinyProtoClient());
    }

    [GlobalCleanup]
    public async Task CleanupAsync()
    {
        await _pair.DisposeAsync();
    }

    /// <summary>One operation = one round trip, the echo received into a reused buffer; MB/s is the payload rate in one direction.</summary>
    [Benchmark(OperationsPerInvoke = N)]
    [TransferredBytes(nameof(PayloadSize))]
    public async Task<long> EchoRoundTrip()
    {
        int count = SmokeScale.Operations(N);
        long received = 0;
        for (int i = 0; i < count; i++)
        {
            await _pair.Connection.TransmitAsync(_payload);
            int length = await _pair.Connection.ReceiveAsync(_echo.AsMemory());
            if (length != PayloadSize)
            {
                throw new InvalidOperationException($"The echo had {length} bytes instead of {PayloadSize}.");
            }

            received += length;
        }

        return received;
    }

    /// <summary>As <see cref="EchoRoundTrip"/>, with each echo received as a new array (<c>ReceiveAsync()</c>).</summary>
    [Benchmark(OperationsPerInvoke = N)]
    [TransferredBytes(nameof(PayloadSize))]
    public async Task<long> EchoRoundTrip_NewArray()
    {
        int count = SmokeScale.Operations(N);
        long received = 0;
        for (int i = 0; i < count; i++)
        {
            await _pair.Connection.TransmitAsync(_payload);
            byte[] echo = await _pair.Connection.ReceiveAsync();
            if (echo.Length != PayloadSize)
            {
                throw new InvalidOperationException($"The echo had {echo.Length} bytes instead of {PayloadSize}.");
            }

            received += echo.Length;
        }

        return received;
    }
}
