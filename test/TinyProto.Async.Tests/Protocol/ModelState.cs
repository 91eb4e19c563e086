using System.Collections.Immutable;
using TinyProto.Async.Protocol;

namespace TinyProto.Async.Tests.Protocol;

/// <summary>A state of <see cref="ConversationModel"/>: both sides and the two channels between them, in order.</summary>
internal sealed class ModelState
{
    public ModelState(bool pipelined)
    {
        Client = new ModelPeer(TinyProtoRole.Client, pipelined);
        Server = new ModelPeer(TinyProtoRole.Server, pipelined);
    }

    private ModelState(ModelState other)
    {
        Client = other.Client.Clone();
        Server = other.Server.Clone();
        ToClient = other.ToClient;
        ToServer = other.ToServer;
    }

    public ModelPeer Client { get; }

    public ModelPeer Server { get; }

    /// <summary>Units the server wrote and the client has not read, oldest first.</summary>
    public ImmutableList<ModelUnit> ToClient { get; set; } = [];

    /// <summary>Units the client wrote and the server has not read, oldest first.</summary>
    public ImmutableList<ModelUnit> ToServer { get; set; } = [];

    public ModelPeer Peer(TinyProtoRole role) => role == TinyProtoRole.Client ? Client : Server;

    /// <summary>What <paramref name="role"/> has still to read.</summary>
    public ImmutableList<ModelUnit> Input(TinyProtoRole role) => role == TinyProtoRole.Client ? ToClient : ToServer;

    /// <summary><paramref name="role"/> reads the first unit of its input.</summary>
    public ModelUnit Take(TinyProtoRole role)
    {
        ModelUnit unit = Input(role)[0];
        if (role == TinyProtoRole.Client)
        {
            ToClient = ToClient.RemoveAt(0);
        }
        else
        {
            ToServer = ToServer.RemoveAt(0);
        }

        return unit;
    }

    /// <summary><paramref name="role"/> writes <paramref name="units"/> to its output.</summary>
    public void Send(TinyProtoRole role, IEnumerable<ModelUnit> units)
    {
        if (role == TinyProtoRole.Client)
        {
            ToServer = ToServer.AddRange(units);
        }
        else
        {
            ToClient = ToClient.AddRange(units);
        }
    }

    public ModelState Clone() => new(this);

    /// <summary>The whole state in one line: the visited-set key.</summary>
    public override string ToString() =>
        $"{Client} || {Server} || to server [{string.Join(" ", ToServer)}] to client [{string.Join(" ", ToClient)}]";

    /// <summary>The whole state over a few lines, for a failure message.</summary>
    public string Describe() =>
        $"  client:    {Client}\n  server:    {Server}\n  to server: [{string.Join(" ", ToServer)}]\n  to client: [{string.Join(" ", ToClient)}]";
}
