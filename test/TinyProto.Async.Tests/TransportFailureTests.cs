using System.Diagnostics;
using System.Net.Sockets;
using Nerdbank.Streams;

namespace TinyProto.Async.Tests;

/// <summary>
/// Whatever a transport throws, and whenever, the connection ends: <see cref="TinyProtoConnection.Completion"/>
/// completes, with a <see cref="TinyProtoError.ConnectionClosed"/> error that holds the transport's exception, and a
/// connection over a stream can always be cut.
/// </summary>
public sealed class TransportFailureTests : ConnectionTestBase
{
    [Fact]
    public async Task Completion_StreamThrowsInvalidOperationWhenDisposed_FaultsWithConnectionClosedHoldingIt()
    {
        (Stream ours, Stream theirs) = FullDuplexStream.CreatePair();
        var stream = new MisbehavingStream(ours) { DisposeFailure = () => new InvalidOperationException("disposed twice") };
        var connection = new TinyProtoConnection();
        await StartOverStreamAsync(connection, stream, theirs);

        await theirs.DisposeAsync();

        var ex = await AssertFaultsAsync(connection.Completion, TinyProtoError.ConnectionClosed);
        Assert.IsType<InvalidOperationException>(ex.InnerException);
        await Bounded(connection.CloseAsync(TimeoutToken).AsTask());
    }

    [Fact]
    public async Task Completion_StreamReadThrowsInvalidOperation_FaultsWithConnectionClosedHoldingIt()
    {
        (Stream ours, Stream theirs) = FullDuplexStream.CreatePair();
        var stream = new MisbehavingStream(ours);
        var connection = new TinyProtoConnection();
        await StartOverStreamAsync(connection, stream, theirs);

        stream.Fail(() => new InvalidOperationException("the stream was already closed"));

        var ex = await AssertFaultsAsync(connection.Completion, TinyProtoError.ConnectionClosed);
        Assert.IsType<InvalidOperationException>(ex.InnerException);
    }

    [Fact]
    public async Task Completion_TransportThrowsACancellationOfItsOwn_FaultsWithConnectionClosedHoldingIt()
    {
        // Kestrel's ConnectionAbortedException is an OperationCanceledException that no token of ours cancelled.
        (Stream ours, Stream theirs) = FullDuplexStream.CreatePair();
        var stream = new MisbehavingStream(ours);
        var connection = new TinyProtoConnection();
        await StartOverStreamAsync(connection, stream, theirs);

        stream.Fail(() => new AbortedByTransportException());

        var ex = await AssertFaultsAsync(connection.Completion, TinyProtoError.ConnectionClosed);
        Assert.IsType<AbortedByTransportException>(ex.InnerException);
    }

    [Fact]
    public async Task TransmitAsync_TransportWriteThrowsACancellationOfItsOwn_FailsWithConnectionClosedAndEndsTheConnection()
    {
        (Stream ours, Stream theirs) = FullDuplexStream.CreatePair();
        var stream = new MisbehavingStream(ours);
        var connection = new TinyProtoConnection();
        await StartOverStreamAsync(connection, stream, theirs);

        stream.FailWrites(() => new AbortedByTransportException());

        var ex = await Assert.ThrowsAsync<TinyProtoException>(() => Bounded(connection.TransmitAsync(new byte[10], TimeoutToken).AsTask()));
        Assert.Equal(TinyProtoError.ConnectionClosed, ex.Error);
        Assert.IsType<AbortedByTransportException>(ex.InnerException);
        await AssertFaultsAsync(connection.Completion, TinyProtoError.ConnectionClosed);
    }

    [Fact]
    public async Task Abort_AfterTheConnectionReleasedItsStreamTransport_ThrowsNothing()
    {
        (Stream ours, Stream theirs) = FullDuplexStream.CreatePair();
        var connection = new TinyProtoConnection();
        await StartOverStreamAsync(connection, ours, theirs);
        await theirs.DisposeAsync();
        await Bounded(connection.Completion);

        // The writer is completed and the stream disposed: cutting them again (a stalled drain's last step) is harmless.
        connection.Abort();
        await Bounded(connection.CloseAsync(TimeoutToken).AsTask());
    }

    [Fact]
    public async Task CloseAsync_StartedOverANetworkStreamWhileALargePayloadWaitsOnAPeerThatStopsReading_EndsWithinTheTimeout()
    {
        using Socket listener = ListenOnLoopback(out int port);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Task rawServer = AcceptThenStopReadingAsync(listener, release.Task);

        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync("127.0.0.1", port, TimeoutToken);
        var connection = new TinyProtoConnection { Options = new() { Timeout = TimeSpan.FromMilliseconds(500) } };
        await Bounded(connection.StartAsync(new NetworkStream(socket, ownsSocket: true), TinyProtoRole.Client, TimeoutToken));

        Task transmit = connection.TransmitAsync(new byte[16 * 1024 * 1024], TimeoutToken).AsTask();
        await Task.Delay(300, TimeoutToken);
        Assert.False(transmit.IsCompleted, "16 MiB fit in the socket buffers; the test needs a write that waits");

        var clock = Stopwatch.StartNew();
        await Bounded(connection.CloseAsync(TimeoutToken).AsTask());
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(5), $"CloseAsync took {clock.Elapsed}");
        var ex = await Assert.ThrowsAsync<TinyProtoException>(() => Bounded(transmit));
        Assert.Equal(TinyProtoError.ConnectionClosed, ex.Error);
        release.SetResult();
        await Bounded(rawServer);
    }

    /// <summary>Starts <paramref name="connection"/> as a client over <paramref name="stream"/>, with a raw server on <paramref name="theirs"/>.</summary>
    private async Task<RawPeer> StartOverStreamAsync(TinyProtoConnection connection, Stream stream, Stream theirs)
    {
        var raw = new RawPeer(new StreamPipe(theirs), TimeoutToken);
        Task start = connection.StartAsync(stream, TinyProtoRole.Client, TimeoutToken);
        await Bounded(raw.OpenAsServerAsync());
        await Bounded(start);
        return raw;
    }

    private sealed class StreamPipe(Stream stream) : System.IO.Pipelines.IDuplexPipe
    {
        public System.IO.Pipelines.PipeReader Input { get; } = System.IO.Pipelines.PipeReader.Create(stream, new(leaveOpen: true));

        public System.IO.Pipelines.PipeWriter Output { get; } = System.IO.Pipelines.PipeWriter.Create(stream, new(leaveOpen: true));
    }

    private sealed class AbortedByTransportException() : OperationCanceledException("The connection was aborted by the transport.");

    /// <summary>A stream over another that throws what a test says: from reads or writes once told to, or when disposed.</summary>
    private sealed class MisbehavingStream(Stream inner) : Stream
    {
        private readonly TaskCompletionSource<Func<Exception>> _readFailure = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private volatile Func<Exception>? _writeFailure;

        public Func<Exception>? DisposeFailure { get; init; }

        public override bool CanRead => true;

        public override bool CanWrite => true;

        public override bool CanSeek => false;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        /// <summary>Makes the pending and every later read throw.</summary>
        public void Fail(Func<Exception> failure) => _readFailure.TrySetResult(failure);

        public void FailWrites(Func<Exception> failure) => _writeFailure = failure;

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            Task<int> read = inner.ReadAsync(buffer, cancellationToken).AsTask();
            if (await Task.WhenAny(read, _readFailure.Task).ConfigureAwait(false) == _readFailure.Task)
            {
                throw (await _readFailure.Task.ConfigureAwait(false))();
            }

            return await read.ConfigureAwait(false);
        }

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default) =>
            _writeFailure is { } failure ? ValueTask.FromException(failure()) : inner.WriteAsync(buffer, cancellationToken);

        public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        public override Task FlushAsync(CancellationToken cancellationToken) =>
            _writeFailure is { } failure ? Task.FromException(failure()) : inner.FlushAsync(cancellationToken);

        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException("async only");

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException("async only");

        public override void Flush() => throw new NotSupportedException("async only");

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override async ValueTask DisposeAsync()
        {
            await inner.DisposeAsync().ConfigureAwait(false);
            await base.DisposeAsync().ConfigureAwait(false);
            if (DisposeFailure is { } failure)
            {
                throw failure();
            }
        }

        protected override void Dispose(bool disposing)
        {
            base.Dispose(disposing);
            if (disposing)
            {
                inner.Dispose();
                if (DisposeFailure is { } failure)
                {
                    throw failure();
                }
            }
        }
    }
}
