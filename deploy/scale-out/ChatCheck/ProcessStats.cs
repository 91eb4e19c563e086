using System.Globalization;

namespace TinyProto.ScaleOut.ChatCheck;

/// <summary>
/// Context switches (summed over every thread: <c>/proc/PID/task/*/status</c>, since a process's own status counts its
/// main thread only) and resident memory (<c>/proc/PID/status</c>) of processes (Linux).
/// </summary>
internal readonly record struct ProcessStats(long ContextSwitches, long ResidentKiB)
{
    /// <summary>The sum over <paramref name="pids"/>; a process that is gone counts nothing.</summary>
    public static ProcessStats Of(IEnumerable<int> pids)
    {
        long switches = 0;
        long resident = 0;
        foreach (int pid in pids)
        {
            try
            {
                foreach (string task in Directory.EnumerateDirectories($"/proc/{pid}/task"))
                {
                    foreach (string line in ReadLines($"{task}/status"))
                    {
                        if (line.StartsWith("voluntary_ctxt_switches:", StringComparison.Ordinal) || line.StartsWith("nonvoluntary_ctxt_switches:", StringComparison.Ordinal))
                        {
                            switches += Value(line);
                        }
                    }
                }

                foreach (string line in ReadLines($"/proc/{pid}/status"))
                {
                    if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
                    {
                        resident += Value(line);
                    }
                }
            }
            catch (DirectoryNotFoundException)
            {
                // Gone.
            }
        }

        return new ProcessStats(switches, resident);
    }

    public static ProcessStats operator -(ProcessStats after, ProcessStats before) =>
        new(after.ContextSwitches - before.ContextSwitches, after.ResidentKiB - before.ResidentKiB);

    /// <summary>The file's lines; none when it (a thread that ended meanwhile) is gone.</summary>
    private static string[] ReadLines(string path)
    {
        try
        {
            return File.ReadAllLines(path);
        }
        catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException or IOException)
        {
            return [];
        }
    }

    private static long Value(string line) =>
        long.Parse(line[(line.IndexOf(':', StringComparison.Ordinal) + 1)..].Trim().Split(' ')[0], CultureInfo.InvariantCulture);
}
