using System.Buffers;

namespace TinyProto.Async.Benchmarks;

/// <summary>One segment of a hand-built multi-segment <see cref="ReadOnlySequence{T}"/>, as a pipe hands out across a segment boundary.</summary>
internal sealed class BenchmarkSegment : ReadOnlySequenceSegment<byte>
{
    public BenchmarkSegment(ReadOnlyMemory<byte> memory, long runningIndex = 0)
    {
        Memory = memory;
        RunningIndex = runningIndex;
    }

    public BenchmarkSegment Append(ReadOnlyMemory<byte> memory)
    {
        var next = new BenchmarkSegment(memory, RunningIndex + Memory.Length);
        Next = next;
        return next;
    }
}
