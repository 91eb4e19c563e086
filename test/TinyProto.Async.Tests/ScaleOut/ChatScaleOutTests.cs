using System.Text.RegularExpressions;

namespace TinyProto.Async.Tests.ScaleOut;

/// <summary>
/// The chat sample scaled out, as real processes: several servers sharing a real Redis (<c>--redis</c>), behind a real
/// HAProxy with <c>send-proxy-v2</c> (<c>--proxy-from</c>). deploy/scale-out/run.sh checks the same at load; these pin
/// what a user sees.
/// </summary>
public sealed partial class ChatScaleOutTests : ConnectionTestBase, IAsyncLifetime
{
    private const string Chat = "TinyProto.Samples.Chat";
    private readonly List<IAsyncDisposable> _owned = [];
    private RedisProcess? _redis;

    public ChatScaleOutTests()
        : base(TimeSpan.FromSeconds(90))
    {
    }

    [RedisFact]
    public async Task ALineFromAMemberOnOneServer_ReachesTheMembersOnTheOthers_AndJoinsAndLeavesCrossServers()
    {
        int[] ports = [await StartServerAsync("a"), await StartServerAsync("b"), await StartServerAsync("c")];
        ToolProcess ada = await JoinAsync(ports[0], "ada");
        ToolProcess bob = await JoinAsync(ports[1], "bob");
        await ada.WaitForLineContainingAsync("is now bob", TimeoutToken);
        ToolProcess cy = await JoinAsync(ports[2], "cy");
        await ada.WaitForLineContainingAsync("is now cy", TimeoutToken);
        await bob.WaitForLineContainingAsync("is now cy", TimeoutToken);

        await SayAsync(ada, "hello from server a");

        await bob.WaitForLineAsync("ada: hello from server a", TimeoutToken);
        await cy.WaitForLineAsync("ada: hello from server a", TimeoutToken);
        Assert.DoesNotContain(ada.Stdout, line => line.Contains("ada: hello", StringComparison.Ordinal));

        // Joins crossed servers: bob, on b, heard cy join on c.
        Assert.Contains(bob.Stdout, line => line.EndsWith(" joined", StringComparison.Ordinal));
        ada.Input.Close();
        Assert.Equal(0, await ada.WaitForExitAsync(TimeoutToken));
        await bob.WaitForLineAsync("* ada left", TimeoutToken);
        await cy.WaitForLineAsync("* ada left", TimeoutToken);
    }

    [RedisFact]
    public async Task BehindHaproxy_EachServerSeesItsMembersOwnAddress_AndADrainedServersMemberCarriesOnOnAnother()
    {
        if (!HaproxyProcess.IsInstalled)
        {
            return; // HaproxyTests says why; this one needs both.
        }

        var servers = new Dictionary<string, ToolProcess>();
        int[] ports = [await StartServerAsync("a", servers, "--proxy-from", "127.0.0.1"), await StartServerAsync("b", servers, "--proxy-from", "127.0.0.1")];
        HaproxyProcess haproxy = await HaproxyProcess.StartAsync(ports, "send-proxy-v2 check inter 200 fall 1 rise 1", TimeoutToken);
        _owned.Add(haproxy);

        ToolProcess ada = await JoinAsync(haproxy.Port, "ada", "--reconnect");
        ToolProcess bob = await JoinAsync(haproxy.Port, "bob", "--reconnect");
        (string adaServer, string adaAddress) = Welcome(ada.Stdout.First(l => l.StartsWith("* welcome, ", StringComparison.Ordinal)));
        (string bobServer, _) = Welcome(bob.Stdout.First(l => l.StartsWith("* welcome, ", StringComparison.Ordinal)));
        Assert.NotEqual(adaServer, bobServer); // round robin: one each

        // The server saw ada's own address and port (the PROXY v2 header's), and HAProxy's beside it.
        string joined = await servers[adaServer].WaitForLineContainingAsync(" joined from ", TimeoutToken);
        Assert.Matches($@" joined from {Regex.Escape(adaAddress)} via 127\.0\.0\.1:\d+$", joined);

        // ada's server drains (SIGTERM): it exits cleanly, and ada reconnects through HAProxy to bob's.
        Assert.Equal(0, await servers[adaServer].TerminateAsync(TimeoutToken));
        await WaitUntilAsync(() => ada.Stdout.Count(l => l.StartsWith("* welcome, ", StringComparison.Ordinal)) == 2);
        (string adaNow, _) = Welcome(ada.Stdout.Last(l => l.StartsWith("* welcome, ", StringComparison.Ordinal)));
        Assert.Equal(bobServer, adaNow);
        Assert.Contains("* disconnected", ada.Stderr, StringComparison.Ordinal);

        await SayAsync(ada, "still here");
        await bob.WaitForLineAsync("ada: still here", TimeoutToken);
    }

    public async Task InitializeAsync()
    {
        if (RedisProcess.IsInstalled)
        {
            _redis = await RedisProcess.StartAsync(TimeoutToken);
        }
    }

    public async Task DisposeAsync()
    {
        for (int i = _owned.Count - 1; i >= 0; i--)
        {
            await _owned[i].DisposeAsync();
        }

        if (_redis is not null)
        {
            await _redis.DisposeAsync();
        }
    }

    /// <summary>"* welcome, NAME: you are ADDRESS on server S; ..." gives S and ADDRESS.</summary>
    private static (string Server, string Address) Welcome(string line)
    {
        Match match = WelcomeLine().Match(line);
        Assert.True(match.Success, $"not a welcome: {line}");
        return (match.Groups["server"].Value, match.Groups["address"].Value);
    }

    [GeneratedRegex(@"you are (?<address>\S+) on server (?<server>[^;]+);")]
    private static partial Regex WelcomeLine();

    private async Task<int> StartServerAsync(string name, Dictionary<string, ToolProcess>? servers = null, params string[] more)
    {
        ToolProcess server = ToolProcess.Start(Chat, ["server", "--port", "0", "--redis", _redis!.Configuration, "--server-name", name, .. more]);
        _owned.Add(server);
        servers?.Add(name, server);
        string line = await server.WaitForLineAsync("listening on ", TimeoutToken);
        return int.Parse(line[(line.LastIndexOf(':') + 1)..], System.Globalization.CultureInfo.InvariantCulture);
    }

    private async Task<ToolProcess> JoinAsync(int port, string name, params string[] more)
    {
        ToolProcess member = ToolProcess.StartWithInput(Chat, ["client", "--port", port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--name", name, .. more]);
        _owned.Add(member);
        await member.WaitForLineAsync("* welcome, ", TimeoutToken);
        return member;
    }

    private async Task SayAsync(ToolProcess member, string line)
    {
        await member.Input.WriteLineAsync(line);
        await member.Input.FlushAsync(TimeoutToken);
    }
}
