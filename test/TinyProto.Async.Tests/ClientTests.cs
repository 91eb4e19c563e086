using System.Net;
using System.Net.Sockets;

namespace TinyProto.Async.Tests;

public sealed class ClientTests : ConnectionTestBase
{
    [Fact]
    public async Task IsConnectedToItself_ASocketGivenTheTargetPortAsItsOwn_IsTold_AndAConnectionToAServerIsNot()
    {
        // What a reconnecting client's connect to a loopback port nobody listens on can become: given that port as its
        // own, the socket connects to itself (TCP simultaneous open) and would hold the port its server needs.
        using var self = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        self.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        await self.ConnectAsync(self.LocalEndPoint!, TimeoutToken);
        Assert.True(TinyProtoClient.IsConnectedToItself(self));

        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen();
        using var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await client.ConnectAsync(listener.LocalEndPoint!, TimeoutToken);
        Assert.False(TinyProtoClient.IsConnectedToItself(client));
    }

    [Theory]
    [InlineData(0x42, TinyProtoError.HandshakeFailed)]
    [InlineData(0xFE, TinyProtoError.ConnectionLimitReached)]
    public async Task ConnectToAsync_RawServerAnswersUnexpectedByte_ThrowsAndKeepsNoConnection(byte answer, TinyProtoError expected)
    {
        using Socket listener = ListenOnLoopback(out int port);
        Task<byte> rawServer = Task.Run(async () =>
        {
            Socket accepted = await listener.AcceptAsync(TimeoutToken);
            await using var raw = new RawPeer(accepted, TimeoutToken);
            byte opening = await raw.OpenAsServerAsync(answer);
            await raw.CompleteOutputAsync();
            Assert.Empty(await raw.ReadToEndAsync());
            return opening;
        });

        await using var client = new TinyProtoClient();
        var ex = await Assert.ThrowsAsync<TinyProtoException>(() => Bounded(client.ConnectToAsync("127.0.0.1", port, TimeoutToken)));
        Assert.Equal(expected, ex.Error);
        Assert.Equal(0xFF, await Bounded(rawServer));
        Assert.Empty(client.ActiveConnections);
    }

    [Fact]
    public async Task ConnectToAsync_ServerAnswersNothing_ThrowsTimeout()
    {
        using Socket listener = ListenOnLoopback(out int port);

        await using var client = new TinyProtoClient { Timeout = TimeSpan.FromMilliseconds(300) };
        var ex = await Assert.ThrowsAsync<TinyProtoException>(() => Bounded(client.ConnectToAsync("127.0.0.1", port, TimeoutToken)));
        Assert.Equal(TinyProtoError.Timeout, ex.Error);
    }

    [Fact]
    public async Task Completion_PeerResetsTheConnection_FaultsWithConnectionClosedAroundTheSocketError()
    {
        using Socket listener = ListenOnLoopback(out int port);
        var handshakeDone = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Task rawServer = Task.Run(async () =>
        {
            Socket accepted = await listener.AcceptAsync(TimeoutToken);
            var raw = new RawPeer(accepted, TimeoutToken);
            await raw.OpenAsServerAsync();
            await handshakeDone.Task.WaitAsync(TimeoutToken);

            // Closing with a zero linger time sends a reset instead of a FIN.
            accepted.LingerState = new LingerOption(true, 0);
            accepted.Close();
        });

        await using var client = new TinyProtoClient();
        TinyProtoConnection connection = await Bounded(client.ConnectAsync("127.0.0.1", port, TimeoutToken));
        handshakeDone.SetResult();
        await Bounded(rawServer);

        var ex = await Assert.ThrowsAsync<TinyProtoException>(() => Bounded(connection.Completion));
        Assert.Equal(TinyProtoError.ConnectionClosed, ex.Error);
        Assert.IsType<IOException>(ex.InnerException, exactMatch: false);
        Assert.StartsWith("The connection was lost: ", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ConnectAsync_StopAsyncDuringTheHandshake_ThrowsAndClosesTheNewConnection()
    {
        using Socket listener = ListenOnLoopback(out int port);
        var answer = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var opened = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Task<byte[]> rawServer = Task.Run(async () =>
        {
            Socket accepted = await listener.AcceptAsync(TimeoutToken);
            await using var raw = new RawPeer(accepted, TimeoutToken);
            Assert.Equal(0xFF, await raw.ReadByteAsync());
            opened.SetResult();
            await answer.Task.WaitAsync(TimeoutToken);
            await raw.WriteAsync(0xFF);
            return await raw.ReadToEndAsync();
        });

        var client = new TinyProtoClient();
        Task<TinyProtoConnection> connect = client.ConnectAsync("127.0.0.1", port, TimeoutToken);
        await Bounded(opened.Task);
        await Bounded(client.StopAsync(TimeoutToken));
        answer.SetResult();

        var ex = await Assert.ThrowsAsync<InvalidOperationException>(() => Bounded(connect));
        Assert.Contains("stopped while connecting", ex.Message, StringComparison.Ordinal);
        Assert.Empty(await Bounded(rawServer));
        Assert.Empty(client.ActiveConnections);
    }

    [Fact]
    public async Task ActiveConnections_ConnectionClosed_Removed()
    {
        await using var server = new TinyProtoServer();
        int port = await StartLoopbackAsync(server);
        await using var client = new TinyProtoClient();
        Guid id = await Bounded(client.ConnectToAsync("127.0.0.1", port, TimeoutToken));
        TinyProtoConnection connection = client.ActiveConnections[id];
        Assert.Equal(TinyProtoRole.Client, connection.Role);
        Assert.Equal(TinyProtoRole.Server, (await SingleServerConnectionAsync(server)).Role);

        await Bounded(connection.CloseAsync(TimeoutToken).AsTask());
        await Bounded(Task.Run(async () =>
        {
            while (client.ActiveConnections.ContainsKey(id) || !server.ActiveConnections.IsEmpty())
            {
                await Task.Delay(5, TimeoutToken);
            }
        }));
    }

    [Fact]
    public async Task StopAsync_WithOpenConnections_ClosesThemAndRunsPostLoopOnce()
    {
        var log = new EventLog();
        await using var server = new TinyProtoServer();
        int port = await StartLoopbackAsync(server);
        var client = new TinyProtoClient();
        client.SetConnectionHandler(() => new RecordingConnection(log));
        TinyProtoConnection a = client.ActiveConnections[await Bounded(client.ConnectToAsync("127.0.0.1", port, TimeoutToken))];
        TinyProtoConnection b = client.ActiveConnections[await Bounded(client.ConnectToAsync("127.0.0.1", port, TimeoutToken))];

        await Bounded(client.StopAsync(TimeoutToken));
        await Bounded(Task.WhenAll(a.Completion, b.Completion));
        Assert.Equal(2, log.Count("pre"));
        Assert.Equal(2, log.Count("post"));
        await Assert.ThrowsAsync<InvalidOperationException>(() => client.ConnectToAsync("127.0.0.1", port, TimeoutToken));
    }
}

internal static class ReadOnlyDictionaryExtensions
{
    public static bool IsEmpty<TKey, TValue>(this IReadOnlyDictionary<TKey, TValue> dictionary) => dictionary.Count == 0;
}
