namespace TinyProto.Async.Tests;

/// <summary>
/// Which options a connection runs with, and that they cannot change under it: a handler's own options win over the
/// host's <c>ConnectionOptions</c>; the client's <c>Timeout</c> survives replacing <c>ConnectionOptions</c>; a started
/// connection's options are read-only, while the host's stay writable.
/// </summary>
public sealed class OptionsPrecedenceTests : ConnectionTestBase
{
    [Fact]
    public async Task ServerConnectionOptions_HandlerSetsOwnOptions_ConnectionKeepsThem()
    {
        await using var server = new TinyProtoServer { ConnectionOptions = new TinyProtoConnectionOptions { MaxMessageSize = 1000 } };
        server.SetConnectionHandler(() => new TinyProtoConnection { Options = new TinyProtoConnectionOptions { MaxMessageSize = 10 } });
        int port = await StartLoopbackAsync(server);

        await using RawPeer raw = await ConnectRawAsync(port);
        Assert.Equal(0xFF, await Bounded(raw.OpenAsClientAsync()));
        TinyProtoConnection connection = await SingleServerConnectionAsync(server);
        Assert.Equal(10, connection.Options.MaxMessageSize);

        // 11 bytes are over the handler's limit (though well under the server's): refused with 0xFC before any payload.
        Assert.Equal(0xFC, await Bounded(raw.SendMessageAsync(new byte[11])));
        await AssertFaultsAsync(connection.Completion, TinyProtoError.MessageTooLarge);
        Assert.Equal(1000, server.ConnectionOptions.MaxMessageSize);
    }

    [Fact]
    public async Task ServerConnectionOptions_HandlerSetsNoOptions_ConnectionGetsACopyOfTheServers()
    {
        await using var server = new TinyProtoServer { ConnectionOptions = new TinyProtoConnectionOptions { MaxMessageSize = 10 } };
        server.SetConnectionHandler(() => new TinyProtoConnection());
        int port = await StartLoopbackAsync(server);

        await using RawPeer raw = await ConnectRawAsync(port);
        Assert.Equal(0xFF, await Bounded(raw.OpenAsClientAsync()));
        TinyProtoConnection connection = await SingleServerConnectionAsync(server);
        Assert.Equal(10, connection.Options.MaxMessageSize);
        Assert.NotSame(server.ConnectionOptions, connection.Options);
        Assert.Equal(0xFC, await Bounded(raw.SendMessageAsync(new byte[11])));
    }

    [Fact]
    public async Task ServerConnectionOptions_HandlerSharesOneOptionsObject_EveryConnectionStarts()
    {
        var shared = new TinyProtoConnectionOptions { MaxMessageSize = 10 };
        await using var server = new TinyProtoServer();
        server.SetConnectionHandler(() => new TinyProtoConnection { Options = shared });
        int port = await StartLoopbackAsync(server);

        for (int i = 0; i < 3; i++)
        {
            await using RawPeer raw = await ConnectRawAsync(port);
            Assert.Equal(0xFF, await Bounded(raw.OpenAsClientAsync()));
            Assert.Equal(0xFC, await Bounded(raw.SendMessageAsync(new byte[11])));
        }

        Assert.True(shared.IsReadOnly);
    }

    [Fact]
    public async Task ClientTimeout_ConnectionOptionsReplacedAfterwards_TimeoutStillApplies()
    {
        TimeSpan timeout = TimeSpan.FromMilliseconds(1234);
        await using var client = new TinyProtoClient { Timeout = timeout };
        client.ConnectionOptions = new TinyProtoConnectionOptions { MaxMessageSize = 10 };
        Assert.Equal(timeout, client.Timeout);

        await using var server = new TinyProtoServer();
        int port = await StartLoopbackAsync(server);
        TinyProtoConnection connection = await Bounded(client.ConnectAsync("127.0.0.1", port, TimeoutToken));
        Assert.Equal(timeout, connection.Options.Timeout);
        Assert.Equal(10, connection.Options.MaxMessageSize);

        // Still the client's own setting after the options object changes its timeout.
        client.ConnectionOptions.Timeout = TimeSpan.FromSeconds(9);
        Assert.Equal(timeout, client.Timeout);
        Assert.Equal(timeout, (await Bounded(client.ConnectAsync("127.0.0.1", port, TimeoutToken))).Options.Timeout);
    }

    [Fact]
    public async Task ClientTimeout_NeverSet_ReadsAndUsesConnectionOptionsTimeout()
    {
        await using var client = new TinyProtoClient { ConnectionOptions = new TinyProtoConnectionOptions { Timeout = TimeSpan.FromSeconds(7) } };
        Assert.Equal(TimeSpan.FromSeconds(7), client.Timeout);

        await using var server = new TinyProtoServer();
        int port = await StartLoopbackAsync(server);
        TinyProtoConnection connection = await Bounded(client.ConnectAsync("127.0.0.1", port, TimeoutToken));
        Assert.Equal(TimeSpan.FromSeconds(7), connection.Options.Timeout);
    }

    [Fact]
    public async Task Options_ChangedAfterTheConnectionStarted_ThrowsAndTheValueStays()
    {
        var client = new TinyProtoConnection();
        var server = new TinyProtoConnection { Options = new TinyProtoConnectionOptions { Timeout = TimeSpan.FromSeconds(3) } };
        Assert.False(server.Options.IsReadOnly);
        await StartPairAsync(client, server);

        Assert.True(server.Options.IsReadOnly);
        var ex = Assert.Throws<InvalidOperationException>(() => server.Options.Timeout = TimeSpan.FromSeconds(1));
        Assert.Contains("TinyProtoConnectionOptions.Timeout cannot be changed", ex.Message, StringComparison.Ordinal);
        Assert.Contains("has started", ex.Message, StringComparison.Ordinal);
        Assert.Equal(TimeSpan.FromSeconds(3), server.Options.Timeout);
        Assert.Throws<InvalidOperationException>(() => server.Options.MaxMessageSize = 5);
        Assert.Throws<InvalidOperationException>(() => server.Options.AcceptPipelining = false);
        Assert.Throws<InvalidOperationException>(() => server.Options.Logger = null);
        Assert.Throws<InvalidOperationException>(() => server.Options = new TinyProtoConnectionOptions());

        // A copy is writable, and is how to derive options for a later connection.
        TinyProtoConnectionOptions copy = server.Options.Clone();
        Assert.False(copy.IsReadOnly);
        copy.Timeout = TimeSpan.FromSeconds(1);
        Assert.Equal(TimeSpan.FromSeconds(3), server.Options.Timeout);

        await Bounded(client.CloseAsync(TimeoutToken).AsTask());
        await Bounded(server.CloseAsync(TimeoutToken).AsTask());
    }

    [Fact]
    public async Task HostConnectionOptions_AfterConnectionsStarted_StayWritable()
    {
        await using var server = new TinyProtoServer();
        int port = await StartLoopbackAsync(server);
        await using var client = new TinyProtoClient();
        TinyProtoConnection clientSide = await Bounded(client.ConnectAsync("127.0.0.1", port, TimeoutToken));
        TinyProtoConnection serverSide = await SingleServerConnectionAsync(server);

        Assert.True(clientSide.Options.IsReadOnly);
        Assert.True(serverSide.Options.IsReadOnly);
        Assert.False(client.ConnectionOptions.IsReadOnly);
        Assert.False(server.ConnectionOptions.IsReadOnly);
        client.ConnectionOptions.MaxMessageSize = 10;
        server.ConnectionOptions.MaxMessageSize = 10;

        // Later connections take the change; the running ones do not.
        Assert.Equal(10, (await Bounded(client.ConnectAsync("127.0.0.1", port, TimeoutToken))).Options.MaxMessageSize);
        Assert.Equal(TinyProtoConnectionOptions.DefaultMaxMessageSize, clientSide.Options.MaxMessageSize);
        Assert.Equal(TinyProtoConnectionOptions.DefaultMaxMessageSize, serverSide.Options.MaxMessageSize);
    }
}
