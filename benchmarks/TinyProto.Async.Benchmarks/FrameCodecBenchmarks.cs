using System.Buffers;
using System.Buffers.Binary;
using System.IO.Pipelines;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using TinyProto.Async.Protocol;

namespace TinyProto.Async.Benchmarks;

/// <summary>
/// The pure codec (<see cref="FrameCodec"/>): reading a status or size header at a message boundary and writing
/// one, plus the same 4-byte unit through a plain <see cref="Pipe"/> with and without the codec. Every operation
/// should allocate nothing.
/// </summary>
[MemoryDiagnoser]
[ThreadingDiagnoser]
[GroupBenchmarksBy(BenchmarkLogicalGroupRule.ByCategory)]
[CategoriesColumn]
// Not sealed: BenchmarkDotNet derives from benchmark classes and rejects sealed ones.
public class FrameCodecBenchmarks
{
    // The operations take nanoseconds, so each invocation loops to drown the harness's own cost.
    private const int N = 1024;
    private const uint MessageSize = 64;

    private readonly ArrayBufferWriter<byte> _writer = new(16);
    private ReadOnlySequence<byte> _header;
    private ReadOnlySequence<byte> _splitHeader;
    private ReadOnlySequence<byte> _status;
    private Pipe _pipe = null!;

    [GlobalSetup]
    public void Setup()
    {
        byte[] header = new byte[FrameCodec.HeaderLength];
        BinaryPrimitives.WriteUInt32BigEndian(header, MessageSize);
        _header = new ReadOnlySequence<byte>(header);

        // Two bytes at the end of one pipe segment, two at the start of the next: the codec's copying path.
        var first = new BenchmarkSegment(header.AsMemory(0, 2));
        BenchmarkSegment last = first.Append(header.AsMemory(2));
        _splitHeader = new ReadOnlySequence<byte>(first, 0, last, last.Memory.Length);

        _status = new ReadOnlySequence<byte>([Signal.Ok]);
        _pipe = new Pipe(new PipeOptions(useSynchronizationContext: false));
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _pipe.Writer.Complete();
        _pipe.Reader.Complete();
    }

    [Benchmark(OperationsPerInvoke = N)]
    [BenchmarkCategory("Parse")]
    public long TryReadBoundary_HeaderInOneSegment() => ParseAll(_header);

    [Benchmark(OperationsPerInvoke = N)]
    [BenchmarkCategory("Parse")]
    public long TryReadBoundary_HeaderSplitAcrossSegments() => ParseAll(_splitHeader);

    [Benchmark(OperationsPerInvoke = N)]
    [BenchmarkCategory("Parse")]
    public long TryReadBoundary_Status() => ParseAll(_status);

    [Benchmark(OperationsPerInvoke = N)]
    [BenchmarkCategory("Write")]
    public int WriteHeader()
    {
        int count = SmokeScale.Operations(N);
        int written = 0;
        for (int i = 0; i < count; i++)
        {
            _writer.ResetWrittenCount();
            FrameCodec.WriteHeader(_writer, (uint)i);
            written += _writer.WrittenCount;
        }

        return written;
    }

    [Benchmark(OperationsPerInvoke = N)]
    [BenchmarkCategory("Write")]
    public int WriteByte_Status()
    {
        int count = SmokeScale.Operations(N);
        int written = 0;
        for (int i = 0; i < count; i++)
        {
            _writer.ResetWrittenCount();
            FrameCodec.WriteByte(_writer, Signal.Ok);
            written += _writer.WrittenCount;
        }

        return written;
    }

    /// <summary>The floor: 4 bytes through a plain pipe (write, flush, read, advance) with no protocol code at all.</summary>
    [Benchmark(Baseline = true, OperationsPerInvoke = N)]
    [BenchmarkCategory("Pipe")]
    public async ValueTask<long> Pipe_RawFourBytes()
    {
        int count = SmokeScale.Operations(N);
        PipeWriter writer = _pipe.Writer;
        PipeReader reader = _pipe.Reader;
        long total = 0;
        for (int i = 0; i < count; i++)
        {
            BinaryPrimitives.WriteUInt32BigEndian(writer.GetSpan(FrameCodec.HeaderLength), MessageSize);
            writer.Advance(FrameCodec.HeaderLength);
            await writer.FlushAsync();
            ReadResult result = await reader.ReadAsync();
            total += result.Buffer.Length;
            reader.AdvanceTo(result.Buffer.End);
        }

        return total;
    }

    /// <summary>The same round through the pipe, but written with <see cref="FrameCodec.WriteHeader"/> and parsed with <see cref="FrameCodec.TryReadBoundary"/>.</summary>
    [Benchmark(OperationsPerInvoke = N)]
    [BenchmarkCategory("Pipe")]
    public async ValueTask<long> Pipe_WriteHeaderAndTryReadBoundary()
    {
        int count = SmokeScale.Operations(N);
        PipeWriter writer = _pipe.Writer;
        PipeReader reader = _pipe.Reader;
        long total = 0;
        for (int i = 0; i < count; i++)
        {
            FrameCodec.WriteHeader(writer, MessageSize);
            await writer.FlushAsync();
            ReadResult result = await reader.ReadAsync();
            ReadOnlySequence<byte> buffer = result.Buffer;
            if (FrameCodec.TryReadBoundary(ref buffer, out _, out uint size) != BoundaryUnit.Header)
            {
                throw new InvalidOperationException("The header did not parse.");
            }

            total += size;
            reader.AdvanceTo(buffer.Start, result.Buffer.End);
        }

        return total;
    }

    private static long ParseAll(ReadOnlySequence<byte> input)
    {
        int count = SmokeScale.Operations(N);
        long total = 0;
        for (int i = 0; i < count; i++)
        {
            ReadOnlySequence<byte> buffer = input;
            if (FrameCodec.TryReadBoundary(ref buffer, out byte status, out uint size) == BoundaryUnit.Incomplete)
            {
                throw new InvalidOperationException("The unit did not parse.");
            }

            total += size + status + buffer.Length;
        }

        return total;
    }
}
