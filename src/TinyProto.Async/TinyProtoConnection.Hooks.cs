using System.Buffers;
using TinyProto.Async.Buffers;

namespace TinyProto.Async;

public partial class TinyProtoConnection
{
    private bool _loopPassOverridden;
    private bool _hooksTakeMessages;


    /// <summary>
    /// Runs once, right after the opening handshake and before any other hook. It may transmit. The original's
    /// <c>pre_loop</c>.
    /// </summary>
    /// <param name="cancellationToken">Cancelled when the connection closes.</param>
    /// <returns>A task that completes when the hook is done; an exception closes the connection.</returns>
    protected virtual ValueTask PreLoopAsync(CancellationToken cancellationToken) => default;

    /// <summary>
    /// Runs after each received message and every <see cref="TinyProtoConnectionOptions.LoopPassInterval"/> while
    /// idle; a class that does not override it runs no timer. The original's <c>loop_pass</c>.
    /// </summary>
    /// <param name="cancellationToken">Cancelled when the connection closes.</param>
    /// <returns>A task that completes when the hook is done; an exception closes the connection.</returns>
    protected virtual ValueTask LoopPassAsync(CancellationToken cancellationToken) => default;

    /// <summary>
    /// Runs exactly once when the connection ends for any reason (peer closed, error, local close, server stop),
    /// after every other hook has returned. Unlike the original's <c>post_loop</c>, it also runs after errors.
    /// Transmitting from here fails, since the connection is over.
    /// </summary>
    /// <param name="cancellationToken">Not cancelled by the connection; a server's stop deadline aborts the transport instead.</param>
    /// <returns>A task that completes when the hook is done; an exception is logged.</returns>
    protected virtual ValueTask PostLoopAsync(CancellationToken cancellationToken) => default;

    /// <summary>
    /// Receives each message, in order, awaited one at a time. The original's <c>transmission_received</c>.
    /// A pending <see cref="ReceiveAsync(CancellationToken)"/> call takes a message before this hook does.
    /// If this hook is not overridden, messages wait for <see cref="ReceiveAsync(CancellationToken)"/> instead.
    /// </summary>
    /// <param name="message">
    /// The message, after receive plugins. Zero-copy: it lives in pooled buffers that are reused once the hook's
    /// task completes, so it is valid only until then; copy it (<c>message.ToArray()</c>) to keep it. An echo can
    /// return <c>TransmitAsync(message, cancellationToken)</c> directly.
    /// </param>
    /// <param name="cancellationToken">Cancelled when the connection closes.</param>
    /// <returns>A task that completes when the hook is done; an exception closes the connection.</returns>
    protected virtual ValueTask TransmissionReceivedAsync(ReadOnlySequence<byte> message, CancellationToken cancellationToken) => default;

    /// <summary>
    /// Receives each message larger than <see cref="TinyProtoConnectionOptions.MaxBufferedMessageSize"/> as a stream
    /// that fills while the payload arrives (<see cref="Stream.Length"/> is the message size), so memory stays
    /// bounded. Whatever the hook leaves unread is skipped once it returns. Read the stream before transmitting:
    /// the peer's status for a transmission may lie behind this payload. The default buffers the whole message,
    /// applies receive plugins and calls <see cref="TransmissionReceivedAsync"/>.
    /// </summary>
    /// <param name="message">The payload; valid until the hook returns.</param>
    /// <param name="cancellationToken">Cancelled when the connection closes.</param>
    /// <returns>A task that completes when the hook is done; an exception closes the connection.</returns>
    protected virtual async ValueTask TransmissionStreamReceivedAsync(Stream message, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(message);
        using PooledBuffer body = await PooledBuffer.ReadWholeAsync(message, _options.BufferPool, cancellationToken).ConfigureAwait(false);
        await TransmissionReceivedAsync(_plugins.Receive(body.Sequence), cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The original's connection loop: pre_loop, then messages and loop passes, then post_loop (always).</summary>
    private async Task HookLoopAsync()
    {
        s_hookLoopOwner.Value = this;
        CancellationToken cancellationToken = _hookCancellation.Token;
        TimeSpan interval = _loopPassOverridden ? _options.LoopPassInterval : Timeout.InfiniteTimeSpan;
        string hook = nameof(PreLoopAsync);
        try
        {
            await PreLoopAsync(cancellationToken).ConfigureAwait(false);
            while (true)
            {
                InboundMessage? message;
                bool ended;
                while (!TryNextForHooks(out message, out ended, out ValueTask<bool> wake))
                {
                    if (interval == Timeout.InfiniteTimeSpan)
                    {
                        await wake.ConfigureAwait(false);
                    }
                    else if (!await _hookWake.WaitAsync(wake, interval, _deadline!).ConfigureAwait(false))
                    {
                        // The interval passed without a message: a loop pass of its own.
                        break;
                    }
                }

                if (ended)
                {
                    break;
                }

                if (message is not null)
                {
                    using (message)
                    {
                        if (message.IsStreamed)
                        {
                            hook = nameof(TransmissionStreamReceivedAsync);
                            await TransmissionStreamReceivedAsync(message.Stream, cancellationToken).ConfigureAwait(false);
                        }
                        else
                        {
                            hook = nameof(TransmissionReceivedAsync);
                            await TransmissionReceivedAsync(message.Sequence, cancellationToken).ConfigureAwait(false);
                        }
                    }
                }

                if (_loopPassOverridden)
                {
                    hook = nameof(LoopPassAsync);
                    await LoopPassAsync(cancellationToken).ConfigureAwait(false);
                }
            }
        }
        catch (Exception ex) when (!(ex is OperationCanceledException && cancellationToken.IsCancellationRequested))
        {
            // A hook whose transmission failed because the connection was already ending is not a new error.
            if (!(ex is TinyProtoException { Error: TinyProtoError.ConnectionClosed } && (_lifetime.IsClosingNow() || _lifetime.InputEndedNow())))
            {
                Log.HookFailed(_logger, hook, Id, ex);
                Fail(ex);
            }
        }
        catch (OperationCanceledException)
        {
            // The connection is closing; the hook saw its token.
        }
        finally
        {
            // A stop, like a close asked for by the user, first lets our own message in flight finish.
            if (_lifetime.StoppingNow())
            {
                BeginClose(byUser: true);
            }

            await WaitForDrainAsync().ConfigureAwait(false);
            BeginClose(byUser: false);
            _hookCancellation.Cancel();
            try
            {
                await PostLoopAsync(CancellationToken.None).ConfigureAwait(false);
            }
            catch (Exception ex)
            {
                Log.HookFailed(_logger, nameof(PostLoopAsync), Id, ex);
            }
        }
    }

    /// <summary>
    /// Takes the next message for the hooks (true), or says the hooks are done (true, with <paramref name="ended"/>);
    /// otherwise arms <paramref name="wake"/>, which completes when either may have changed (false).
    /// </summary>
    private bool TryNextForHooks(out InboundMessage? message, out bool ended, out ValueTask<bool> wake)
    {
        message = null;
        ended = false;
        wake = default;
        lock (_gate)
        {
            if (_lifetime.ClosedByUser)
            {
                ended = true;
                return true;
            }

            // Messages received in full before the peer closed, or before an error, are still delivered.
            if (_hooksTakeMessages && _inbox.Count > 0)
            {
                message = _inbox.Take();
                return true;
            }

            if (_lifetime.InputEnded || _lifetime.IsClosing)
            {
                ended = true;
                return true;
            }

            // A graceful stop ends the hooks once every message accepted has arrived and been handled: taken by a hook
            // (which has returned), or by a ReceiveAsync consumer that came back for the next one (so its reply went out).
            if (_lifetime.Stopping && _inbox.Count == 0 && !_inbox.Arriving && (_hooksTakeMessages || _inbox.HasWaiters || !_inbox.HandedAny))
            {
                ended = true;
                return true;
            }

            wake = _hookWake.Arm();
            return false;
        }
    }

    /// <summary>Wakes the hook loop if it waits; the caller holds <see cref="_gate"/>.</summary>
    private void SignalHooks() => _hookWake.Wake();
}
