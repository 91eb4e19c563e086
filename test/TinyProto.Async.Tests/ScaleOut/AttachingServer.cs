using TinyProto.Async.ScaleOut;

namespace TinyProto.Async.Tests.ScaleOut;

/// <summary>Attaches each connection to the fan-out in its ConnectionInitAsync, as a service's server does.</summary>
internal sealed class AttachingServer(TinyProtoFanOut fanOut) : TinyProtoServer
{
    private int _attached;

    /// <summary>How many connections AttachAsync has returned for.</summary>
    public int Attached => Volatile.Read(ref _attached);

    protected override async ValueTask ConnectionInitAsync(Guid id, TinyProtoConnection connection, CancellationToken cancellationToken)
    {
        await fanOut.AttachAsync(connection, cancellationToken);
        Interlocked.Increment(ref _attached);
    }
}
