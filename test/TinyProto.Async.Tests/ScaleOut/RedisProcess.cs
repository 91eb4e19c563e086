using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace TinyProto.Async.Tests.ScaleOut;

/// <summary>
/// A real Redis (Debian's <c>redis-server</c>, which <c>.ci/run</c> installs) on a loopback port, in memory only,
/// killed on dispose; it can be stopped and started again on the same port, as a restarted Redis is.
/// </summary>
internal sealed class RedisProcess : IAsyncDisposable
{
    private const string Binary = "/usr/bin/redis-server";
    private Process? _process;

    private RedisProcess(int port) => Port = port;

    public static bool IsInstalled => File.Exists(Binary);

    public int Port { get; }

    /// <summary>The StackExchange.Redis configuration string for it.</summary>
    public string Configuration => $"127.0.0.1:{Port}";

    /// <summary>Starts a Redis on a free port and waits until it answers.</summary>
    public static async Task<RedisProcess> StartAsync(CancellationToken cancellationToken)
    {
        // The free port is picked, then bound by Redis: another test may take it in between, and then Redis exits.
        for (int attempt = 1; ; attempt++)
        {
            var redis = new RedisProcess(ConnectionTestBase.FreeLoopbackPort());
            try
            {
                await redis.StartAgainAsync(cancellationToken);
                return redis;
            }
            catch (InvalidOperationException) when (attempt < 5)
            {
                await redis.DisposeAsync();
            }
        }
    }

    /// <summary>Kills it (as a crash would): its clients see their connections reset.</summary>
    public async Task KillAsync()
    {
        if (_process is { HasExited: false })
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }

        _process?.Dispose();
        _process = null;
    }

    /// <summary>Starts it (again) on <see cref="Port"/> and waits until it answers PING.</summary>
    public async Task StartAgainAsync(CancellationToken cancellationToken)
    {
        var start = new ProcessStartInfo(Binary, ["--bind", "127.0.0.1", "--port", Port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--save", "", "--appendonly", "no", "--protected-mode", "no"])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        _process = Process.Start(start)!;
        _process.OutputDataReceived += (_, _) => { };
        _process.ErrorDataReceived += (_, _) => { };
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
        while (true)
        {
            if (_process.HasExited)
            {
                throw new InvalidOperationException($"redis-server on port {Port} exited with {_process.ExitCode} at start");
            }

            if (await AnswersPingAsync(cancellationToken))
            {
                return;
            }

            await Task.Delay(20, cancellationToken);
        }
    }

    public async ValueTask DisposeAsync() => await KillAsync();

    private async Task<bool> AnswersPingAsync(CancellationToken cancellationToken)
    {
        try
        {
            using var probe = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            await probe.ConnectAsync(new IPEndPoint(IPAddress.Loopback, Port), cancellationToken);
            await probe.SendAsync("PING\r\n"u8.ToArray(), cancellationToken);
            var reply = new byte[7];
            int read = await probe.ReceiveAsync(reply, cancellationToken);
            return read > 0 && reply[0] == (byte)'+';
        }
        catch (SocketException)
        {
            return false;
        }
    }

}

/// <summary>A fact that needs Redis; skipped, saying why, where it is absent (.ci/run installs it).</summary>
public sealed class RedisFactAttribute : FactAttribute
{
    public RedisFactAttribute()
    {
        if (!RedisProcess.IsInstalled)
        {
            Skip = "Redis is not installed (apt-get install redis-server; .ci/run installs it): this test runs the backplane against a real redis-server.";
        }
    }
}
