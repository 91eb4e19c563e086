using System.Net;
using System.Net.Sockets;

namespace TinyProto.Async.Tests;

/// <summary>Errors say who and where: the endpoint a connect was refused by, the address a bind failed on, who closed a connection.</summary>
public sealed class ErrorMessageTests : ConnectionTestBase
{
    [Fact]
    public async Task ARefusedConnect_NamesTheEndpoint()
    {
        int port = FreeLoopbackPort();
        await using var client = new TinyProtoClient();
        var ex = await Assert.ThrowsAsync<SocketException>(() => Bounded(client.ConnectAsync("127.0.0.1", port, TimeoutToken)));
        Assert.Equal(SocketError.ConnectionRefused, ex.SocketErrorCode);
        Assert.StartsWith($"Cannot connect to 127.0.0.1:{port}: ", ex.Message, StringComparison.Ordinal);
        Assert.Contains("refused", ex.Message, StringComparison.OrdinalIgnoreCase);
        Assert.Single(System.Text.RegularExpressions.Regex.Matches(ex.Message, $"127\\.0\\.0\\.1:{port}"));
    }

    [Fact]
    public async Task ARefusedConnectToAName_NamesEveryAddressTried()
    {
        int port = FreeLoopbackPort();
        await using var client = new TinyProtoClient();
        var ex = await Assert.ThrowsAsync<SocketException>(() => Bounded(client.ConnectAsync("localhost", port, TimeoutToken)));
        Assert.StartsWith($"Cannot connect to localhost:{port}", ex.Message, StringComparison.Ordinal);
        Assert.Contains($"127.0.0.1:{port}", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ABindOnAPortInUse_NamesTheAddress()
    {
        await using var first = new TinyProtoServer();
        int port = await StartLoopbackAsync(first);
        await using var second = new TinyProtoServer();
        second.AddAddress("127.0.0.1", port);
        var ex = await Assert.ThrowsAsync<SocketException>(() => Bounded(second.StartAsync(TimeoutToken)));
        Assert.Equal(SocketError.AddressAlreadyInUse, ex.SocketErrorCode);
        Assert.StartsWith($"Cannot listen on 127.0.0.1:{port}: ", ex.Message, StringComparison.Ordinal);
        Assert.Single(System.Text.RegularExpressions.Regex.Matches(ex.Message, $"127\\.0\\.0\\.1:{port}"));
    }

    [Fact]
    public async Task AfterThePeerClosed_TransmitSaysThePeerClosedIt()
    {
        await using var server = new TinyProtoServer();
        int port = await StartLoopbackAsync(server);
        await using var client = new TinyProtoClient();
        TinyProtoConnection connection = await Bounded(client.ConnectAsync("127.0.0.1", port, TimeoutToken));
        await WaitUntilAsync(() => server.ActiveConnections.Count > 0);
        await server.ActiveConnections.Values.Single().CloseAsync(TimeoutToken);
        await Bounded(connection.Completion);

        var ex = await Assert.ThrowsAsync<TinyProtoException>(() => Bounded(connection.TransmitAsync("late"u8.ToArray(), TimeoutToken).AsTask()));
        Assert.Equal(TinyProtoError.ConnectionClosed, ex.Error);
        Assert.Contains("the peer closed it", ex.Message, StringComparison.Ordinal);
        Assert.Equal(TinyProtoCloseReason.PeerClosed, connection.CloseReason);
    }

    [Fact]
    public async Task AfterCloseAsync_ReceiveSaysItWasClosedLocally()
    {
        await using var server = new TinyProtoServer();
        int port = await StartLoopbackAsync(server);
        await using var client = new TinyProtoClient();
        TinyProtoConnection connection = await Bounded(client.ConnectAsync("127.0.0.1", port, TimeoutToken));
        await connection.CloseAsync(TimeoutToken);

        var ex = await Assert.ThrowsAsync<TinyProtoException>(() => Bounded(connection.ReceiveAsync(TimeoutToken).AsTask()));
        Assert.Equal(TinyProtoError.ConnectionClosed, ex.Error);
        Assert.Contains("closed locally", ex.Message, StringComparison.Ordinal);
    }

}
