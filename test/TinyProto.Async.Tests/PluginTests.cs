using System.Buffers;
using System.Text;

namespace TinyProto.Async.Tests;

public sealed class PluginTests : ConnectionTestBase
{
    private static readonly byte[] s_key = "K3y!"u8.ToArray();
    private static readonly byte[] s_prefix = "P:"u8.ToArray();

    [Fact]
    public async Task Plugins_SameOrderOnBothEnds_MessagesRoundTrip()
    {
        var client = new TinyProtoConnection();
        var server = new RecordingConnection();
        foreach (TinyProtoConnection c in new[] { client, server })
        {
            c.AddPlugin(new XorPlugin());
            c.AddPlugin(new PrefixPlugin());
        }

        await StartPairAsync(client, server);
        byte[][] messages = ["hello"u8.ToArray(), [], RandomBytes(5000, 5)];
        foreach (byte[] message in messages)
        {
            await Bounded(client.TransmitAsync(message, TimeoutToken).AsTask());
        }

        await Bounded(server.Log.WaitForAsync(e => e.Length == 1 + messages.Length, TimeoutToken));
        Assert.Equal(messages, server.Received.ToArray());

        // And the other way, to ReceiveAsync.
        await Bounded(server.TransmitAsync("back"u8.ToArray(), TimeoutToken).AsTask());
        Assert.Equal("back"u8.ToArray(), await Bounded(client.ReceiveAsync(TimeoutToken).AsTask()));
    }

    [Fact]
    public async Task Plugins_DifferentOrderOnTheEnds_MessageNotDeliveredAsSent()
    {
        var client = new TinyProtoConnection();
        client.AddPlugin(new XorPlugin());
        client.AddPlugin(new PrefixPlugin());
        var server = new RecordingConnection();
        server.AddPlugin(new PrefixPlugin());
        server.AddPlugin(new XorPlugin());
        await StartPairAsync(client, server);

        await Bounded(client.TransmitAsync("hello world"u8.ToArray(), TimeoutToken).AsTask());

        // The server undoes XOR before the prefix, so its prefix check sees scrambled bytes and fails.
        await Assert.ThrowsAsync<InvalidDataException>(() => Bounded(server.Completion));
        Assert.Equal(["pre", "post"], server.Log.Snapshot());
    }

    [Fact]
    public async Task Plugin_Xor_WireBytesAreTransformedBothWays()
    {
        var client = new TinyProtoConnection();
        client.AddPlugin(new XorPlugin());
        RawPeer raw = await StartWithRawServerAsync(client);
        byte[] message = "plain text"u8.ToArray();

        Task transmit = client.TransmitAsync(message, TimeoutToken).AsTask();
        Assert.Equal(Xor(message), await Bounded(raw.ReceiveMessageAsync()));
        await Bounded(transmit);

        Assert.Equal(0xFF, await Bounded(raw.SendMessageAsync(Xor(message))));
        Assert.Equal(message, await Bounded(client.ReceiveAsync(TimeoutToken).AsTask()));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Plugins_RegistrationOrder_DecidesWireBytes(bool xorFirst)
    {
        var client = new TinyProtoConnection();
        if (xorFirst)
        {
            client.AddPlugin(new XorPlugin());
            client.AddPlugin(new PrefixPlugin());
        }
        else
        {
            client.AddPlugin(new PrefixPlugin());
            client.AddPlugin(new XorPlugin());
        }

        RawPeer raw = await StartWithRawServerAsync(client);
        byte[] message = "order"u8.ToArray();
        byte[] expected = xorFirst ? [.. s_prefix, .. Xor(message)] : Xor([.. s_prefix, .. message]);

        Task transmit = client.TransmitAsync(message, TimeoutToken).AsTask();
        Assert.Equal(expected, await Bounded(raw.ReceiveMessageAsync()));
        await Bounded(transmit);

        // Receive undoes them in reverse order.
        Assert.Equal(0xFF, await Bounded(raw.SendMessageAsync(expected)));
        Assert.Equal(message, await Bounded(client.ReceiveAsync(TimeoutToken).AsTask()));
    }

    [Fact]
    public async Task Plugin_ThrowsOnReceive_EndsThatConnection()
    {
        var server = new RecordingConnection();
        server.AddPlugin(new PrefixPlugin());
        RawPeer raw = await StartWithRawClientAsync(server);
        Assert.Equal(0xFF, await Bounded(raw.SendMessageAsync("no prefix"u8.ToArray())));

        await Assert.ThrowsAsync<InvalidDataException>(() => Bounded(server.Completion));
        Assert.Equal(["pre", "post"], server.Log.Snapshot());
    }

    [Fact]
    public async Task Plugins_AddedThroughServerAndClient_ApplyToTheirConnections()
    {
        await using var server = new TinyProtoServer();
        server.AddPlugin(new XorPlugin());
        server.AddPlugin(new PrefixPlugin());
        server.SetConnectionHandler<EchoConnection>();
        int port = await StartLoopbackAsync(server);
        await using var client = new TinyProtoClient();
        client.AddPlugin(new XorPlugin());
        client.AddPlugin(new PrefixPlugin());
        TinyProtoConnection connection = client.ActiveConnections[await Bounded(client.ConnectToAsync("127.0.0.1", port, TimeoutToken))];

        await Bounded(connection.TransmitAsync("via server"u8.ToArray(), TimeoutToken).AsTask());
        Assert.Equal("via server"u8.ToArray(), await Bounded(connection.ReceiveAsync(TimeoutToken).AsTask()));
    }

    private static byte[] Xor(ReadOnlySpan<byte> data)
    {
        byte[] result = new byte[data.Length];
        for (int i = 0; i < data.Length; i++)
        {
            result[i] = (byte)(data[i] ^ s_key[i % s_key.Length]);
        }

        return result;
    }

    /// <summary>XOR with a repeating key, by position in the message (its own inverse).</summary>
    private sealed class XorPlugin : ITinyProtoPlugin
    {
        public ReadOnlySequence<byte> Transmit(ReadOnlySequence<byte> message) => new(Xor(message.ToArray()));

        public ReadOnlySequence<byte> Receive(ReadOnlySequence<byte> message) => new(Xor(message.ToArray()));
    }

    /// <summary>Adds "P:" in front on transmit; checks and strips it on receive.</summary>
    private sealed class PrefixPlugin : ITinyProtoPlugin
    {
        public ReadOnlySequence<byte> Transmit(ReadOnlySequence<byte> message) => new([.. s_prefix, .. message.ToArray()]);

        public ReadOnlySequence<byte> Receive(ReadOnlySequence<byte> message)
        {
            byte[] bytes = message.ToArray();
            if (!bytes.AsSpan().StartsWith(s_prefix))
            {
                throw new InvalidDataException("Missing prefix: " + Encoding.ASCII.GetString(bytes));
            }

            return new(bytes[s_prefix.Length..]);
        }
    }
}
