using System.Globalization;
using System.Security.Cryptography;
using System.Text.RegularExpressions;

namespace TinyProto.Async.Tests.Cli;

/// <summary>
/// <c>tinyproto send-file</c> and <c>tinyproto receive-files</c> as real processes: files and folders arrive verified,
/// an interrupted transfer resumes from what arrived, names that escape the receiving folder are refused.
/// </summary>
public sealed partial class FileTransferTests : CliTestBase, IDisposable
{
    private readonly DirectoryInfo _root = Directory.CreateTempSubdirectory("tinyproto-files-");

    public FileTransferTests()
    {
        Source = Directory.CreateDirectory(Path.Combine(_root.FullName, "source")).FullName;
        Received = Directory.CreateDirectory(Path.Combine(_root.FullName, "received")).FullName;
    }

    private string Source { get; }

    private string Received { get; }

    [Fact]
    public async Task SendFile_FilesAndAFolder_ArriveUnderTheirNamesWithTheSameBytes()
    {
        WriteRandom(Path.Combine(Source, "a.bin"), 1_000_000, seed: 1);
        WriteRandom(Path.Combine(Source, "empty.txt"), 0, seed: 2);
        WriteRandom(Path.Combine(Source, "docs", "notes.txt"), 100, seed: 3);
        WriteRandom(Path.Combine(Source, "docs", "deep", "more", "image.bin"), 300_000, seed: 4);
        await using ToolProcess receiver = StartReceiver();
        string port = await ListeningPortAsync(receiver);

        var (exitCode, stdout, stderr) = await RunAsync("send-file", port,
            Path.Combine(Source, "a.bin"), Path.Combine(Source, "docs"), Path.Combine(Source, "empty.txt"));

        Assert.True(exitCode == 0, $"exit {exitCode}: {stderr}");
        string[] names = ["a.bin", "docs/deep/more/image.bin", "docs/notes.txt", "empty.txt"];
        Assert.Equal(names, ReceivedFiles());
        foreach (string name in names)
        {
            string source = Path.Combine(Source, name);
            Assert.Equal(File.ReadAllBytes(source), File.ReadAllBytes(Path.Combine(Received, name)));
            Assert.Contains(stdout, line => line.StartsWith($"sent {name}: {new FileInfo(source).Length} bytes, SHA-256 verified by the receiver", StringComparison.Ordinal));
        }

        Assert.Contains("4 of 4 file(s) on the receiver, verified; 1300100 bytes sent to 127.0.0.1:", stderr);
        AssertPlain(stdout);
        await receiver.WaitForLineContainingAsync("received 'docs/deep/more/image.bin': 300000 bytes, SHA-256 verified", TimeoutToken);
    }

    [Fact]
    public async Task SendFile_KilledHalfwayAndRunAgain_ResumesFromWhatArrivedAndTheWholeIsVerified()
    {
        const long size = 300_000_000;
        string file = Path.Combine(Source, "big.bin");
        WriteRandom(file, size, seed: 5);
        await using ToolProcess receiver = StartReceiver();
        string port = await ListeningPortAsync(receiver);

        // Slowed to 100 MB/s so that it is surely mid-file when the sender dies without a word.
        await using (ToolProcess sender = Start("send-file", port, file, "--limit-rate", "100M"))
        {
            await sender.WaitForLineAsync("progress big.bin ", TimeoutToken);
            await sender.KillAsync(TimeoutToken);
        }

        string interrupted = await receiver.WaitForLineContainingAsync("interrupted 'big.bin' at ", TimeoutToken);
        long held = long.Parse(InterruptedAt().Match(interrupted).Groups[1].Value, CultureInfo.InvariantCulture);
        Assert.InRange(held, 1, size - 1);
        Assert.Equal([Path.GetFileName(PartialPath("big.bin", file))], ReceivedFiles());
        Assert.Equal(held, new FileInfo(PartialPath("big.bin", file)).Length);

        var (exitCode, stdout, stderr) = await RunAsync("send-file", port, file);

        Assert.True(exitCode == 0, $"exit {exitCode}: {stderr}");
        Assert.Contains($"big.bin: resuming at {held} of {size} bytes (the receiver's partial copy matches)", stdout);
        Assert.Contains(stdout, line => line.StartsWith($"sent big.bin: {size} bytes ({size - held} this time), SHA-256 verified by the receiver", StringComparison.Ordinal));
        Assert.Contains($"{size - held} bytes sent to", stderr);
        Assert.Equal(["big.bin"], ReceivedFiles());
        Assert.Equal(Sha256(file), Sha256(Path.Combine(Received, "big.bin")));
        Assert.Empty(Directory.GetFiles(Received, "*.partial", SearchOption.AllDirectories));
        await receiver.WaitForLineContainingAsync($"received 'big.bin': {size} bytes ({size - held} this time), SHA-256 verified", TimeoutToken);
    }

    [Fact]
    public async Task SendFile_APartialCopyWithOtherBytes_IsSentFromTheStartAndArrivesRight()
    {
        string file = Path.Combine(Source, "report.pdf");
        WriteRandom(file, 500_000, seed: 6);
        // What an interrupted transfer of this file would have left, but with bytes that are not the file's.
        WriteRandom(PartialPath("report.pdf", file), 200_000, seed: 7);
        await using ToolProcess receiver = StartReceiver();
        string port = await ListeningPortAsync(receiver);

        var (exitCode, stdout, stderr) = await RunAsync("send-file", port, file);

        Assert.True(exitCode == 0, $"exit {exitCode}: {stderr}");
        Assert.Contains("report.pdf: the receiver's partial copy (200000 bytes) differs from this file; sending from the start", stdout);
        Assert.Equal(File.ReadAllBytes(file), File.ReadAllBytes(Path.Combine(Received, "report.pdf")));
        Assert.Empty(Directory.GetFiles(Received, "*.partial", SearchOption.AllDirectories));
    }

    [Theory]
    [InlineData("../escaped.txt", "the name has a '..' part")]
    [InlineData("inside/../../escaped.txt", "the name has a '..' part")]
    [InlineData("/tmp/escaped.txt", "the name is an absolute path")]
    [InlineData("inside\\..\\..\\escaped.txt", "the name contains a backslash")]
    [InlineData("C:escaped.txt", "the name contains ':'")]
    [InlineData("CON", "is a device name on Windows")]
    [InlineData("inside/nul.txt", "is a device name on Windows")]
    [InlineData("escaped.txt.", "ends with a dot or a space")]
    [InlineData("inside//escaped.txt", "the name has an empty part")]
    [InlineData(".escaped.txt.partial", "are kept for transfers in progress")]
    public async Task SendFile_ANameTheReceiverMustNotWrite_IsRefusedWithTheReasonAndExit6(string name, string reason)
    {
        string file = Path.Combine(Source, "payload.txt");
        WriteRandom(file, 1000, seed: 8);
        await using ToolProcess receiver = StartReceiver();
        string port = await ListeningPortAsync(receiver);

        var (exitCode, stdout, stderr) = await RunAsync("send-file", port, file, "--as", name);

        Assert.True(exitCode == 6, $"exit {exitCode}: {stderr}");
        Assert.Contains(stdout, line => line.StartsWith($"not sent {name}: refused by the receiver: ", StringComparison.Ordinal) && line.Contains(reason, StringComparison.Ordinal));
        Assert.Contains("0 of 1 file(s) on the receiver", stderr);
        await receiver.WaitForLineContainingAsync("refused ", TimeoutToken);
        Assert.Empty(Directory.GetFileSystemEntries(Received));
        Assert.Equal(["received", "source"], Directory.GetFileSystemEntries(_root.FullName).Select(Path.GetFileName).Order(StringComparer.Ordinal));
        Assert.False(File.Exists("/tmp/escaped.txt"));
    }

    [Fact]
    public async Task SendFile_IntoASymbolicLinkInTheReceivingFolder_IsRefusedAndNothingLandsWhereItPoints()
    {
        string outside = Directory.CreateDirectory(Path.Combine(_root.FullName, "outside")).FullName;
        Directory.CreateSymbolicLink(Path.Combine(Received, "link"), outside);
        string file = Path.Combine(Source, "payload.txt");
        WriteRandom(file, 1000, seed: 18);
        await using ToolProcess receiver = StartReceiver();
        string port = await ListeningPortAsync(receiver);

        var (exitCode, stdout, stderr) = await RunAsync("send-file", port, file, "--as", "link/payload.txt");

        Assert.True(exitCode == 6, $"exit {exitCode}: {stderr}");
        Assert.Contains(stdout, line => line.StartsWith("not sent link/payload.txt: refused by the receiver: 'link' is a symbolic link in the receiving folder", StringComparison.Ordinal));
        Assert.Empty(Directory.GetFileSystemEntries(outside));
    }

    [Fact]
    public async Task SendFile_AFolderWithSomeBadNames_SendsTheRestAndNamesEachRefusal()
    {
        WriteRandom(Path.Combine(Source, "mixed", "good.txt"), 10, seed: 9);
        WriteRandom(Path.Combine(Source, "mixed", "back\\slash.txt"), 10, seed: 10);
        WriteRandom(Path.Combine(Source, "mixed", "aux"), 10, seed: 11);
        await using ToolProcess receiver = StartReceiver();
        string port = await ListeningPortAsync(receiver);

        var (exitCode, stdout, stderr) = await RunAsync("send-file", port, Path.Combine(Source, "mixed"));

        Assert.True(exitCode == 6, $"exit {exitCode}: {stderr}");
        Assert.Equal(["mixed/good.txt"], ReceivedFiles());
        Assert.Contains(stdout, line => line.StartsWith("not sent mixed/aux: refused by the receiver: 'aux' is a device name on Windows", StringComparison.Ordinal));
        Assert.Contains(stdout, line => line.StartsWith("not sent mixed/back\\slash.txt: refused by the receiver: the name contains a backslash", StringComparison.Ordinal));
        Assert.Contains("1 of 3 file(s) on the receiver", stderr);
        Assert.Contains("error: not sent: mixed/aux, mixed/back\\slash.txt", stderr);
    }

    [Fact]
    public async Task SendFile_TheReceiverHasTheSameFile_SendsNothingAndSucceeds()
    {
        string file = Path.Combine(Source, "same.bin");
        WriteRandom(file, 50_000, seed: 12);
        File.Copy(file, Path.Combine(Received, "same.bin"));
        await using ToolProcess receiver = StartReceiver();
        string port = await ListeningPortAsync(receiver);

        var (exitCode, stdout, stderr) = await RunAsync("send-file", port, file);

        Assert.True(exitCode == 0, $"exit {exitCode}: {stderr}");
        Assert.Contains("same.bin: the receiver has it already (same SHA-256): nothing to send", stdout);
        Assert.Contains("1 of 1 file(s) on the receiver, verified; 0 bytes sent to", stderr);
    }

    [Fact]
    public async Task SendFile_TheReceiverHasOtherContentUnderTheName_IsRefusedUnlessItOverwrites()
    {
        string file = Path.Combine(Source, "config.json");
        WriteRandom(file, 2_000, seed: 13);
        WriteRandom(Path.Combine(Received, "config.json"), 2_000, seed: 14);
        await using (ToolProcess keeping = StartReceiver())
        {
            var (exitCode, stdout, stderr) = await RunAsync("send-file", await ListeningPortAsync(keeping), file);

            Assert.True(exitCode == 6, $"exit {exitCode}: {stderr}");
            Assert.Contains(stdout, line => line.Contains("a file of that name with other content is there (receive-files --overwrite replaces it)", StringComparison.Ordinal));
            Assert.NotEqual(File.ReadAllBytes(file), File.ReadAllBytes(Path.Combine(Received, "config.json")));
        }

        await using ToolProcess overwriting = StartReceiver("--overwrite");
        var (secondExit, _, secondStderr) = await RunAsync("send-file", await ListeningPortAsync(overwriting), file);

        Assert.True(secondExit == 0, $"exit {secondExit}: {secondStderr}");
        Assert.Equal(File.ReadAllBytes(file), File.ReadAllBytes(Path.Combine(Received, "config.json")));
    }

    [Fact]
    public async Task SendFile_LargerThanTheReceiversMaxSize_IsRefusedBeforeAnyDataMoves()
    {
        string file = Path.Combine(Source, "large.bin");
        WriteRandom(file, 2_000_000, seed: 15);
        await using ToolProcess receiver = StartReceiver("--max-size", "1M");
        string port = await ListeningPortAsync(receiver);

        var (exitCode, stdout, stderr) = await RunAsync("send-file", port, file);

        Assert.True(exitCode == 6, $"exit {exitCode}: {stderr}");
        Assert.Contains(stdout, line => line.StartsWith("not sent large.bin: refused by the receiver: the size 2000000 is not from 0 to this receiver's limit of 1048576 bytes", StringComparison.Ordinal));
        Assert.Empty(Directory.GetFileSystemEntries(Received));
    }

    [Fact]
    public async Task SendFile_NothingListening_ExitsWith3()
    {
        string file = Path.Combine(Source, "x.bin");
        WriteRandom(file, 10, seed: 16);
        int port = FreePort();

        var (exitCode, _, stderr) = await RunAsync("send-file", $"127.0.0.1:{port}", file);

        Assert.True(exitCode == 3, $"exit {exitCode}: {stderr}");
        Assert.Contains("refused", stderr, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task SendFile_AFileThatIsNotThere_ExitsWith2AndNamesIt()
    {
        var (exitCode, _, stderr) = await RunAsync("send-file", "127.0.0.1:1", Path.Combine(Source, "missing.bin"));

        Assert.True(exitCode == 2, $"exit {exitCode}: {stderr}");
        Assert.Contains("missing.bin' is not a file or folder that exists", stderr);
    }

    [TmuxFact]
    public async Task SendFile_OnATerminal_DrawsAProgressBarWithBytesRateAndTimeLeft()
    {
        string file = Path.Combine(Source, "movie.bin");
        WriteRandom(file, 40_000_000, seed: 17);
        await using ToolProcess receiver = StartReceiver();
        string port = await ListeningPortAsync(receiver);
        var environment = new Dictionary<string, string> { ["TERM"] = "xterm-256color" };

        await using TmuxSession terminal = await TmuxSession.StartAsync(ToolProcess.ShellCommandLine(Tool, "send-file", port, file, "--limit-rate", "10M"), environment);

        // Mid-transfer: "movie.bin ━━━━  57% 21.9/38.1 MiB 10.0 MiB/s 00:00:01", the bar, bytes, rate and time left.
        string moving = await terminal.WaitForScreenAsync(s => ProgressRow().Match(s) is { Success: true } row && row.Groups[1].Value != "100", TimeoutToken);
        Assert.InRange(int.Parse(ProgressRow().Match(moving).Groups[1].Value, CultureInfo.InvariantCulture), 0, 99);
        string done = await terminal.WaitForScreenAsync(s => s.Contains("[exit 0]", StringComparison.Ordinal), TimeoutToken);
        Assert.Contains("movie.bin verified", done, StringComparison.Ordinal);
        Assert.Contains("100%", done, StringComparison.Ordinal);
        Assert.Equal(File.ReadAllBytes(file), File.ReadAllBytes(Path.Combine(Received, "movie.bin")));
    }

    public new void Dispose()
    {
        _root.Delete(recursive: true);
        base.Dispose();
    }

    [GeneratedRegex(@"interrupted 'big\.bin' at (\d+) of")]
    private static partial Regex InterruptedAt();

    [GeneratedRegex(@"movie\.bin\s+━+\s+(\d+)%\s+\d+(\.\d)?/38\.1 MiB\s+\d+(\.\d)? [KM]iB/s\s+\d\d:\d\d:\d\d")]
    private static partial Regex ProgressRow();

    private ToolProcess StartReceiver(params string[] options) =>
        Start(["receive-files", "--port", "0", "--dir", Received, .. options]);

    /// <summary>Where the receiver keeps the partial copy of <paramref name="name"/> while it arrives (docs/cli-file-transfer.md).</summary>
    private string PartialPath(string name, string source) =>
        Path.Combine(Received, $".{name}.{Convert.ToHexString(Sha256(source)).ToLowerInvariant()[..16]}.partial");

    private string[] ReceivedFiles() =>
        [.. Directory.GetFiles(Received, "*", SearchOption.AllDirectories)
            .Select(path => Path.GetRelativePath(Received, path).Replace(Path.DirectorySeparatorChar, '/'))
            .Order(StringComparer.Ordinal)];

    private static byte[] Sha256(string path)
    {
        using FileStream file = File.OpenRead(path);
        return SHA256.HashData(file);
    }

    private static void WriteRandom(string path, long size, int seed)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        var random = new Random(seed);
        byte[] buffer = new byte[1 << 20];
        using FileStream file = File.Create(path);
        for (long left = size; left > 0; left -= buffer.Length)
        {
            random.NextBytes(buffer);
            file.Write(buffer, 0, (int)Math.Min(buffer.Length, left));
        }
    }

    private static int FreePort()
    {
        using var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        return ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
    }
}
