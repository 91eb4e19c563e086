using System.Net;
using System.Text;
using System.Text.Unicode;
using TinyProto.Async;

namespace TinyProto.Samples.Echo;

/// <summary>No arguments: an echo server and a client in one process, exchanging a few messages.</summary>
internal static class Demo
{
    public static async Task<int> RunAsync()
    {
        await using var server = new TinyProtoServer();
        server.AddAddress("127.0.0.1", 0);
        server.SetConnectionHandler<EchoConnection>();
        await server.StartAsync();
        var endPoint = (IPEndPoint)server.BoundEndPoints[0];
        Console.WriteLine($"echo server listening on {endPoint}");

        await using var client = new TinyProtoClient();
        Guid id = await client.ConnectToAsync(endPoint.Address.ToString(), endPoint.Port);
        TinyProtoConnection connection = client.ActiveConnections[id];
        Console.WriteLine($"client connected from {connection.LocalEndPoint}");

        byte[] large = new byte[64 * 1024];
        for (int i = 0; i < large.Length; i++)
        {
            large[i] = (byte)i;
        }

        byte[][] messages = ["hello"u8.ToArray(), [], Encoding.UTF8.GetBytes("grüße, 世界 ✓"), large];
        foreach (byte[] message in messages)
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            await connection.TransmitAsync(message, timeout.Token);
            Console.WriteLine($"  sent   {Describe(message)}");
            byte[] echo = await connection.ReceiveAsync(timeout.Token);
            Console.WriteLine($"  echoed {Describe(echo)}");
            if (!echo.AsSpan().SequenceEqual(message))
            {
                Console.Error.WriteLine("error: the echo differs from the message sent");
                return 1;
            }
        }

        await connection.CloseAsync();
        await server.StopAsync();
        Console.WriteLine("""
            closed cleanly. Next, in two terminals:
              dotnet run --project samples/TinyProto.Samples.Echo -- server --port 5000
              dotnet run --project samples/TinyProto.Samples.Echo -- client --port 5000 --count 1000 --size 64
            """);
        return 0;
    }

    private static string Describe(byte[] message) =>
        message.Length <= 64 && Utf8.IsValid(message)
            ? $"\"{Encoding.UTF8.GetString(message)}\" ({message.Length} bytes)"
            : $"{message.Length} bytes [{Convert.ToHexString(message, 0, 4)}..{Convert.ToHexString(message, message.Length - 4, 4)}]";
}
