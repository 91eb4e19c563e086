using System.Diagnostics;

namespace TinyProto.ScaleOut.ChatCheck;

/// <summary>
/// What arrived against what was sent. A line whose TransmitAsync completed must reach every other member whose
/// connection was up (welcomed, not ended) from before the line was sent until <see cref="Grace"/> after: missing
/// there, it is lost. A member that was reconnecting meanwhile may miss it (Redis pub/sub is at most once): counted,
/// not failed. Nothing may arrive twice, out of its sender's order, at its own sender, or if it was never sent.
/// </summary>
internal sealed class Verdict
{
    /// <summary>How long after its sending completed a line has to arrive at a member that stayed connected.</summary>
    public static readonly TimeSpan Grace = TimeSpan.FromSeconds(2);

    private readonly List<string> _problems = [];

    public long Accepted { get; private set; }

    public long NotAccepted { get; private set; }

    public long Required { get; private set; }

    public long Delivered { get; private set; }

    public long Excused { get; private set; }

    public long Lost { get; private set; }

    public long Duplicates { get; private set; }

    public long OutOfOrder { get; private set; }

    public long Strays { get; private set; }

    public IReadOnlyList<string> Problems => _problems;

    public bool Passed => _problems.Count == 0;

    /// <summary>Fan-out latency: from a line's sending to its arrival, in milliseconds, per delivery.</summary>
    public List<double> LatenciesMs { get; } = [];

    public static Verdict Judge(IReadOnlyList<Member> members)
    {
        var verdict = new Verdict();
        verdict.Check(members);
        return verdict;
    }

    private void Check(IReadOnlyList<Member> members)
    {
        long grace = (long)(Grace.TotalSeconds * Stopwatch.Frequency);
        var sent = members.ToDictionary(m => m.Index, m => m.SentLines.ToDictionary(s => s.Sequence));
        foreach (Member member in members)
        {
            NotAccepted += member.Refusals.Count;
            foreach (string failure in member.Failures)
            {
                Problem(failure);
            }
        }

        Accepted = members.Sum(m => m.SentLines.Count(s => s.Accepted));
        foreach (Member receiver in members)
        {
            var got = new HashSet<(int From, int Sequence)>();
            var last = new Dictionary<int, int>();
            foreach (Member.Receipt receipt in receiver.Receipts)
            {
                if (receipt.From == receiver.Index)
                {
                    Strays++;
                    Problem($"member {receiver.Index} got its own line {receipt.Sequence} back");
                    continue;
                }

                if (!sent.TryGetValue(receipt.From, out var lines) || !lines.TryGetValue(receipt.Sequence, out Member.Sent line))
                {
                    Strays++;
                    Problem($"member {receiver.Index} got line {receipt.Sequence} of member {receipt.From}, which was never sent");
                    continue;
                }

                if (!got.Add((receipt.From, receipt.Sequence)))
                {
                    Duplicates++;
                    Problem($"member {receiver.Index} got line {receipt.Sequence} of member {receipt.From} twice");
                    continue;
                }

                if (last.TryGetValue(receipt.From, out int previous) && receipt.Sequence < previous)
                {
                    OutOfOrder++;
                    Problem($"member {receiver.Index} got line {receipt.Sequence} of member {receipt.From} after its line {previous}");
                }

                last[receipt.From] = Math.Max(receipt.Sequence, previous);
                Delivered++;
                LatenciesMs.Add(Stopwatch.GetElapsedTime(line.Start, receipt.At).TotalMilliseconds);
            }

            MemberConnection[] connections = [.. receiver.Connections];
            foreach (Member sender in members)
            {
                if (sender.Index == receiver.Index)
                {
                    continue;
                }

                foreach (Member.Sent line in sender.SentLines)
                {
                    if (!line.Accepted)
                    {
                        continue;
                    }

                    bool covered = connections.Any(c => c.WelcomedAt >= 0 && c.WelcomedAt <= line.Start && c.EndedAt > line.End + grace);
                    if (got.Contains((sender.Index, line.Sequence)))
                    {
                        Required += covered ? 1 : 0;
                        continue;
                    }

                    if (covered)
                    {
                        Required++;
                        Lost++;
                        if (Lost <= 20)
                        {
                            Problem($"lost: line {line.Sequence} of member {sender.Index} never reached member {receiver.Index}, connected throughout");
                        }
                    }
                    else
                    {
                        Excused++;
                    }
                }
            }
        }

        if (Lost > 20)
        {
            Problem($"... {Lost} lines lost in all");
        }
    }

    private void Problem(string text) => _problems.Add(text);
}
