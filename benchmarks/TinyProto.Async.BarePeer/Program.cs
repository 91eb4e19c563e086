using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using TinyProto.Async.BarePeer;

// The protocol's lock-step echo over bare .NET sockets, no library, no pipes: what .NET's blocking and
// asynchronous socket models allow at best on a machine, next to rawpeer (the same in C) and the library.
// Same command line and output line as rawpeer's, so benchmarks/measure.sh parses both alike.
const string Usage = """
    usage: TinyProto.Async.BarePeer blocking|async server PORT
           TinyProto.Async.BarePeer blocking|async client PORT N SIZE
      server: echoes every message, one connection at a time, on 127.0.0.1:PORT until killed
      client: N lock-step echo round trips of SIZE bytes, then one line: client N x SIZE B in Ts: R msg/s, U us/msg, M MB/s
    """;

if (args.Length < 3 || args[0] is not ("blocking" or "async") || (args[1], args.Length) is not (("server", 3) or ("client", 5)))
{
    Console.Error.WriteLine(Usage);
    return 2;
}

bool blocking = args[0] == "blocking";
if (!int.TryParse(args[2], out int port) || port is < 1 or > 65535)
{
    Console.Error.WriteLine($"error: PORT must be 1..65535, not '{args[2]}'");
    return 2;
}

var endPoint = new IPEndPoint(IPAddress.Loopback, port);
if (args[1] == "server")
{
    using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
    listener.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
    listener.Bind(endPoint);
    listener.Listen(1);
    while (true)
    {
        using Socket socket = await listener.AcceptAsync();
        socket.NoDelay = true;
        try
        {
            if (blocking)
            {
                new BlockingPeer(socket).Serve();
            }
            else
            {
                await new AsyncPeer(socket).ServeAsync();
            }
        }
        catch (Exception ex) when (ex is SocketException or IOException or InvalidDataException)
        {
            Console.Error.WriteLine($"connection ended: {ex.Message}");
        }
    }
}

if (!int.TryParse(args[3], out int count) || count < 1 || !int.TryParse(args[4], out int size) || size < 0)
{
    Console.Error.WriteLine($"error: N must be a positive integer and SIZE a non-negative one, not '{args[3]}' and '{args[4]}'");
    return 2;
}

using var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
try
{
    // A blocking peer connects with a blocking call: one asynchronous operation registers a socket with the runtime's
    // asynchronous engine for good, and from then on its blocking calls wake extra threads (measured: 19 context
    // switches per round trip instead of 3).
    if (blocking)
    {
        client.Connect(endPoint);
    }
    else
    {
        await client.ConnectAsync(endPoint);
    }

    var watch = Stopwatch.StartNew();
    if (blocking)
    {
        new BlockingPeer(client).Echo(count, size);
    }
    else
    {
        await new AsyncPeer(client).EchoAsync(count, size);
    }

    double seconds = watch.Elapsed.TotalSeconds;
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
        $"client {count} x {size} B in {seconds:F3}s: {count / seconds:F0} msg/s, {seconds * 1e6 / count:F1} us/msg, {(double)count * size / seconds / 1e6:F1} MB/s"));
    return 0;
}
catch (Exception ex) when (ex is SocketException or IOException or InvalidDataException)
{
    Console.Error.WriteLine($"error: {ex.Message}");
    return 1;
}
