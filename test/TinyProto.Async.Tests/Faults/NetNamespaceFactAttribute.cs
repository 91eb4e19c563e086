using System.Diagnostics;

namespace TinyProto.Async.Tests.Faults;

/// <summary>
/// A test that runs a process in a network namespace of its own (<c>unshare -rn</c>, as an unprivileged user), where it
/// may take loopback down; skipped, saying why, where user namespaces or <c>ip</c> are not available.
/// </summary>
public sealed class NetNamespaceFactAttribute : FactAttribute
{
    private static readonly string? s_unavailable = Probe();

    public NetNamespaceFactAttribute()
    {
        if (s_unavailable is not null)
        {
            Skip = s_unavailable;
        }
    }

    private static string? Probe()
    {
        if (!OperatingSystem.IsLinux())
        {
            return "Network namespaces are a Linux feature; this test takes loopback down inside one.";
        }

        try
        {
            using var process = Process.Start(new ProcessStartInfo("unshare", ["-rn", "ip", "link", "set", "lo", "up"])
            {
                RedirectStandardError = true,
                RedirectStandardOutput = true,
            })!;
            if (!process.WaitForExit(10_000))
            {
                process.Kill();
                return "`unshare -rn ip link set lo up` did not finish in 10 s.";
            }

            return process.ExitCode == 0
                ? null
                : $"`unshare -rn ip link set lo up` failed ({process.StandardError.ReadToEnd().Trim()}): this host allows no network namespace of our own.";
        }
        catch (System.ComponentModel.Win32Exception ex)
        {
            return $"unshare or ip is not installed ({ex.Message}); this test needs both (util-linux, iproute2).";
        }
    }
}
