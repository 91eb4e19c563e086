using System.Buffers;
using System.IO.Pipelines;
using Microsoft.Extensions.Logging.Abstractions;
using TinyProto.Async.Connection;
using TinyProto.Async.Protocol;

namespace TinyProto.Async;

public partial class TinyProtoConnection
{
    /// <summary>The opening handshake (PROTOCOL.md "Opening handshake" and rule 6).</summary>
    internal async Task HandshakeAsync(IDuplexPipe transport, TinyProtoRole role, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(transport);
        if (role is not (TinyProtoRole.Client or TinyProtoRole.Server))
        {
            throw new ArgumentOutOfRangeException(nameof(role), role, "Role must be Client or Server.");
        }

        if (Interlocked.CompareExchange(ref _state, 1, 0) != 0)
        {
            throw new InvalidOperationException(_lifetime.IsClosingNow()
                ? "The connection was closed before it started."
                : "The connection was already started; create a new connection object for each transport.");
        }

        if (transport is Transport.StreamDuplexPipe)
        {
            Volatile.Write(ref _directCancel, new CancellationTokenSource());
        }

        _options.MakeReadOnly();
        Volatile.Write(ref _transport, transport);
        Role = role;
        _logger = _options.Logger ?? HostLogger ?? NullLogger.Instance;
        _loopPassOverridden = HookOverrides.IsOverridden(GetType(), typeof(TinyProtoConnection), nameof(LoopPassAsync));
        _hooksTakeMessages = HookOverrides.IsOverridden(GetType(), typeof(TinyProtoConnection), nameof(TransmissionReceivedAsync), typeof(ReadOnlySequence<byte>), typeof(CancellationToken)) || HookOverrides.IsOverridden(GetType(), typeof(TinyProtoConnection), nameof(TransmissionStreamReceivedAsync), typeof(Stream), typeof(CancellationToken));

        Volatile.Write(ref _deadline, new Deadline(_options.TimeProvider, _options.Timeout, OnStatusTimer));
        using CancellationTokenSource timer = _deadline!.StartHandshakeTimer();
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _hookCancellation.Token, timer.Token);
        try
        {
            HandshakeOutcome outcome = await HandshakeExchange.RunAsync(transport, role, _options, Admit, timeout.Token).ConfigureAwait(false);
            IsPipelined = outcome.IsPipelined;
            var metrics = new Diagnostics.ConnectionMetrics(
                _options.MeterFactory is { } meters ? Diagnostics.MessageMetrics.For(meters) : HostMetrics ?? Diagnostics.MessageMetrics.For(null),
                _options.TimeProvider, role, LocalEndPoint, RemoteEndPoint, ServerName);
            Volatile.Write(ref _parts, new ConnectionParts(_gate, Id, _options, _logger, _plugins, _lifetime, _inbox, _deadline,
                new Conversation(role, IsPipelined, _options.MaxMessageSize), transport, AbortWrites, metrics, _directCancel?.Token ?? default));
        }
        catch (Exception ex)
        {
            await AbandonTransportAsync().ConfigureAwait(false);
            _completion.TrySetResult();
            if (ex is OperationCanceledException && timeout.IsCancellationRequested && !cancellationToken.IsCancellationRequested && !_lifetime.IsClosingNow())
            {
                throw new TinyProtoException(TinyProtoError.Timeout, $"The opening handshake did not finish within {_options.Timeout.TotalSeconds:0.###} s.", ex);
            }

            if (ex is OperationCanceledException && _lifetime.IsClosingNow())
            {
                throw new TinyProtoException(TinyProtoError.ConnectionClosed, "The connection was closed during the opening handshake.", ex);
            }

            if (ex is TinyProtoException or OperationCanceledException)
            {
                throw;
            }

            throw new TinyProtoException(TinyProtoError.HandshakeFailed, $"The opening handshake failed: {ex.Message}", ex);
        }

        Log.Established(_logger, Id, role, IsPipelined);
    }

    /// <summary>Starts the receive loop and the hook loop after a successful handshake.</summary>
    internal void StartLoops()
    {
        Volatile.Write(ref _state, 2);
        Task receive = _parts!.ReceiveLoop.RunAsync(InputEnded);
        Task hooks = Task.Run(HookLoopAsync);
        _ = FinishAsync(receive, hooks);
        _loopsStarted.TrySetResult();
    }

    /// <summary>
    /// Completes once the loops started (transmissions may begin), for code that got the connection earlier, in
    /// <c>ConnectionInitAsync</c>; a connection that ends first never completes it: wait on <see cref="Completion"/> beside it.
    /// </summary>
    internal Task LoopsStarted => _loopsStarted.Task;


    /// <summary>
    /// Completes both sides of the transport. Whatever a transport throws here (a last flush into a broken stream, a
    /// stream that throws once disposed, ...) becomes what ended the connection, unless something did before, as a
    /// <see cref="TinyProtoError.ConnectionClosed"/> error with the transport's exception inside; it never escapes.
    /// </summary>
    private async ValueTask AbandonTransportAsync()
    {
        IDuplexPipe transport = _transport!;
        try
        {
            await transport.Input.CompleteAsync().ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            TransportReleaseFailed("reader", ex);
        }

        // A writer still under way (a transmission from another thread, cut by the close) finishes first: a PipeWriter
        // takes one writer at a time. Bounded, in case one never lets go.
        Output? output = Volatile.Read(ref _parts)?.Output;
        bool turn = output is not null && await output.TryAcquireAsync(TimeSpan.FromSeconds(1)).ConfigureAwait(false);
        try
        {
            // Flushes what is left (answers owed) into the transport.
            await transport.Output.CompleteAsync().ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            TransportReleaseFailed("writer", ex);
        }
        finally
        {
            if (turn)
            {
                output!.Release();
            }
        }
    }

    private void TransportReleaseFailed(string side, Exception ex)
    {
        Log.TransportReleaseFailed(_logger, Id, ex);
        _lifetime.RecordFailure(new TinyProtoException(TinyProtoError.ConnectionClosed,
            $"Releasing the transport's {side} failed ({ex.GetType().Name}: {ex.Message}); what was written last may not have reached the peer.", ex));
    }

    /// <summary>Waits for both loops, releases the transport, and completes <see cref="Completion"/>.</summary>
    private async Task FinishAsync(Task receive, Task hooks)
    {
        // Neither loop throws (each records its error in the lifetime); the transport's release never throws either.
        await receive.ConfigureAwait(false);
        await hooks.ConfigureAwait(false);
        await AbandonTransportAsync().ConfigureAwait(false);

        Exception? failure;
        TinyProtoCloseReason reason;
        lock (_gate)
        {
            failure = _lifetime.Failure;
            reason = failure is not null ? TinyProtoCloseReason.Failed
                : _lifetime.Stopping || _lifetime.Aborted ? TinyProtoCloseReason.ServerStopped
                : _lifetime.ClosedByUser ? TinyProtoCloseReason.ClosedLocally
                : TinyProtoCloseReason.PeerClosed;
        }

        // Published before the host hears of the end and before Completion, so ConnectionShutdownAsync can read them.
        CloseError = failure;
        CloseReason = reason;
        Ending?.Invoke();

        if (failure is null)
        {
            _completion.TrySetResult();
        }
        else
        {
            _completion.TrySetException(failure);
        }
    }
}
