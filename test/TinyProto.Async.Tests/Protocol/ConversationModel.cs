using System.Buffers;
using System.Collections.Immutable;
using TinyProto.Async.Protocol;

namespace TinyProto.Async.Tests.Protocol;

/// <summary>
/// An exhaustive check of rules 5 and 6 (the C# twin of <c>tools/model_rule5.py</c>, driving two real
/// <see cref="Conversation"/>s instead of a model of them): a client and a server, each sending a few messages, joined by
/// two channels of symbolic units (<see cref="ModelUnit"/>), explored breadth-first over every interleaving of what
/// either side can do. A side can
/// <list type="bullet">
/// <item>begin a message (when it has one left and <see cref="Conversation.CanBeginOwnMessage"/>): its owed answers
/// first, as the connection writes them before a new header, then the header (pipelined: and the payload right behind);</item>
/// <item>write the answers it owes (<see cref="Conversation.HasAnswersToWrite"/>);</item>
/// <item>lock-step, write its payload once its OK came (<see cref="Conversation.IsPayloadDue"/>), end its exchange and
/// write any answer that released, in the same flush;</item>
/// <item>complete an incoming empty message;</item>
/// <item>read the next unit, as its <see cref="Conversation.Phase"/> says it must be read.</item>
/// </list>
/// With <c>serverStops</c>, the server may also begin to stop at any point (rule 8): from then on it declines each
/// header it reads (<see cref="Conversation.OnHeaderWhileStopping"/>) with <c>0xFD</c>, in pipelined mode dropping its
/// payload, while it still sends and finishes its own messages; each message of the client is then delivered or
/// declined, never both, and never lost.
/// A misread (a unit where the conversation expects another kind, a status given to the wrong message, a header that
/// is not answered or held), a state where nothing can move before everything was delivered (or declined) both ways (a
/// deadlock), and a delivery out of order fail the check, with the shortest trace that leads there.
/// </summary>
internal sealed class ConversationModel
{
    private static readonly TinyProtoRole[] Roles = [TinyProtoRole.Client, TinyProtoRole.Server];

    private readonly int _messages;
    private readonly bool _pipelined;
    private readonly uint[] _sizes;
    private readonly bool _serverStops;

    /// <param name="messagesEachWay">How many messages each side sends.</param>
    /// <param name="pipelined">Pipelined mode (rule 6), otherwise lock-step (rule 5).</param>
    /// <param name="sizes">The sizes a message may have, 0 or 1; with both, every combination is explored.</param>
    public ConversationModel(int messagesEachWay, bool pipelined, params uint[] sizes)
        : this(messagesEachWay, pipelined, serverStops: false, sizes)
    {
    }

    /// <param name="messagesEachWay">How many messages each side sends.</param>
    /// <param name="pipelined">Pipelined mode (rule 6), otherwise lock-step (rule 5).</param>
    /// <param name="serverStops">Whether the server may begin to stop at any point (rule 8).</param>
    /// <param name="sizes">The sizes a message may have, 0 or 1; with both, every combination is explored.</param>
    public ConversationModel(int messagesEachWay, bool pipelined, bool serverStops, params uint[] sizes)
    {
        _messages = messagesEachWay;
        _pipelined = pipelined;
        _serverStops = serverStops;
        _sizes = sizes;
    }

    public string Mode => $"{(_pipelined ? "pipelined" : "lock-step")} K={_messages} sizes {{{string.Join(",", _sizes)}}}{(_serverStops ? ", the server stops" : "")}";

    /// <summary>How many distinct states the last <see cref="Check"/> explored.</summary>
    public int States { get; private set; }

    /// <summary>How many moves it followed, to new states or to ones already seen.</summary>
    public int Transitions { get; private set; }

    /// <summary>How many of its states had every message delivered and nothing left to move.</summary>
    public int Completions { get; private set; }

    /// <summary>Explores every interleaving; null when all of them are fine, otherwise the first failure and its trace.</summary>
    public string? Check()
    {
        States = Transitions = Completions = 0;
        var start = new ModelState(_pipelined);
        string startKey = start.ToString();
        var parents = new Dictionary<string, (string? Parent, string Step)>(StringComparer.Ordinal) { [startKey] = (null, "") };
        var queue = new Queue<(ModelState State, string Key)>();
        queue.Enqueue((start, startKey));
        var moves = new List<(string Step, ModelState Next)>();
        while (queue.TryDequeue(out (ModelState State, string Key) current))
        {
            States++;
            moves.Clear();
            (string Failure, string? Step)? failed = Invariant(current.State) is { } broken ? (broken, null) : Expand(current.State, moves);
            if (failed is null && moves.Count == 0)
            {
                failed = Finished(current.State) is { } stuck ? (stuck, null) : null;
                Completions += failed is null ? 1 : 0;
            }

            if (failed is { } failure)
            {
                return Report(failure.Failure, failure.Step, current.Key, current.State, parents);
            }

            foreach ((string step, ModelState next) in moves)
            {
                Transitions++;
                string key = next.ToString();
                if (parents.TryAdd(key, (current.Key, step)))
                {
                    queue.Enqueue((next, key));
                }
            }
        }

        return null;
    }

    /// <summary>Adds every move either side can make from <paramref name="state"/>; returns the first that fails, if any.</summary>
    private (string Failure, string? Step)? Expand(ModelState state, List<(string Step, ModelState Next)> moves)
    {
        foreach (TinyProtoRole role in Roles)
        {
            ModelPeer me = state.Peer(role);
            Conversation conversation = me.Conversation;
            if (me.Begun < _messages && conversation.CanBeginOwnMessage)
            {
                foreach (uint size in _sizes)
                {
                    if (Move(state, moves, next => Begin(next.Peer(role), next, size)) is { } failure)
                    {
                        return failure;
                    }
                }
            }

            (string, string?)? failed = null;
            if (_serverStops && role == TinyProtoRole.Server && !me.Stopping)
            {
                failed ??= Move(state, moves, next =>
                {
                    next.Peer(role).Stopping = true;
                    return ("server begins to stop", null);
                });
            }

            if (conversation.HasAnswersToWrite)
            {
                failed ??= Move(state, moves, next => WriteOwedAnswers(next.Peer(role), next));
            }

            if (conversation.IsPayloadDue)
            {
                failed ??= Move(state, moves, next => WriteOwnPayload(next.Peer(role), next));
            }

            if (conversation.Phase == IncomingPhase.Payload && conversation.IncomingRemaining == 0)
            {
                // The receive loop completes an empty message before it reads on.
                failed ??= Move(state, moves, next => CompleteEmpty(next.Peer(role)));
            }
            else if (!state.Input(role).IsEmpty)
            {
                failed ??= Move(state, moves, next => Read(next.Peer(role), next));
            }

            if (failed is not null)
            {
                return failed;
            }
        }

        return null;
    }

    private static (string Failure, string? Step)? Move(ModelState state, List<(string Step, ModelState Next)> moves, Func<ModelState, (string Step, string? Failure)> move)
    {
        ModelState next = state.Clone();
        (string step, string? failure) = move(next);
        if (failure is not null)
        {
            return (failure, step);
        }

        moves.Add((step, next));
        return null;
    }

    private (string, string?) Begin(ModelPeer me, ModelState next, uint size)
    {
        var units = new List<ModelUnit>();
        string? failure = WriteAnswers(me, units);
        string id = $"{me.Tag}{me.Begun}";
        me.Begun++;
        me.Conversation.BeginOwnMessages(1);
        ModelUnit header = ModelUnit.Header(id, size);
        me.Awaiting = me.Awaiting.Add(header);
        units.Add(header);
        if (_pipelined && size > 0)
        {
            units.Add(ModelUnit.Payload(id));
        }

        next.Send(me.Role, units);
        return ($"{me.Name} begins {id} ({size} bytes), writes {Show(units)}", failure);
    }

    private static (string, string?) WriteOwedAnswers(ModelPeer me, ModelState next)
    {
        var units = new List<ModelUnit>();
        string? failure = WriteAnswers(me, units);
        if (failure is null && units.Count == 0)
        {
            failure = "HasAnswersToWrite was true but WriteAnswers wrote nothing";
        }

        next.Send(me.Role, units);
        return ($"{me.Name} writes its answers {Show(units)}", failure);
    }

    private static (string, string?) WriteOwnPayload(ModelPeer me, ModelState next)
    {
        if (me.PayloadDue is not { } own)
        {
            return ($"{me.Name} writes its payload", "IsPayloadDue is true, but no OK of an own message was read");
        }

        me.PayloadDue = null;
        var units = new List<ModelUnit>();
        if (own.Value > 0)
        {
            units.Add(ModelUnit.Payload(own.Id));
        }

        me.Conversation.EndOwnExchange();
        string? failure = WriteAnswers(me, units);
        next.Send(me.Role, units);
        return ($"{me.Name} writes the payload of {own.Id} and ends its exchange, writes {Show(units)}", failure);
    }

    private (string, string?) CompleteEmpty(ModelPeer me)
    {
        me.Conversation.CompleteMessage();
        if (me.Discarding)
        {
            me.Discarding = false;
            return ($"{me.Name} drops the empty message {me.Receiving?.Id} it declined", null);
        }

        return ($"{me.Name} completes the empty message {me.Receiving?.Id}", Deliver(me));
    }

    private (string, string?) Read(ModelPeer me, ModelState next)
    {
        IncomingPhase phase = me.Conversation.Phase;
        ModelUnit unit = next.Take(me.Role);
        string step = $"{me.Name} reads {unit} at {phase}";
        if (phase == IncomingPhase.Payload)
        {
            if (!unit.IsPayload || unit.Id != me.Receiving?.Id)
            {
                return (step, $"MISREAD: {me.Name} expected the payload of {me.Receiving?.Id} and read {unit}");
            }

            me.Conversation.OnPayload(1);
            me.Conversation.CompleteMessage();
            if (me.Discarding)
            {
                me.Discarding = false;
                return ($"{step}, drops it (declined)", null);
            }

            return ($"{step}, delivers {unit.Id}", Deliver(me));
        }

        if (unit.IsPayload)
        {
            return (step, $"MISREAD: {me.Name} read the payload {unit} at a message boundary ({phase})");
        }

        if (unit.IsStatus)
        {
            StatusOutcome status = me.Conversation.OnStatus((byte)unit.Value, default);
            if (status == StatusOutcome.Unexpected)
            {
                return (step, $"MISREAD: {me.Name} took {unit} as unexpected: {me.Conversation.Violation?.Message}");
            }

            if (me.Awaiting.IsEmpty || me.Awaiting[0].Id != unit.Id)
            {
                return (step, $"MISREAD: {me.Name} took {unit} as the status of its oldest awaiting message, {(me.Awaiting.IsEmpty ? "none" : me.Awaiting[0].Id)}");
            }

            ModelUnit own = me.Awaiting[0];
            me.Awaiting = me.Awaiting.RemoveAt(0);
            me.StatusesRead++;
            StatusOutcome expected = unit.Value != Signal.Ok ? StatusOutcome.Refused : _pipelined ? StatusOutcome.Accepted : StatusOutcome.PayloadDue;
            if (status != expected)
            {
                return (step, $"{me.Name}'s OnStatus(0x{unit.Value:X2}) said {status}, expected {expected}");
            }

            if (status == StatusOutcome.Refused)
            {
                // Declined by a stopping peer: no payload follows (lock-step), and it is the sender's to send again.
                me.DeclinedByPeer++;
                return ($"{step}: declined", null);
            }

            if (!_pipelined)
            {
                me.PayloadDue = own;
            }

            return ($"{step}: {status}", null);
        }

        if (me.Stopping)
        {
            HeaderOutcome whileStopping = me.Conversation.OnHeaderWhileStopping(unit.Value);
            if (whileStopping == HeaderOutcome.Declined)
            {
                me.Unanswered = me.Unanswered.Add(unit.Id);
                me.Declined = me.Declined.Add(unit.Id);
                if (_pipelined)
                {
                    // Its payload follows unasked: read and dropped.
                    me.Receiving = unit;
                    me.Discarding = true;
                }

                return ($"{step}: declined", null);
            }

            if (whileStopping is not (HeaderOutcome.Answered or HeaderOutcome.Held))
            {
                return (step, $"MISREAD: {me.Name}'s OnHeaderWhileStopping said {whileStopping}: {me.Conversation.Violation?.Message}");
            }

            me.Unanswered = me.Unanswered.Add(unit.Id);
            me.Receiving = unit;
            return ($"{step}: {whileStopping} (while stopping)", null);
        }

        HeaderOutcome header = me.Conversation.OnHeader(unit.Value);
        if (header is not (HeaderOutcome.Answered or HeaderOutcome.Held))
        {
            return (step, $"MISREAD: {me.Name}'s OnHeader said {header}: {me.Conversation.Violation?.Message}");
        }

        me.Unanswered = me.Unanswered.Add(unit.Id);
        me.Receiving = unit;
        return ($"{step}: {header}", null);
    }

    /// <summary>Writes what the conversation lets go now; each byte is the status of the oldest header not yet answered.</summary>
    private static string? WriteAnswers(ModelPeer me, List<ModelUnit> units)
    {
        var output = new ArrayBufferWriter<byte>();
        int count = me.Conversation.WriteAnswers(output);
        if (count != output.WrittenCount)
        {
            return $"WriteAnswers returned {count} but wrote {output.WrittenCount} bytes";
        }

        foreach (byte status in output.WrittenSpan)
        {
            if (me.Unanswered.IsEmpty)
            {
                return $"{me.Name} wrote a status 0x{status:X2} with every header it read already answered";
            }

            byte expected = me.Declined.Contains(me.Unanswered[0]) ? Signal.Stopping : Signal.Ok;
            if (status != expected)
            {
                return $"{me.Name} wrote 0x{status:X2} instead of 0x{expected:X2} for {me.Unanswered[0]}";
            }

            units.Add(ModelUnit.Status(me.Unanswered[0], status));
            me.Unanswered = me.Unanswered.RemoveAt(0);
        }

        return null;
    }

    private string? Deliver(ModelPeer me)
    {
        string? id = me.Receiving?.Id;
        if (id is null || id[0] != me.PeerTag || !int.TryParse(id.AsSpan(1), out int index))
        {
            return $"{me.Name} delivered {id ?? "nothing"}, not a message of its peer";
        }

        if (me.Declined.Contains(id))
        {
            return $"{me.Name} delivered {id}, which it declined";
        }

        if (index <= me.LastDelivered)
        {
            return $"{me.Name} delivered {id} after {me.PeerTag}{me.LastDelivered} (out of order or twice)";
        }

        if (!_serverStops && index != me.LastDelivered + 1)
        {
            return $"{me.Name} delivered {id}, expected {me.PeerTag}{me.LastDelivered + 1} (one was skipped)";
        }

        me.LastDelivered = index;
        me.Delivered++;
        return me.Delivered > _messages ? $"{me.Name} delivered {me.Delivered} messages of {_messages}" : null;
    }

    /// <summary>What the model tracks agrees with what each conversation says.</summary>
    private string? Invariant(ModelState state)
    {
        foreach (TinyProtoRole role in Roles)
        {
            ModelPeer me = state.Peer(role);
            Conversation conversation = me.Conversation;
            if (conversation.AwaitingStatuses != me.Awaiting.Count)
            {
                return $"INVARIANT: {me.Name}'s conversation has {conversation.AwaitingStatuses} messages awaiting statuses, the model {me.Awaiting.Count}";
            }

            if (conversation.IsPayloadDue != me.PayloadDue.HasValue)
            {
                return $"INVARIANT: {me.Name}'s conversation says payload due: {conversation.IsPayloadDue}, the model has {me.PayloadDue?.ToString() ?? "none"}";
            }

            if (!_pipelined && me.Awaiting.Count + (me.PayloadDue.HasValue ? 1 : 0) > 1)
            {
                return $"INVARIANT: lock-step {me.Name} has more than one own message in flight";
            }

            if (conversation.Violation is { } violation)
            {
                return $"INVARIANT: {me.Name}'s conversation recorded a violation: {violation.Message}";
            }
        }

        return null;
    }

    /// <summary>Nothing can move: null if everything was delivered both ways and both sides are at rest, else a deadlock.</summary>
    private string? Finished(ModelState state)
    {
        var missing = new List<string>();
        foreach (TinyProtoRole role in Roles)
        {
            ModelPeer me = state.Peer(role);
            Conversation conversation = me.Conversation;
            if (me.Begun < _messages || me.StatusesRead < _messages)
            {
                missing.Add($"{me.Name} began {me.Begun} and read {me.StatusesRead} statuses of {_messages}");
            }

            // Each of the peer's messages was delivered here, or declined here (and the peer read that).
            int declined = state.Peer(role == TinyProtoRole.Client ? TinyProtoRole.Server : TinyProtoRole.Client).DeclinedByPeer;
            if (me.Delivered + declined != _messages || me.Declined.Count != declined)
            {
                missing.Add($"{me.Name} delivered {me.Delivered} and declined {me.Declined.Count} (its peer read {declined} declines) of {_messages}");
            }

            if (conversation.Phase != IncomingPhase.Boundary || conversation.OwnMessageInFlight || conversation.IsAnswerHeld ||
                conversation.AnswersOwed > 0 || !me.Unanswered.IsEmpty)
            {
                missing.Add($"{me.Name} is not at rest");
            }
        }

        if (!state.ToClient.IsEmpty || !state.ToServer.IsEmpty)
        {
            missing.Add("units are left unread");
        }

        return missing.Count == 0 ? null : $"DEADLOCK: no side can move, but {string.Join("; ", missing)}";
    }

    /// <summary>The failure, the shortest trace to it (breadth-first), and the state it went wrong in.</summary>
    private string Report(string failure, string? failingStep, string key, ModelState state, Dictionary<string, (string? Parent, string Step)> parents)
    {
        var steps = new List<string>();
        for (string? at = key; parents[at].Parent is { } parent; at = parent)
        {
            steps.Add(parents[at].Step);
        }

        steps.Reverse();
        int reached = steps.Count;
        if (failingStep is not null)
        {
            steps.Add($"{failingStep}   <-- fails here");
        }

        IEnumerable<string> trace = steps.Select((step, i) => $"  {i + 1,2}. {step}");
        return $"{Mode}: {failure}\ntrace ({States} states explored):\n{string.Join("\n", trace)}\nstate after step {reached}:\n{state.Describe()}";
    }

    private static string Show(List<ModelUnit> units) => units.Count == 0 ? "nothing" : string.Join(" ", units);
}
