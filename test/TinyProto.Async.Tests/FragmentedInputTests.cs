using System.IO.Pipelines;

namespace TinyProto.Async.Tests;

public sealed class FragmentedInputTests : ConnectionTestBase
{
    private static readonly byte[][] s_messages =
    [
        "hello"u8.ToArray(),
        [],
        GeneratedStream.Bytes(300),
        [0xFF, 0xFE, 0xF1, 0x00],
        "x"u8.ToArray(),
    ];

    [Fact]
    public async Task ReceiveLoop_PeerWritesOneByteAtATime_EveryMessageIntactAndInOrder()
    {
        var server = new RecordingConnection();
        (IDuplexPipe clientPipe, IDuplexPipe serverPipe) = CreatePipePair();
        var raw = new RawPeer(clientPipe, TimeoutToken);
        Task start = server.StartAsync(serverPipe, TinyProtoRole.Server, TimeoutToken);
        await Bounded(raw.WriteOneByteAtATimeAsync([0xFF]));
        Assert.Equal(0xFF, await Bounded(raw.ReadByteAsync()));
        await Bounded(start);

        foreach (byte[] message in s_messages)
        {
            await Bounded(raw.WriteOneByteAtATimeAsync(RawPeer.Header((uint)message.Length)));
            Assert.Equal(0xFF, await Bounded(raw.ReadByteAsync()));
            await Bounded(raw.WriteOneByteAtATimeAsync(message));
        }

        await raw.CompleteOutputAsync();
        await Bounded(server.Completion);
        Assert.Equal(s_messages, server.Received.ToArray());
        Assert.Equal(s_messages.Length + 2, server.Log.Snapshot().Length);
    }

    [Fact]
    public async Task ClientRole_PeerWritesOneByteAtATime_ReceiveAsyncGetsEveryMessageAndStatusesWork()
    {
        var client = new TinyProtoConnection();
        (IDuplexPipe clientPipe, IDuplexPipe serverPipe) = CreatePipePair();
        var raw = new RawPeer(serverPipe, TimeoutToken);
        Task start = client.StartAsync(clientPipe, TinyProtoRole.Client, TimeoutToken);
        Assert.Equal(0xFF, await Bounded(raw.ReadByteAsync()));
        await Bounded(raw.WriteOneByteAtATimeAsync([0xFF]));
        await Bounded(start);

        foreach (byte[] message in s_messages)
        {
            await Bounded(raw.WriteOneByteAtATimeAsync(RawPeer.Header((uint)message.Length)));
            Assert.Equal(0xFF, await Bounded(raw.ReadByteAsync()));
            await Bounded(raw.WriteOneByteAtATimeAsync(message));
            Assert.Equal(message, await Bounded(client.ReceiveAsync(TimeoutToken).AsTask()));
        }

        // A status delivered on its own byte still completes a transmission.
        Task transmit = client.TransmitAsync("up"u8.ToArray(), TimeoutToken).AsTask();
        Assert.Equal(RawPeer.Header(2), await Bounded(raw.ReadExactlyAsync(4)));
        await Bounded(raw.WriteOneByteAtATimeAsync([0xFF]));
        Assert.Equal("up"u8.ToArray(), await Bounded(raw.ReadExactlyAsync(2)));
        await Bounded(transmit);
    }

    [Fact]
    public async Task ReceiveLoop_WholeConversationInOneWrite_EveryMessageDelivered()
    {
        // The opposite extreme: a pipelined peer may write many headers and payloads in one chunk.
        var server = new RecordingConnection();
        RawPeer raw = await StartWithRawClientAsync(server, opening: 0xFB);
        var all = new List<byte>();
        foreach (byte[] message in s_messages)
        {
            all.AddRange(RawPeer.Header((uint)message.Length));
            all.AddRange(message);
        }

        await Bounded(raw.WriteAsync([.. all]));
        Assert.Equal(Enumerable.Repeat((byte)0xFF, s_messages.Length), await Bounded(raw.ReadExactlyAsync(s_messages.Length)));
        await raw.CompleteOutputAsync();
        await Bounded(server.Completion);
        Assert.Equal(s_messages, server.Received.ToArray());
    }
}
