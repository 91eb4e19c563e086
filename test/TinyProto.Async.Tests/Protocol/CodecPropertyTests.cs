using System.Buffers;
using CsCheck;
using TinyProto.Async.Fuzz;
using TinyProto.Async.Protocol;

namespace TinyProto.Async.Tests.Protocol;

/// <summary>
/// Property tests of the frame codec (CsCheck: generated inputs, shrunk to the smallest failing one, with a seed that
/// replays it): any sequence of messages, written as headers and payloads and then cut into any pieces, arriving in
/// any chunks, decodes to the same messages.
/// </summary>
public sealed class CodecPropertyTests
{
    /// <summary>Messages of 0 to 2,000 bytes (a few up to 70,000), and the lengths of the pieces the stream is cut into.</summary>
    private static readonly Gen<(byte[][] Messages, int[] Pieces)> Streams =
        Gen.Select(
            Gen.Frequency((8, Gen.Byte.Array[0, 2000]), (1, Gen.Byte.Array[60_000, 70_000])).Array[0, 12],
            Gen.Frequency((4, Gen.Int[1, 8]), (2, Gen.Int[9, 600]), (1, Gen.Int[601, 20_000])).Array[1, 60]);

    [Fact]
    public void AnyMessages_CutIntoAnySegments_DecodeToTheSameMessages()
    {
        Streams.Sample((messages, pieces) =>
        {
            byte[] stream = Encode(messages);
            ReadOnlySequence<byte> sequence = CodecTarget.Segmented(stream, pieces);

            List<byte[]> decoded = DecodeAll(ref sequence);

            return sequence.IsEmpty && decoded.Count == messages.Length && decoded.Zip(messages).All(p => p.First.AsSpan().SequenceEqual(p.Second));
        }, iter: 400, print: Describe);
    }

    /// <summary>As <see cref="Streams"/> with messages of up to 2,000 bytes: each chunk re-reads what waits, so large ones cost too much here.</summary>
    private static readonly Gen<(byte[][] Messages, int[] Pieces)> SmallStreams =
        Gen.Select(Gen.Byte.Array[0, 2000].Array[0, 12], Gen.Frequency((4, Gen.Int[1, 8]), (2, Gen.Int[9, 600])).Array[1, 60]);

    [Fact]
    public void AnyMessages_ArrivingInAnyChunks_DecodeIdenticallyToTheWholeStream()
    {
        SmallStreams.Sample((messages, pieces) =>
        {
            byte[] stream = Encode(messages);

            // As a receive loop sees it: what arrived so far, one chunk at a time; whole messages are taken, the rest waits.
            var decoded = new List<byte[]>();
            int arrived = 0;
            int consumed = 0;
            int piece = 0;
            while (arrived < stream.Length)
            {
                arrived = Math.Min(stream.Length, arrived + pieces[piece++ % pieces.Length]);
                ReadOnlySequence<byte> unread = CodecTarget.Segmented(stream.AsMemory(consumed, arrived - consumed).ToArray(), pieces);
                long before = unread.Length;
                decoded.AddRange(DecodeAll(ref unread));
                consumed += (int)(before - unread.Length);
            }

            return consumed == stream.Length && decoded.Count == messages.Length && decoded.Zip(messages).All(p => p.First.AsSpan().SequenceEqual(p.Second));
        }, iter: 300, print: Describe);
    }

    [Fact]
    public void AnyHeader_RoundTrips_UpToTheProtocolMaximum()
    {
        Gen.UInt[0, FrameCodec.MaxMessageSize].Sample(size =>
        {
            var output = new ArrayBufferWriter<byte>();
            FrameCodec.WriteHeader(output, size);
            var buffer = new ReadOnlySequence<byte>(output.WrittenMemory);

            return FrameCodec.TryReadBoundary(ref buffer, out _, out uint read) == BoundaryUnit.Header && read == size && buffer.IsEmpty;
        }, iter: 2000);
    }

    private static byte[] Encode(byte[][] messages)
    {
        var output = new ArrayBufferWriter<byte>();
        foreach (byte[] message in messages)
        {
            FrameCodec.WriteHeader(output, (uint)message.Length);
            output.Write(message);
        }

        return output.WrittenSpan.ToArray();
    }

    /// <summary>Takes every whole message at the front of <paramref name="buffer"/>; leaves a partial one in it.</summary>
    private static List<byte[]> DecodeAll(ref ReadOnlySequence<byte> buffer)
    {
        var messages = new List<byte[]>();
        while (true)
        {
            ReadOnlySequence<byte> rest = buffer;
            BoundaryUnit unit = FrameCodec.TryReadBoundary(ref rest, out _, out uint size);
            if (unit == BoundaryUnit.Incomplete || (unit == BoundaryUnit.Header && rest.Length < size))
            {
                return messages;
            }

            Assert.Equal(BoundaryUnit.Header, unit);
            messages.Add(rest.Slice(0, size).ToArray());
            buffer = rest.Slice(size);
        }
    }

    private static string Describe((byte[][] Messages, int[] Pieces) input) =>
        $"messages of [{string.Join(", ", input.Messages.Select(m => m.Length))}] bytes, pieces [{string.Join(", ", input.Pieces)}]";
}
