using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace TinyProto.Async.Tests.ScaleOut;

/// <summary>
/// A real HAProxy (Debian's <c>haproxy</c>, which <c>.ci/run</c> installs) in <c>mode tcp</c> on a loopback port,
/// forwarding to the given servers, run in the foreground and killed on dispose.
/// </summary>
internal sealed class HaproxyProcess : IAsyncDisposable
{
    private const string Binary = "/usr/sbin/haproxy";
    private readonly Process _process;
    private readonly string _directory;

    private HaproxyProcess(Process process, string directory, int port)
    {
        _process = process;
        _directory = directory;
        Port = port;
    }

    public static bool IsInstalled => File.Exists(Binary);

    /// <summary>The frontend's port: where clients connect.</summary>
    public int Port { get; }

    /// <summary>Starts HAProxy with one backend line per server (<paramref name="serverOptions"/> such as <c>send-proxy-v2</c>) and waits until it accepts.</summary>
    public static async Task<HaproxyProcess> StartAsync(IReadOnlyList<int> serverPorts, string serverOptions, CancellationToken cancellationToken)
    {
        // The free ports are picked, then bound by HAProxy: another test may take one in between. Then it cannot bind, and
        // exits: try again with other ports.
        for (int attempt = 1; ; attempt++)
        {
            try
            {
                return await TryStartAsync(serverPorts, serverOptions, cancellationToken);
            }
            catch (InvalidOperationException) when (attempt < 5)
            {
            }
        }
    }

    private static async Task<HaproxyProcess> TryStartAsync(IReadOnlyList<int> serverPorts, string serverOptions, CancellationToken cancellationToken)
    {
        string directory = Directory.CreateTempSubdirectory("tinyproto-haproxy-").FullName;
        int port = ConnectionTestBase.FreeLoopbackPort();
        int readyPort = ConnectionTestBase.FreeLoopbackPort();
        string servers = string.Join('\n', serverPorts.Select((p, i) => $"    server s{i} 127.0.0.1:{p} {serverOptions}"));
        string config = Path.Combine(directory, "haproxy.cfg");
        await File.WriteAllTextAsync(config, $"""
            global
                maxconn 4096
                # Without SO_REUSEPORT: a port another test bound meanwhile makes the start fail (and retry), never shared.
                noreuseport
            defaults
                mode tcp
                # A connection a stopped server refuses is tried again on another one.
                option redispatch 1
                retries 3
                timeout connect 2s
                timeout client 60s
                timeout server 60s
            frontend ready
                bind 127.0.0.1:{readyPort}
                tcp-request connection reject
            frontend tinyproto
                bind 127.0.0.1:{port}
                default_backend chat
            backend chat
                balance roundrobin
            {servers}

            """, cancellationToken);

        var start = new ProcessStartInfo(Binary, ["-db", "-f", config]) { RedirectStandardOutput = true, RedirectStandardError = true };
        var process = Process.Start(start)!;
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var haproxy = new HaproxyProcess(process, directory, port);
        while (true)
        {
            if (process.HasExited)
            {
                await haproxy.DisposeAsync();
                throw new InvalidOperationException($"haproxy -f {config} exited with {process.ExitCode} at start");
            }

            try
            {
                using var probe = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                // A frontend of its own, which rejects every connection: the servers never see the probe.
                await probe.ConnectAsync(new IPEndPoint(IPAddress.Loopback, readyPort), cancellationToken);
                return haproxy;
            }
            catch (SocketException)
            {
                await Task.Delay(20, cancellationToken);
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
        Directory.Delete(_directory, recursive: true);
    }

}

/// <summary>A fact that needs HAProxy; skipped, saying why, where it is absent (.ci/run installs it).</summary>
public sealed class HaproxyFactAttribute : FactAttribute
{
    public HaproxyFactAttribute()
    {
        if (!HaproxyProcess.IsInstalled)
        {
            Skip = "HAProxy is not installed (apt-get install haproxy; .ci/run installs it): this test puts a real HAProxy in front of the server.";
        }
    }
}
