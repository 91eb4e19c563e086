namespace TinyProto.Async.Tests;

/// <summary>
/// A connection leaves its server's and its client's <c>ActiveConnections</c> before its <c>Completion</c> completes,
/// so whoever awaited <c>Completion</c> never still finds it listed.
/// </summary>
public sealed class ActiveConnectionsTests : ConnectionTestBase
{
    private const int Clients = 8;
    private const int Rounds = 5;

    [Fact]
    public async Task ServerActiveConnections_AfterServerSideCompletion_NoLongerListsTheConnection()
    {
        await using var server = new TinyProtoServer();
        int port = await StartLoopbackAsync(server);
        await using var client = new TinyProtoClient();
        for (int round = 0; round < Rounds; round++)
        {
            var clients = new List<TinyProtoConnection>();
            for (int i = 0; i < Clients; i++)
            {
                clients.Add(await Bounded(client.ConnectAsync("127.0.0.1", port, TimeoutToken)));
            }

            await WaitUntilAsync(() => server.ActiveConnections.Count == Clients);
            var byRemote = server.ActiveConnections.Values.ToDictionary(c => c.RemoteEndPoint!.ToString()!);
            foreach (TinyProtoConnection clientSide in clients)
            {
                TinyProtoConnection serverSide = byRemote[clientSide.LocalEndPoint!.ToString()!];
                await Bounded(clientSide.CloseAsync(TimeoutToken).AsTask());
                await Bounded(serverSide.Completion);
                Assert.False(server.ActiveConnections.ContainsKey(serverSide.Id), $"round {round}: the server still lists a connection whose Completion completed");
            }

            Assert.Empty(server.ActiveConnections);
        }
    }

    [Fact]
    public async Task ClientActiveConnections_AfterCompletion_NoLongerListsTheConnection()
    {
        await using var server = new TinyProtoServer();
        int port = await StartLoopbackAsync(server);
        await using var client = new TinyProtoClient();
        for (int round = 0; round < Rounds; round++)
        {
            var clients = new List<TinyProtoConnection>();
            for (int i = 0; i < Clients; i++)
            {
                clients.Add(await Bounded(client.ConnectAsync("127.0.0.1", port, TimeoutToken)));
            }

            await WaitUntilAsync(() => server.ActiveConnections.Count == Clients);
            foreach (TinyProtoConnection serverSide in server.ActiveConnections.Values.ToList())
            {
                TinyProtoConnection clientSide = clients.Single(c => c.LocalEndPoint!.ToString() == serverSide.RemoteEndPoint!.ToString());

                // The server ends it; the client learns of it from the wire and completes on its own.
                await Bounded(serverSide.CloseAsync(TimeoutToken).AsTask());
                await Bounded(clientSide.Completion);
                Assert.False(client.ActiveConnections.ContainsKey(clientSide.Id), $"round {round}: the client still lists a connection whose Completion completed");
            }

            Assert.Empty(client.ActiveConnections);
        }
    }
}
