namespace TinyProto.Async;

/// <summary>
/// Where a connection over a socket the library opened (<see cref="TinyProtoClient"/>, <see cref="TinyProtoServer"/>)
/// waits for data and runs what the data wakes. Connections started over a stream or a pipe of the caller's, and connections
/// over TLS, always use asynchronous I/O. See <c>docs/performance.md</c> for what each choice costs.
/// </summary>
public enum TinyProtoThreading
{
    /// <summary>
    /// A dedicated thread for each connection while the process has fewer than twice the processor count of them
    /// (clients and servers together), the thread pool beyond; the thread pool where the platform has no non-blocking
    /// send the library can use (only Linux and macOS have).
    /// </summary>
    Automatic = 0,

    /// <summary>
    /// The connection reads its socket with blocking receives on a thread of its own, writes without blocking (a helper
    /// thread takes over a write the socket cannot take at once), and runs what an arrival completes (the awaiting
    /// <c>TransmitAsync</c>, <c>ReceiveAsync</c> or hook) on that thread once the arrival is parsed: one thread wake-up per
    /// arrival instead of several. A continuation that keeps the thread longer than about 200 ms gets the reading
    /// moved to a new thread, and from then on the connection runs its continuations on the thread pool. Falls back to
    /// <see cref="ThreadPool"/> where the platform is not supported.
    /// </summary>
    DedicatedThread = 1,

    /// <summary>The runtime's asynchronous sockets; what an arrival completes runs on the thread pool.</summary>
    ThreadPool = 2,
}
