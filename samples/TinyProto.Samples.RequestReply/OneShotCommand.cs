using System.Net.Sockets;
using System.Text;
using TinyProto.Async;

namespace TinyProto.Samples.RequestReply;

/// <summary><c>get</c>, <c>set</c>, <c>del</c>, <c>count</c>: one request on a plain connection, its reply printed as it came.</summary>
internal static class OneShotCommand
{
    /// <summary>Exits 0 when the reply is <c>OK</c>, 1 for <c>NOTFOUND</c>, <c>ERROR</c> or no connection.</summary>
    public static async Task<int> RunAsync(StoreRequest request, string host, int port, TimeSpan timeout)
    {
        // The rules the server applies, applied before sending: a key with a space would be sent as another request.
        if (!StoreRequest.TryParse(Encoding.UTF8.GetBytes(request.Text), out StoreRequest? parsed, out string? error) || parsed != request)
        {
            throw new UsageException(error ?? "a key has no spaces");
        }

        await using var client = new TinyProtoClient { Timeout = timeout };
        TinyProtoConnection connection;
        try
        {
            connection = await client.ConnectAsync(host, port);
        }
        catch (Exception ex) when (ex is SocketException or TinyProtoException)
        {
            Console.Error.WriteLine($"error: cannot connect to {host}:{port}: {ex.Message}");
            return 1;
        }

        string reply = Encoding.UTF8.GetString(await connection.RequestAsync(Encoding.UTF8.GetBytes(request.Text), timeout));
        Console.WriteLine(reply);
        await connection.CloseAsync();
        return reply == "OK" || reply.StartsWith("OK ", StringComparison.Ordinal) ? 0 : 1;
    }
}
