namespace TinyProto.Async;

/// <summary>Where a <see cref="TinyProtoServer"/> is in its life (<see cref="TinyProtoServer.State"/>).</summary>
public enum TinyProtoServerState
{
    /// <summary>Not started yet.</summary>
    NotStarted,

    /// <summary><see cref="TinyProtoServer.StartAsync"/> is binding its addresses or running <c>PreLoopAsync</c>.</summary>
    Starting,

    /// <summary>Accepting connections on every one of <see cref="TinyProtoServer.BoundEndPoints"/>.</summary>
    Listening,

    /// <summary>Stopping: no longer accepting, its connections finishing what they accepted (a drain), up to <see cref="TinyProtoServer.StopTimeout"/>.</summary>
    Stopping,

    /// <summary>Stopped, or its start failed.</summary>
    Stopped,
}
