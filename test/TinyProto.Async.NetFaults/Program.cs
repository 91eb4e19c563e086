// Network faults that need a network of their own. Run inside a fresh network namespace (`unshare -rn`), where this
// process may take the loopback interface down: every packet between a server and a client on 127.0.0.1 is then
// lost without a FIN or a reset, as when a peer's host vanishes. Used by DeadPeerTests (test/TinyProto.Async.Tests).
//
//   vanish KEEPALIVE_SECONDS INTERVAL_SECONDS COUNT THREADING
//     Connects a client to a server with those TCP keepalive settings and threading (Automatic, DedicatedThread,
//     ThreadPool), exchanges a message, takes `lo` down (the last ACK may be lost with it), and
//     waits in ReceiveAsync on both ends. Prints one line per end: `client|server MILLISECONDS ERROR MESSAGE`.
using System.Diagnostics;
using System.Globalization;
using System.Net;
using TinyProto.Async;

if (args is not ["vanish", string time, string interval, string count, string threading])
{
    Console.Error.WriteLine("usage: vanish KEEPALIVE_SECONDS INTERVAL_SECONDS COUNT THREADING (inside `unshare -rn`)");
    return 2;
}

var options = new TinyProtoConnectionOptions
{
    TcpKeepAliveTime = TimeSpan.FromSeconds(int.Parse(time, CultureInfo.InvariantCulture)),
    TcpKeepAliveInterval = TimeSpan.FromSeconds(int.Parse(interval, CultureInfo.InvariantCulture)),
    TcpKeepAliveRetryCount = int.Parse(count, CultureInfo.InvariantCulture),
    Threading = Enum.Parse<TinyProtoThreading>(threading),
};
await using var server = new TinyProtoServer { ConnectionOptions = options.Clone() };
server.AddAddress("127.0.0.1", 0);
await server.StartAsync();
int port = ((IPEndPoint)server.BoundEndPoints[0]).Port;
await using var client = new TinyProtoClient { ConnectionOptions = options.Clone() };
TinyProtoConnection near = await client.ConnectAsync("127.0.0.1", port);
await near.TransmitAsync("hello"u8.ToArray());
while (server.ActiveConnections.Count == 0)
{
    await Task.Delay(10);
}

TinyProtoConnection far = server.ActiveConnections.Values.Single();
await far.ReceiveAsync();

using (Process down = Process.Start("ip", "link set lo down"))
{
    await down.WaitForExitAsync();
    if (down.ExitCode != 0)
    {
        Console.Error.WriteLine("`ip link set lo down` failed: run this inside `unshare -rn`.");
        return 3;
    }
}

var watch = Stopwatch.StartNew();
await Task.WhenAll(WaitAsync("client", near), WaitAsync("server", far)).WaitAsync(TimeSpan.FromSeconds(120));
return 0;

async Task WaitAsync(string end, TinyProtoConnection connection)
{
    try
    {
        await connection.ReceiveAsync();
        Console.WriteLine($"{end} {watch.ElapsedMilliseconds} none a message came");
    }
    catch (TinyProtoException ex)
    {
        Console.WriteLine($"{end} {watch.ElapsedMilliseconds} {ex.Error} {ex.Message.ReplaceLineEndings(" ")}");
    }
}
