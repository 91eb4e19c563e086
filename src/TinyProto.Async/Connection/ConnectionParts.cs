using System.IO.Pipelines;
using Microsoft.Extensions.Logging;
using TinyProto.Async.Protocol;
using TinyProto.Async.Transport;

namespace TinyProto.Async.Connection;

/// <summary>
/// The parts of an established connection, wired together once its handshake succeeded: the conversation (what the
/// protocol allows), the output, the waits for statuses, the metrics, the transmissions of each mode and the receive loop. Nothing here changes
/// after construction; each part owns its own state.
/// </summary>
internal sealed class ConnectionParts
{
    public ConnectionParts(
        object gate,
        Guid id,
        TinyProtoConnectionOptions options,
        ILogger logger,
        PluginChain plugins,
        ConnectionLifetime lifetime,
        Inbox inbox,
        Deadline deadline,
        Conversation conversation,
        IDuplexPipe transport,
        Action<TinyProtoException> abortWrites,
        Diagnostics.ConnectionMetrics metrics,
        CancellationToken directCancellation)
    {
        Gate = gate;
        Id = id;
        Options = options;
        Logger = logger;
        Plugins = plugins;
        Lifetime = lifetime;
        Inbox = inbox;
        Deadline = deadline;
        Conversation = conversation;
        Metrics = metrics;
        StreamDuplexPipe? direct = transport as StreamDuplexPipe;
        var watch = new WriteWatch(deadline, () =>
        {
            Log.WriteStalled(logger, id, deadline.Timeout.TotalMilliseconds);
            abortWrites(new TinyProtoException(TinyProtoError.Timeout,
                $"The peer took none of our bytes for {deadline.Timeout.TotalMilliseconds:0.###} ms (Timeout) while a write waited: it stopped reading, and the connection was closed."));
        });
        AbortWrites = abortWrites;
        Output = new Output(transport.Output, direct, gate, conversation, deadline, lifetime, watch, abortWrites);
        Waits = new StatusWaits(gate, conversation, deadline, lifetime, inbox);
        LockStep = new LockStepTransmissions(Output, Waits, lifetime);
        Pipelined = new PipelinedTransmissions(Output, Waits, lifetime);
        ReceiveLoop = new ReceiveLoop(this, transport.Input, direct, directCancellation);
    }

    /// <summary>The one lock for checks that span parts; each part says which of its fields it guards.</summary>
    public object Gate { get; }

    public Guid Id { get; }

    public TinyProtoConnectionOptions Options { get; }

    public ILogger Logger { get; }

    public PluginChain Plugins { get; }

    public ConnectionLifetime Lifetime { get; }

    public Inbox Inbox { get; }

    public Deadline Deadline { get; }

    public Conversation Conversation { get; }

    public Output Output { get; }

    /// <summary>What the connection records on its meter: its messages, their bytes, how long its operations took.</summary>
    public Diagnostics.ConnectionMetrics Metrics { get; }

    public StatusWaits Waits { get; }

    /// <summary>Our messages in lock-step mode (rule 5); unused in pipelined mode.</summary>
    public LockStepTransmissions LockStep { get; }

    /// <summary>Our messages in pipelined mode (rule 6); unused in lock-step mode.</summary>
    public PipelinedTransmissions Pipelined { get; }

    public ReceiveLoop ReceiveLoop { get; }

    /// <summary>Ends the connection with an error and cuts every write that waits on the transport (a timeout that expired).</summary>
    public Action<TinyProtoException> AbortWrites { get; }
}
