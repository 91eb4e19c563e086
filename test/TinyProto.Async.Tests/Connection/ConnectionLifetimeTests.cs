using TinyProto.Async.Connection;

namespace TinyProto.Async.Tests.Connection;

/// <summary>
/// What a transmission's broken transport does to the connection's end: on a live connection it is the end (an error);
/// on one already ending cleanly it only cuts that transmission short. (Seen behind HAProxy: a server closed at a
/// boundary while the client was writing, the client's transport was disposed under the write, and the client's
/// Completion reported an ObjectDisposedException instead of the peer's clean close.)
/// </summary>
public sealed class ConnectionLifetimeTests
{
    [Fact]
    public void TransmissionFailed_OnALiveConnection_EndsItWithTheTransportsError()
    {
        var gate = new object();
        int failed = 0;
        var lifetime = new ConnectionLifetime(gate, () => failed++);

        TinyProtoException error = lifetime.TransmissionFailed(new IOException("Connection reset by peer"));

        Assert.Equal(TinyProtoError.ConnectionClosed, error.Error);
        Assert.Contains("The transmission failed and the connection was closed: Connection reset by peer", error.Message, StringComparison.Ordinal);
        Assert.Same(error, lifetime.Failure);
        Assert.Equal(1, failed);
    }

    [Fact]
    public void TransmissionFailed_OnAConnectionThePeerAlreadyClosed_CutsOnlyTheTransmissionShort()
    {
        var gate = new object();
        int failed = 0;
        var lifetime = new ConnectionLifetime(gate, () => failed++);
        lock (gate)
        {
            lifetime.InputEnded = true;
            Assert.True(lifetime.TryBeginClosing());
        }

        TinyProtoException error = lifetime.TransmissionFailed(new ObjectDisposedException("Socket"));

        Assert.Equal(TinyProtoError.ConnectionClosed, error.Error);
        Assert.Equal("Cannot transmit: the connection is closed (the peer closed it).", error.Message);
        Assert.Null(lifetime.Failure);
        Assert.Equal(0, failed);
    }

    [Fact]
    public void TransmissionFailed_OnAConnectionEndingWithAnError_ReportsThatError()
    {
        var gate = new object();
        var lifetime = new ConnectionLifetime(gate, () => { });
        var first = new TinyProtoException(TinyProtoError.Timeout, "No reply within 5 s.");
        lifetime.Fail(first);
        lock (gate)
        {
            lifetime.TryBeginClosing();
        }

        lifetime.TransmissionFailed(new ObjectDisposedException("Socket"));

        Assert.Same(first, lifetime.Failure);
    }
}
