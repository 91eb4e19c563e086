using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace TinyProto.Async.Tests.Interop;

/// <summary>
/// The Python original (tinyproto 3.0 in <c>../shared/peers/python-tinyproto-3.0</c>, beside the repository) running
/// one of its peer programs as a real process on a free loopback port. Tests that need it use <see cref="PythonFactAttribute"/>.
/// </summary>
internal sealed class PythonPeer : IAsyncDisposable
{
    private readonly Process _process;

    private PythonPeer(Process process, int port)
    {
        _process = process;
        Port = port;
    }

    /// <summary>The folder of the Python original, or null where it is absent (a clone without <c>../shared</c>).</summary>
    public static string? Directory { get; } = Find();

    public int Port { get; }

    /// <summary>Starts <c>py_echo_server.py</c> on <paramref name="port"/> (a free one when null) and returns once it accepts connections.</summary>
    public static async Task<PythonPeer> StartEchoServerAsync(CancellationToken cancellationToken, int? port = null)
    {
        return await StartAsync(port ?? FreePort(), cancellationToken);
    }

    private static async Task<PythonPeer> StartAsync(int port, CancellationToken cancellationToken)
    {
        var start = new ProcessStartInfo("python3") { UseShellExecute = false, RedirectStandardError = true, RedirectStandardOutput = true };
        start.ArgumentList.Add(Path.Combine(Directory!, "py_echo_server.py"));
        start.ArgumentList.Add(port.ToString(System.Globalization.CultureInfo.InvariantCulture));
        start.Environment["PYTHONPATH"] = Directory;
        var peer = new PythonPeer(Process.Start(start)!, port);
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (peer._process.HasExited)
            {
                throw new InvalidOperationException($"py_echo_server.py exited with {peer._process.ExitCode}: {await peer._process.StandardError.ReadToEndAsync(cancellationToken)}");
            }

            using var probe = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            try
            {
                await probe.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port), cancellationToken);
                return peer;
            }
            catch (SocketException)
            {
                await Task.Delay(50, cancellationToken);
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }

        _process.Dispose();
    }

    private static int FreePort()
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return ((IPEndPoint)socket.LocalEndPoint!).Port;
    }

    private static string? Find()
    {
        for (DirectoryInfo? dir = new(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "TinyProto.Async.sln")))
            {
                string peers = Path.GetFullPath(Path.Combine(dir.FullName, "..", "shared", "peers", "python-tinyproto-3.0"));
                return System.IO.Directory.Exists(peers) ? peers : null;
            }
        }

        return null;
    }
}

/// <summary>A fact that talks to the Python original; skipped, saying why, where it or python3 is absent.</summary>
public sealed class PythonFactAttribute : FactAttribute
{
    public PythonFactAttribute()
    {
        if (PythonPeer.Directory is null)
        {
            Skip = "The Python original is not beside the repository (../shared/peers/python-tinyproto-3.0); this interop test needs it.";
        }
        else if (!File.Exists("/usr/bin/python3") && !File.Exists("/usr/local/bin/python3"))
        {
            Skip = "python3 is not installed; this interop test runs the Python original.";
        }
    }
}
