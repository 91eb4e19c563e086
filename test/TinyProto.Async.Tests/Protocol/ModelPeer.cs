using System.Collections.Immutable;
using TinyProto.Async.Protocol;

namespace TinyProto.Async.Tests.Protocol;

/// <summary>
/// One side of <see cref="ConversationModel"/>: a real <see cref="Conversation"/> and what the model remembers beside
/// it, by message id, to check it: own messages begun and awaiting statuses, incoming headers not yet answered on the
/// wire, the message being received, and what was delivered.
/// </summary>
internal sealed class ModelPeer
{
    public ModelPeer(TinyProtoRole role, bool pipelined)
    {
        Role = role;
        Conversation = new Conversation(role, pipelined, TinyProtoConnectionOptions.ProtocolMaxMessageSize);
    }

    private ModelPeer(ModelPeer other)
    {
        Role = other.Role;
        Conversation = other.Conversation.Clone();
        Begun = other.Begun;
        Awaiting = other.Awaiting;
        PayloadDue = other.PayloadDue;
        Unanswered = other.Unanswered;
        Receiving = other.Receiving;
        Delivered = other.Delivered;
        LastDelivered = other.LastDelivered;
        StatusesRead = other.StatusesRead;
        Stopping = other.Stopping;
        Declined = other.Declined;
        Discarding = other.Discarding;
        DeclinedByPeer = other.DeclinedByPeer;
    }

    public TinyProtoRole Role { get; }

    public string Name => Role == TinyProtoRole.Client ? "client" : "server";

    /// <summary>The first letter of this side's message ids.</summary>
    public char Tag => Role == TinyProtoRole.Client ? 'c' : 's';

    /// <summary>The peer's tag: the messages this side receives.</summary>
    public char PeerTag => Role == TinyProtoRole.Client ? 's' : 'c';

    public Conversation Conversation { get; }

    /// <summary>How many own messages this side has begun.</summary>
    public int Begun { get; set; }

    /// <summary>Own messages whose header is out and whose status has not been read, oldest first.</summary>
    public ImmutableList<ModelUnit> Awaiting { get; set; } = [];

    /// <summary>Lock-step: the own message whose OK was read and whose payload is not yet in the output.</summary>
    public ModelUnit? PayloadDue { get; set; }

    /// <summary>Ids of incoming headers read whose status this side has not written yet, oldest first.</summary>
    public ImmutableList<string> Unanswered { get; set; } = [];

    /// <summary>The header of the incoming message read last.</summary>
    public ModelUnit? Receiving { get; set; }

    /// <summary>How many of the peer's messages were delivered here.</summary>
    public int Delivered { get; set; }

    /// <summary>The index of the peer's message delivered last (-1: none yet): each one delivered must come later.</summary>
    public int LastDelivered { get; set; } = -1;

    /// <summary>How many statuses of own messages were read.</summary>
    public int StatusesRead { get; set; }

    /// <summary>Whether this side is stopping (rule 8): it declines the headers it reads from now on.</summary>
    public bool Stopping { get; set; }

    /// <summary>Ids of incoming headers this side declined: their status must be <c>0xFD</c>, and they are never delivered.</summary>
    public ImmutableHashSet<string> Declined { get; set; } = [];

    /// <summary>Pipelined: the payload being read belongs to a declined header, and is dropped.</summary>
    public bool Discarding { get; set; }

    /// <summary>How many own messages the peer declined (a <c>0xFD</c> status read).</summary>
    public int DeclinedByPeer { get; set; }

    public ModelPeer Clone() => new(this);

    /// <summary>Everything that tells two states of this side apart.</summary>
    public override string ToString() =>
        $"{Conversation} | begun={Begun} awaiting=[{string.Join(",", Awaiting)}] due={PayloadDue?.ToString() ?? "-"} " +
        $"unanswered=[{string.Join(",", Unanswered)}] receiving={Receiving?.ToString() ?? "-"} delivered={Delivered}/{LastDelivered} statuses={StatusesRead} " +
        $"stopping={Stopping} declined=[{string.Join(",", Declined.Order(StringComparer.Ordinal))}] discarding={Discarding} declinedByPeer={DeclinedByPeer}";
}
