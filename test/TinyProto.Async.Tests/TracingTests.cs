using System.Buffers;
using System.Collections.Concurrent;
using System.Diagnostics;

namespace TinyProto.Async.Tests;

/// <summary>
/// The <c>TinyProto.Async</c> activity source: a span for a client's connect, one for the server's handshake with it,
/// one per request and one per transmission (each with its error when it fails, its error.type as the metrics name it);
/// a transmission's span is a child of the caller's activity and never becomes the caller's current one.
/// </summary>
public sealed class TracingTests : ConnectionTestBase
{
    [Fact]
    public async Task AConnectAHandshakeAndARequest_EachMakeASpan_WithTheirEndpoints()
    {
        using var spans = new Spans();
        await using var server = new TinyProtoServer();
        server.SetConnectionHandler<Echo>();
        int port = await StartLoopbackAsync(server);
        await using var client = new TinyProtoClient();
        TinyProtoConnection connection = await Bounded(client.ConnectAsync("127.0.0.1", port, TimeoutToken));
        await Bounded(connection.RequestAsync("ping"u8.ToArray(), TimeoutToken).AsTask());
        await Bounded(connection.TransmitAsync("spanned"u8.ToArray(), TimeoutToken).AsTask());
        await WaitUntilAsync(() => spans.Named("tinyproto.accept").Any(a => Equals(a.GetTagItem("server.port"), port)));

        // Other tests run at once: only the spans of this test's port and connection count.
        Activity connect = spans.Named("tinyproto.connect").Single(a => Equals(a.GetTagItem("server.port"), port));
        Assert.Equal(ActivityKind.Client, connect.Kind);
        Assert.Equal(port, connect.GetTagItem("server.port"));
        Assert.Equal(connection.Id.ToString(), connect.GetTagItem("tinyproto.connection.id"));
        Activity accept = spans.Named("tinyproto.accept").Single(a => Equals(a.GetTagItem("server.port"), port));
        Assert.Equal(ActivityKind.Server, accept.Kind);
        Assert.Equal("127.0.0.1", accept.GetTagItem("client.address"));
        Activity request = spans.Named("tinyproto.request").Single(a => Equals(a.GetTagItem("tinyproto.connection.id"), connection.Id.ToString()));
        Assert.Equal(4, request.GetTagItem("tinyproto.request.size"));
        Assert.Equal(ActivityStatusCode.Unset, request.Status);
        Assert.Null(request.Parent);
        Assert.Single(spans.Named("tinyproto.request"), a => Equals(a.GetTagItem("tinyproto.connection.id"), connection.Id.ToString()));

        // The request's own message is the request's span; the plain transmission has one of its own.
        Activity transmit = Assert.Single(spans.Named("tinyproto.transmit"), a => Equals(a.GetTagItem("tinyproto.connection.id"), connection.Id.ToString()));
        Assert.Equal(ActivityKind.Producer, transmit.Kind);
        Assert.Equal(7L, transmit.GetTagItem("tinyproto.message.size"));
        Assert.Equal(ActivityStatusCode.Unset, transmit.Status);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task ATransmission_IsASpanUnderTheCallersActivity_EndedWhenItCompletes_WithoutBecomingTheCallersCurrent(bool pipelined)
    {
        using var spans = new Spans();
        var client = new TinyProtoConnection { Options = { RequestPipelining = pipelined } };
        var server = new Echo();
        await StartPairAsync(client, server);
        using var caller = new Activity("caller").Start();

        ValueTask transmission = client.TransmitAsync("traced"u8.ToArray(), TimeoutToken);
        Assert.Same(caller, Activity.Current);
        await Bounded(transmission.AsTask());

        Activity transmit = Assert.Single(spans.Named("tinyproto.transmit"), a => Equals(a.GetTagItem("tinyproto.connection.id"), client.Id.ToString()));
        Assert.Same(caller, transmit.Parent);
        Assert.Equal(pipelined, transmit.GetTagItem("tinyproto.pipelined"));
        Assert.True(transmit.Duration > TimeSpan.Zero);
        Assert.Same(caller, Activity.Current);
        await Bounded(client.CloseAsync(TimeoutToken).AsTask());
    }

    [Fact]
    public async Task ARefusedTransmission_MarksItsSpanFailed_WithTheErrorType()
    {
        using var spans = new Spans();
        var client = new TinyProtoConnection();
        var server = new Echo { Options = { MaxMessageSize = 4 } };
        await StartPairAsync(client, server);

        var refused = await Assert.ThrowsAsync<TinyProtoException>(() => Bounded(client.TransmitAsync("too long"u8.ToArray(), TimeoutToken).AsTask()));

        Assert.Equal(TinyProtoError.MessageRefused, refused.Error);
        Activity transmit = Assert.Single(spans.Named("tinyproto.transmit"), a => Equals(a.GetTagItem("tinyproto.connection.id"), client.Id.ToString()));
        Assert.Equal(ActivityStatusCode.Error, transmit.Status);
        Assert.Equal("message_refused", transmit.GetTagItem("error.type"));
        await Bounded(client.CloseAsync(TimeoutToken).AsTask());
    }

    [Fact]
    public async Task AFailedConnectOrRequest_MarksItsSpanFailed_WithTheErrorType()
    {
        using var spans = new Spans();
        await using var server = new TinyProtoServer();
        server.SetConnectionHandler<Silent>();
        int port = await StartLoopbackAsync(server);
        await using var client = new TinyProtoClient();
        int refusedPort = FreeLoopbackPort();
        await Assert.ThrowsAnyAsync<Exception>(() => Bounded(client.ConnectAsync("127.0.0.1", refusedPort, TimeoutToken)));
        TinyProtoConnection connection = await Bounded(client.ConnectAsync("127.0.0.1", port, TimeoutToken));
        await Assert.ThrowsAsync<TinyProtoException>(() => Bounded(connection.RequestAsync("?"u8.ToArray(), TimeSpan.FromMilliseconds(200), TimeoutToken).AsTask()));

        Activity refused = spans.Named("tinyproto.connect").Single(a => Equals(a.GetTagItem("server.port"), refusedPort));
        Assert.Equal(ActivityStatusCode.Error, refused.Status);
        Assert.Equal("connection_refused", refused.GetTagItem("error.type"));
        Activity request = spans.Named("tinyproto.request").Single(a => Equals(a.GetTagItem("tinyproto.connection.id"), connection.Id.ToString()));
        Assert.Equal(ActivityStatusCode.Error, request.Status);
        Assert.Equal("timeout", request.GetTagItem("error.type"));
    }

    /// <summary>Every span of the source that stopped while this lives.</summary>
    private sealed class Spans : IDisposable
    {
        private readonly ActivityListener _listener;
        private readonly ConcurrentQueue<Activity> _stopped = new();

        public Spans()
        {
            _listener = new ActivityListener
            {
                ShouldListenTo = source => source.Name == "TinyProto.Async",
                Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
                ActivityStopped = _stopped.Enqueue,
            };
            ActivitySource.AddActivityListener(_listener);
        }

        public IEnumerable<Activity> Named(string name) => _stopped.Where(a => a.OperationName == name);

        public void Dispose() => _listener.Dispose();
    }

    private sealed class Echo : TinyProtoConnection
    {
        protected override ValueTask TransmissionReceivedAsync(ReadOnlySequence<byte> message, CancellationToken cancellationToken) =>
            TransmitAsync(message, cancellationToken);
    }

    private sealed class Silent : TinyProtoConnection
    {
        protected override ValueTask TransmissionReceivedAsync(ReadOnlySequence<byte> message, CancellationToken cancellationToken) => default;
    }
}
