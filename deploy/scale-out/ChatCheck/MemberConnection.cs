using System.Buffers;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using TinyProto.Async;

namespace TinyProto.ScaleOut.ChatCheck;

/// <summary>
/// One connection of a <see cref="Member"/> (a reconnect makes a new one): checks the welcome's address, and records
/// what arrives with the connection it arrived on.
/// </summary>
internal sealed class MemberConnection(Member member) : TinyProtoConnection
{
    private const string WelcomePrefix = "* welcome, ";

    /// <summary>When the welcome arrived (<see cref="Stopwatch"/> ticks): from then on the server has it attached to the fan-out.</summary>
    public long WelcomedAt { get; private set; } = -1;

    /// <summary>When the connection ended, as this side saw it; <see cref="long.MaxValue"/> while it lasts.</summary>
    public long EndedAt { get; private set; } = long.MaxValue;

    /// <summary>The server named in the welcome.</summary>
    public string? Server { get; private set; }

    protected override ValueTask PreLoopAsync(CancellationToken cancellationToken)
    {
        _ = Completion.ContinueWith(_ => EndedAt = Stopwatch.GetTimestamp(), CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        return default;
    }

    protected override ValueTask TransmissionReceivedAsync(ReadOnlySequence<byte> message, CancellationToken cancellationToken)
    {
        long now = Stopwatch.GetTimestamp();
        string text = Encoding.UTF8.GetString(message);
        if (text.StartsWith(WelcomePrefix, StringComparison.Ordinal))
        {
            // "* welcome, NAME: you are ADDRESS on server NAME; ..."
            int you = text.IndexOf(": you are ", StringComparison.Ordinal);
            int on = text.IndexOf(" on server ", StringComparison.Ordinal);
            int end = text.IndexOf(';', StringComparison.Ordinal);
            if (you < 0 || on < you || end < on)
            {
                member.Fail($"a welcome without an address: '{text}'");
                return default;
            }

            string seen = text[(you + ": you are ".Length)..on];
            Server = text[(on + " on server ".Length)..end];
            if (seen != LocalEndPoint?.ToString())
            {
                member.Fail($"server {Server} saw this client as {seen}, but it is {LocalEndPoint} (the PROXY header's address did not arrive)");
            }

            WelcomedAt = now;
            member.Welcomed(this);
            return default;
        }

        if (text.StartsWith("* ", StringComparison.Ordinal))
        {
            member.Notice(text);
            return default;
        }

        // "NAME: L FROM SEQ"
        int line = text.IndexOf(": L ", StringComparison.Ordinal);
        string[] fields = line < 0 ? [] : text[(line + ": L ".Length)..].Split(' ');
        if (fields.Length < 2
            || !int.TryParse(fields[0], NumberStyles.None, CultureInfo.InvariantCulture, out int from)
            || !int.TryParse(fields[1], NumberStyles.None, CultureInfo.InvariantCulture, out int sequence))
        {
            member.Fail($"a message that is not a test line: '{text}'");
            return default;
        }

        member.Received(this, from, sequence, now);
        return default;
    }
}
