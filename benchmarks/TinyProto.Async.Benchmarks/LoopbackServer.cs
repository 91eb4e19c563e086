using System.Net;

namespace TinyProto.Async.Benchmarks;

/// <summary>Starting a server on 127.0.0.1, port 0, and learning the port it got.</summary>
internal static class LoopbackServer
{
    public const string Host = "127.0.0.1";

    /// <summary>Binds <paramref name="server"/> to a free loopback port, starts it and returns the port.</summary>
    public static async Task<int> StartAsync(TinyProtoServer server)
    {
        server.AddAddress(Host, 0);
        await server.StartAsync();
        return ((IPEndPoint)server.BoundEndPoints[0]).Port;
    }
}
