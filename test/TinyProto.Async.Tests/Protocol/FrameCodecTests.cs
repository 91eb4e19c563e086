using System.Buffers;
using TinyProto.Async.Protocol;

namespace TinyProto.Async.Tests.Protocol;

/// <summary>
/// The pure codec over <see cref="ReadOnlySequence{T}"/>: every input is parsed contiguous, split at every
/// point, and in every combination of split points down to one byte per segment.
/// </summary>
public sealed class FrameCodecTests
{
    private static readonly byte[] Trailer = [0xAB, 0xCD];

    public static TheoryData<uint> Sizes => new() { 0u, 1u, 255u, 256u, 0x00FF_FFFFu, 0x0100_0000u, 0xF0FF_FFFFu };

    [Theory]
    [MemberData(nameof(Sizes))]
    public void TryReadBoundary_HeaderAtEverySplit_ReadsSizeAndSlicesPastHeader(uint size)
    {
        byte[] data = [(byte)(size >> 24), (byte)(size >> 16), (byte)(size >> 8), (byte)size, .. Trailer];
        foreach ((ReadOnlySequence<byte> sequence, string layout) in EverySplit(data))
        {
            ReadOnlySequence<byte> buffer = sequence;
            BoundaryUnit unit = FrameCodec.TryReadBoundary(ref buffer, out byte status, out uint read);

            Expect(unit == BoundaryUnit.Header, $"{layout}: got {unit}, expected Header");
            Expect(read == size, $"{layout}: size 0x{read:X8}, expected 0x{size:X8}");
            Expect(status == 0, $"{layout}: status 0x{status:X2} reported for a header");
            ExpectRest(buffer, Trailer, layout);
        }
    }

    /// <summary>
    /// A size above the protocol maximum starts with a byte 0xF1..0xFF, which rule 4 makes a status at a
    /// message boundary: the stateless codec cannot report 0xF1000000 as a header (see the oversize wire vector).
    /// </summary>
    [Fact]
    public void TryReadBoundary_SizeAboveProtocolMaximum_FirstByteReadAsStatus()
    {
        byte[] data = [0xF1, 0x00, 0x00, 0x00, .. Trailer];
        foreach ((ReadOnlySequence<byte> sequence, string layout) in EverySplit(data))
        {
            ReadOnlySequence<byte> buffer = sequence;
            BoundaryUnit unit = FrameCodec.TryReadBoundary(ref buffer, out byte status, out uint size);

            Expect(unit == BoundaryUnit.Status, $"{layout}: got {unit}, expected Status");
            Expect(status == 0xF1, $"{layout}: status 0x{status:X2}, expected 0xF1");
            Expect(size == 0, $"{layout}: size {size} reported for a status");
            ExpectRest(buffer, [0x00, 0x00, 0x00, .. Trailer], layout);
        }
    }

    [Fact]
    public void TryReadBoundary_EveryStatusByte_ReadsStatusAndSlicesOneByte()
    {
        for (int b = 0xF1; b <= 0xFF; b++)
        {
            // A lone status byte is enough: a status never waits for three more bytes.
            ReadOnlySequence<byte> single = new([(byte)b]);
            Expect(FrameCodec.TryReadBoundary(ref single, out byte alone, out _) == BoundaryUnit.Status && alone == b, $"lone 0x{b:X2} not read as a status");
            Expect(single.IsEmpty, $"lone 0x{b:X2}: {single.Length} bytes left");

            byte[] data = [(byte)b, 0x00, 0x00, 0x00, 0x05];
            foreach ((ReadOnlySequence<byte> sequence, string layout) in EverySplit(data))
            {
                ReadOnlySequence<byte> buffer = sequence;
                BoundaryUnit unit = FrameCodec.TryReadBoundary(ref buffer, out byte status, out uint size);

                Expect(unit == BoundaryUnit.Status, $"{layout}: got {unit}, expected Status");
                Expect(status == b, $"{layout}: status 0x{status:X2}, expected 0x{b:X2}");
                Expect(size == 0, $"{layout}: size {size} reported for a status");
                ExpectRest(buffer, [0x00, 0x00, 0x00, 0x05], layout);
            }
        }
    }

    [Fact]
    public void TryReadBoundary_EveryHeaderFirstByte_ReadsHeader()
    {
        for (int b = 0x00; b <= 0xF0; b++)
        {
            uint expected = ((uint)b << 24) | 0x123456u;
            byte[] data = [(byte)b, 0x12, 0x34, 0x56];
            foreach ((ReadOnlySequence<byte> sequence, string layout) in EverySplit(data))
            {
                ReadOnlySequence<byte> buffer = sequence;
                BoundaryUnit unit = FrameCodec.TryReadBoundary(ref buffer, out byte status, out uint size);

                Expect(unit == BoundaryUnit.Header, $"{layout}: got {unit}, expected Header");
                Expect(size == expected, $"{layout}: size 0x{size:X8}, expected 0x{expected:X8}");
                Expect(status == 0, $"{layout}: status 0x{status:X2} reported for a header");
                Expect(buffer.IsEmpty, $"{layout}: {buffer.Length} bytes left");
            }
        }
    }

    [Fact]
    public void TryReadBoundary_EveryHeaderFirstByteWithoutFullHeader_IncompleteAndBufferUntouched()
    {
        for (int b = 0x00; b <= 0xF0; b++)
        {
            for (int length = 1; length < FrameCodec.HeaderLength; length++)
            {
                byte[] data = [(byte)b, 0x12, 0x34, 0x56];
                foreach ((ReadOnlySequence<byte> sequence, string layout) in EverySplit(data.AsSpan(0, length).ToArray()))
                {
                    ExpectIncompleteAndUntouched(sequence, layout);
                }
            }
        }
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void TryReadBoundary_PartialHeader_IncompleteAndBufferUntouched(int length)
    {
        byte[] header = [0x00, 0x04, 0x93, 0xE0];
        foreach ((ReadOnlySequence<byte> sequence, string layout) in EverySplit(header.AsSpan(0, length).ToArray()))
        {
            ExpectIncompleteAndUntouched(sequence, layout);
        }
    }

    [Fact]
    public void TryReadBoundary_StatusHeaderStatusBackToBack_ReadsEachInOrder()
    {
        byte[] data = [0xFF, 0x00, 0x00, 0x01, 0x00, 0xFC, 0x77];
        foreach ((ReadOnlySequence<byte> sequence, string layout) in EverySplit(data))
        {
            ReadOnlySequence<byte> buffer = sequence;
            BoundaryUnit first = FrameCodec.TryReadBoundary(ref buffer, out byte status1, out _);
            BoundaryUnit second = FrameCodec.TryReadBoundary(ref buffer, out _, out uint size);
            BoundaryUnit third = FrameCodec.TryReadBoundary(ref buffer, out byte status3, out _);

            Expect(first == BoundaryUnit.Status && status1 == 0xFF, $"{layout}: first unit {first} 0x{status1:X2}");
            Expect(second == BoundaryUnit.Header && size == 256, $"{layout}: second unit {second} size {size}");
            Expect(third == BoundaryUnit.Status && status3 == 0xFC, $"{layout}: third unit {third} 0x{status3:X2}");
            ExpectRest(buffer, [0x77], layout);
        }
    }

    [Theory]
    [InlineData(0u, new byte[] { 0x00, 0x00, 0x00, 0x00 })]
    [InlineData(1u, new byte[] { 0x00, 0x00, 0x00, 0x01 })]
    [InlineData(5u, new byte[] { 0x00, 0x00, 0x00, 0x05 })]
    [InlineData(255u, new byte[] { 0x00, 0x00, 0x00, 0xFF })]
    [InlineData(256u, new byte[] { 0x00, 0x00, 0x01, 0x00 })]
    [InlineData(300000u, new byte[] { 0x00, 0x04, 0x93, 0xE0 })]
    [InlineData(0x01020304u, new byte[] { 0x01, 0x02, 0x03, 0x04 })]
    [InlineData(0xF0FFFFFFu, new byte[] { 0xF0, 0xFF, 0xFF, 0xFF })]
    public void WriteHeader_Size_WritesFourBytesBigEndian(uint size, byte[] expected)
    {
        var output = new ArrayBufferWriter<byte>();
        output.Write<byte>([0x42]);

        FrameCodec.WriteHeader(output, size);

        Assert.Equal([0x42, .. expected], output.WrittenSpan.ToArray());
    }

    [Theory]
    [MemberData(nameof(Sizes))]
    public void WriteHeader_ThenTryReadBoundary_RoundTripsSize(uint size)
    {
        var output = new ArrayBufferWriter<byte>();
        FrameCodec.WriteHeader(output, size);
        var buffer = new ReadOnlySequence<byte>(output.WrittenMemory);

        Assert.Equal(BoundaryUnit.Header, FrameCodec.TryReadBoundary(ref buffer, out _, out uint read));
        Assert.Equal(size, read);
        Assert.True(buffer.IsEmpty);
    }

    [Theory]
    [InlineData(0xFF)]
    [InlineData(0xFC)]
    [InlineData(0x00)]
    public void WriteByte_Value_WritesOneByte(byte value)
    {
        var output = new ArrayBufferWriter<byte>();

        FrameCodec.WriteByte(output, value);

        Assert.Equal([value], output.WrittenSpan.ToArray());
    }

    [Fact]
    public void TryReadByte_EmptyBuffer_ReturnsFalseAndLeavesBuffer()
    {
        ReadOnlySequence<byte> buffer = ReadOnlySequence<byte>.Empty;

        Assert.False(FrameCodec.TryReadByte(ref buffer, out byte value));
        Assert.Equal(0, value);
        Assert.True(buffer.IsEmpty);
    }

    [Fact]
    public void TryReadByte_EveryValueAtEverySplit_ReturnsItAndSlicesOneByte()
    {
        for (int b = 0x00; b <= 0xFF; b++)
        {
            byte[] data = [(byte)b, 0x5A, 0xA5];
            foreach ((ReadOnlySequence<byte> sequence, string layout) in EverySplit(data))
            {
                ReadOnlySequence<byte> buffer = sequence;
                bool read = FrameCodec.TryReadByte(ref buffer, out byte value);

                Expect(read, $"{layout}: no byte read");
                Expect(value == b, $"{layout}: read 0x{value:X2}, expected 0x{b:X2}");
                ExpectRest(buffer, [0x5A, 0xA5], layout);
            }
        }
    }

    [Fact]
    public void TryReadByte_OneByteSegments_ReadsEachInOrder()
    {
        byte[] data = [0xFF, 0xFB, 0xFE, 0x00];
        ReadOnlySequence<byte> buffer = Build(data, [1, 1, 1, 1]);

        foreach (byte expected in data)
        {
            Assert.True(FrameCodec.TryReadByte(ref buffer, out byte value));
            Assert.Equal(expected, value);
        }

        Assert.True(buffer.IsEmpty);
        Assert.False(FrameCodec.TryReadByte(ref buffer, out _));
    }

    private static void ExpectIncompleteAndUntouched(ReadOnlySequence<byte> sequence, string layout)
    {
        ReadOnlySequence<byte> buffer = sequence;
        BoundaryUnit unit = FrameCodec.TryReadBoundary(ref buffer, out byte status, out uint size);

        Expect(unit == BoundaryUnit.Incomplete, $"{layout}: got {unit}, expected Incomplete");
        Expect(status == 0 && size == 0, $"{layout}: Incomplete reported status 0x{status:X2} size {size}");
        Expect(buffer.Start.Equals(sequence.Start) && buffer.End.Equals(sequence.End), $"{layout}: Incomplete moved the buffer");
        Expect(buffer.Length == sequence.Length, $"{layout}: Incomplete changed the length from {sequence.Length} to {buffer.Length}");
    }

    private static void ExpectRest(ReadOnlySequence<byte> buffer, byte[] expected, string layout)
    {
        byte[] rest = buffer.ToArray();
        Expect(rest.AsSpan().SequenceEqual(expected), $"{layout}: left {Convert.ToHexString(rest)}, expected {Convert.ToHexString(expected)}");
    }

    private static void Expect(bool condition, string failure) => Assert.True(condition, failure);

    /// <summary>
    /// Every way to cut <paramref name="data"/> into non-empty segments: contiguous, each single split point,
    /// and every combination of them up to one byte per segment.
    /// </summary>
    private static IEnumerable<(ReadOnlySequence<byte> Sequence, string Layout)> EverySplit(byte[] data)
    {
        if (data.Length == 0)
        {
            yield return (ReadOnlySequence<byte>.Empty, "[]");
            yield return (Build(data, [0]), "[<empty segment>]");
            yield break;
        }

        int cuts = data.Length - 1;
        for (int mask = 0; mask < 1 << cuts; mask++)
        {
            var lengths = new List<int>();
            int run = 1;
            for (int i = 0; i < cuts; i++)
            {
                if ((mask & (1 << i)) != 0)
                {
                    lengths.Add(run);
                    run = 1;
                }
                else
                {
                    run++;
                }
            }

            lengths.Add(run);
            ReadOnlySequence<byte> sequence = Build(data, lengths);
            Assert.Equal(lengths.Count == 1, sequence.IsSingleSegment);
            yield return (sequence, Describe(data, lengths));
        }
    }

    private static ReadOnlySequence<byte> Build(byte[] data, List<int> lengths)
    {
        // Each segment gets its own array, so a parser that reads past a segment's end cannot see the next bytes.
        int offset = 0;
        TestSegment first = new(data.AsSpan(offset, lengths[0]).ToArray(), 0);
        offset += lengths[0];
        TestSegment last = first;
        for (int i = 1; i < lengths.Count; i++)
        {
            last = last.Append(data.AsSpan(offset, lengths[i]).ToArray());
            offset += lengths[i];
        }

        Assert.Equal(data.Length, offset);
        return new ReadOnlySequence<byte>(first, 0, last, last.Memory.Length);
    }

    private static string Describe(byte[] data, List<int> lengths)
    {
        var parts = new List<string>();
        int offset = 0;
        foreach (int length in lengths)
        {
            parts.Add(Convert.ToHexString(data, offset, length));
            offset += length;
        }

        return "[" + string.Join("|", parts) + "]";
    }
}
