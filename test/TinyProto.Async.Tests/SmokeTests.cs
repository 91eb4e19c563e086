using System.Buffers;
using System.Net;

namespace TinyProto.Async.Tests;

public sealed class SmokeTests
{
    private sealed class Echo : TinyProtoConnection
    {
        protected override async ValueTask TransmissionReceivedAsync(ReadOnlySequence<byte> message, CancellationToken cancellationToken)
            => await TransmitAsync(message, cancellationToken);
    }

    [Fact]
    public async Task EchoOverLoopback_ReturnsEachMessage()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        await using var server = new TinyProtoServer();
        server.AddAddress("127.0.0.1", 0);
        server.SetConnectionHandler<Echo>();
        await server.StartAsync(timeout.Token);
        int port = ((IPEndPoint)server.BoundEndPoints[0]).Port;

        await using var client = new TinyProtoClient();
        Guid id = await client.ConnectToAsync("127.0.0.1", port, timeout.Token);
        TinyProtoConnection connection = client.ActiveConnections[id];
        for (int i = 0; i < 100; i++)
        {
            byte[] payload = new byte[i * 37];
            Random.Shared.NextBytes(payload);
            await connection.TransmitAsync(payload, timeout.Token);
            byte[] echo = await connection.ReceiveAsync(timeout.Token);
            Assert.Equal(payload, echo);
        }
    }
}
