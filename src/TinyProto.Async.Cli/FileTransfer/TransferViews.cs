using System.Diagnostics;
using System.Globalization;
using Spectre.Console;

namespace TinyProto.Async.Cli.FileTransfer;

/// <summary>What <c>send-file</c> shows while it works: a progress bar per file on a terminal, plain lines otherwise.</summary>
internal interface ITransferView
{
    /// <summary>Something worth saying about a file (resuming, starting over, already there).</summary>
    void Note(LocalFile file, string text);

    /// <summary>The data of <paramref name="file"/> goes out from <paramref name="start"/>.</summary>
    void Started(LocalFile file, long start);

    /// <summary><paramref name="done"/> bytes of the file are sent (counting those the receiver had).</summary>
    void Advanced(LocalFile file, long done);

    /// <summary>The receiver verified the file.</summary>
    void Finished(LocalFile file, long start, TimeSpan elapsed);

    /// <summary>The receiver refused the file or it failed verification.</summary>
    void Rejected(LocalFile file, string reason);
}

/// <summary>
/// Plain lines on redirected output, one a second per file while it goes and one at its end:
/// <c>progress NAME DONE/SIZE bytes (P%), R MB/s, eta T</c>. Called from the sending loop alone.
/// </summary>
internal sealed class PlainTransferView(TextWriter output) : ITransferView
{
    private static readonly TimeSpan Every = TimeSpan.FromSeconds(1);
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private TransferRate? _rate;
    private TimeSpan _lastLine;

    public void Note(LocalFile file, string text) => Line($"{file.Name}: {text}");

    public void Started(LocalFile file, long start)
    {
        _rate = new TransferRate(file.Size, start, _clock.Elapsed);
        _lastLine = _clock.Elapsed;
        Line(string.Create(CultureInfo.InvariantCulture, $"sending {file.Name}: {file.Size - start} of {file.Size} bytes"));
    }

    public void Advanced(LocalFile file, long done)
    {
        TimeSpan now = _clock.Elapsed;
        _rate!.Update(done, now);
        if (now - _lastLine >= Every)
        {
            _lastLine = now;
            Line(Progress(file, _rate));
        }
    }

    public void Finished(LocalFile file, long start, TimeSpan elapsed)
    {
        double seconds = Math.Max(elapsed.TotalSeconds, 1e-3);
        Line(string.Create(CultureInfo.InvariantCulture,
            $"sent {file.Name}: {file.Size} bytes{(start > 0 ? $" ({file.Size - start} this time)" : string.Empty)}, SHA-256 verified by the receiver, {elapsed.TotalSeconds:0.0} s, {(file.Size - start) / 1e6 / seconds:0.0} MB/s"));
    }

    public void Rejected(LocalFile file, string reason) => Line($"not sent {file.Name}: {reason}");

    /// <summary>The progress line for a file: <c>progress NAME DONE/SIZE bytes (P%), R MB/s, eta T</c>.</summary>
    public static string Progress(LocalFile file, TransferRate rate)
    {
        double percent = rate.Total == 0 ? 100 : 100.0 * rate.Done / rate.Total;
        string eta = rate.Remaining is { } left ? $"{Math.Ceiling(left.TotalSeconds):0} s" : "?";
        return string.Create(CultureInfo.InvariantCulture,
            $"progress {file.Name} {rate.Done}/{rate.Total} bytes ({percent:0.0}%), {rate.BytesPerSecond / 1e6:0.0} MB/s, eta {eta}");
    }

    private void Line(string text)
    {
        output.WriteLine(text);
        output.Flush();
    }
}

/// <summary>
/// Spectre.Console's live progress on a terminal: a bar per file with bytes, rate and time left. Notes wait until
/// the live display ends (writing under it would garble it).
/// </summary>
internal sealed class TerminalTransferView(ProgressContext context) : ITransferView
{
    private readonly List<string> _notes = [];
    private readonly Dictionary<LocalFile, ProgressTask> _tasks = [];

    public IReadOnlyList<string> Notes => _notes;

    public void Note(LocalFile file, string text) => _notes.Add($"{file.Name}: {text}");

    public void Started(LocalFile file, long start)
    {
        ProgressTask task = context.AddTask(Markup.Escape(file.Name), maxValue: Math.Max(file.Size, 1));
        task.Value = start;
        _tasks[file] = task;
    }

    public void Advanced(LocalFile file, long done) => _tasks[file].Value = done;

    public void Finished(LocalFile file, long start, TimeSpan elapsed)
    {
        ProgressTask task = _tasks[file];
        task.Value = task.MaxValue;
        task.Description = $"{Markup.Escape(file.Name)} [green]verified[/]";
        task.StopTask();
    }

    public void Rejected(LocalFile file, string reason)
    {
        _notes.Add($"not sent {file.Name}: {reason}");
        if (_tasks.TryGetValue(file, out ProgressTask? task))
        {
            task.Description = $"{Markup.Escape(file.Name)} [red]failed[/]";
            task.StopTask();
        }
    }

    /// <summary>The live display's columns: name, bar, percentage, bytes, rate, time left.</summary>
    public static ProgressColumn[] Columns() =>
    [
        new TaskDescriptionColumn { Alignment = Justify.Left },
        new ProgressBarColumn(),
        new PercentageColumn(),
        new DownloadedColumn(),
        new TransferSpeedColumn(),
        new RemainingTimeColumn(),
    ];
}
