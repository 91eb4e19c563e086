using BenchmarkDotNet.Attributes;

namespace TinyProto.Async.Benchmarks;

/// <summary>
/// One 256 MiB message per operation over loopback: sent with TransmitAsync(Stream, length) from a generated
/// stream, taken by the server through TransmissionStreamReceivedAsync into a discarding stream. The operation
/// ends when the server has read the last byte. Memory stays bounded on both sides; MB/s is the throughput.
/// </summary>
[MemoryDiagnoser]
[ThreadingDiagnoser]
[ExceptionDiagnoser]
[Config(typeof(ThroughputConfig))]
// Not sealed: BenchmarkDotNet derives from benchmark classes and rejects sealed ones.
public class StreamedMessageBenchmarks
{
    private const long MessageLength = 256L * 1024 * 1024;

    private readonly RepeatingStream _source = new();
    private LoopbackPair _pair = null!;
    private StreamSinkConnection _sink = null!;

    [GlobalSetup]
    public async Task SetupAsync()
    {
        var sink = new TaskCompletionSource<StreamSinkConnection>(TaskCreationOptions.RunContinuationsAsynchronously);
        var server = new TinyProtoServer();

        // Far below the default 64 MiB, so that the smoke test's 1 MiB message takes the same streamed path;
        // a 256 MiB message is streamed either way.
        server.ConnectionOptions.MaxBufferedMessageSize = 64 * 1024;
        server.ConnectionOptions.MaxMessageSize = TinyProtoConnectionOptions.ProtocolMaxMessageSize;
        server.SetConnectionHandler(() =>
        {
            var connection = new StreamSinkConnection();
            sink.TrySetResult(connection);
            return connection;
        });
        _pair = await LoopbackPair.StartAsync(server, new TinyProtoClient());
        _sink = await sink.Task;
    }

    [GlobalCleanup]
    public async Task CleanupAsync()
    {
        await _pair.DisposeAsync();
        _source.Dispose();
    }

    [Benchmark]
    [TransferredBytes(MessageLength)]
    public async Task<long> TransmitAsyncStream_256MiB()
    {
        long length = SmokeScale.Bytes(MessageLength);
        _source.Restart(length);
        await _pair.Connection.TransmitAsync(_source, length);
        long received = await _sink.WaitForMessageAsync();
        if (received != length)
        {
            throw new InvalidOperationException($"The server received {received} bytes instead of {length}.");
        }

        return received;
    }
}
