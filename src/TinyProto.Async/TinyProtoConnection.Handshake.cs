using System.Buffers;
using System.IO.Pipelines;
using Microsoft.Extensions.Logging.Abstractions;
using TinyProto.Async.Framing;

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
            throw new InvalidOperationException(_closing
                ? "The connection was closed before it started."
                : "The connection was already started; create a new connection object for each transport.");
        }

        _input = transport.Input;
        _output = transport.Output;
        if (transport is Transport.StreamDuplexPipe direct)
        {
            _directPipe = direct;
            _directCancel = new CancellationTokenSource();
        }
        Role = role;
        _logger = _options.Logger ?? NullLogger.Instance;
        _messagePool = new Buffers.MessagePool(_options.BufferPool);
        _loopPassOverridden = HookOverrides.IsOverridden(this, typeof(TinyProtoConnection), nameof(LoopPassAsync));
        _hooksTakeMessages = HookOverrides.IsOverridden(this, typeof(TinyProtoConnection), nameof(TransmissionReceivedAsync), typeof(ReadOnlySequence<byte>), typeof(CancellationToken)) || HookOverrides.IsOverridden(this, typeof(TinyProtoConnection), nameof(TransmissionStreamReceivedAsync), typeof(Stream), typeof(CancellationToken));

        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _lifetime.Token);
        timeout.CancelAfter(_options.Timeout);
        try
        {
            if (role == TinyProtoRole.Client)
            {
                byte opening = _options.RequestPipelining ? Signal.Pipeline : Signal.Ok;
                await WriteHandshakeByteAsync(opening, timeout.Token).ConfigureAwait(false);
                byte answer = await ReadHandshakeByteAsync(timeout.Token).ConfigureAwait(false);
                IsPipelined = answer switch
                {
                    Signal.Ok => false,
                    Signal.Pipeline when _options.RequestPipelining => true,
                    Signal.ConnectionLimit => throw new TinyProtoException(TinyProtoError.ConnectionLimitReached, "The server is at its connection limit (it answered the opening with 0xFE)."),
                    _ => throw new TinyProtoException(TinyProtoError.HandshakeFailed, $"The server answered the opening with {Signal.Describe(answer)} instead of 0xFF."),
                };
            }
            else
            {
                byte opening = await ReadHandshakeByteAsync(timeout.Token).ConfigureAwait(false);
                IsPipelined = opening switch
                {
                    Signal.Ok => false,
                    Signal.Pipeline => _options.AcceptPipelining,
                    _ => throw new TinyProtoException(TinyProtoError.HandshakeFailed, $"The client opened with {Signal.Describe(opening)}; expected 0xFF (or 0xFB for pipelined mode)."),
                };
                await WriteHandshakeByteAsync(IsPipelined ? Signal.Pipeline : Signal.Ok, timeout.Token).ConfigureAwait(false);
            }
        }
        catch (Exception ex)
        {
            await AbandonTransportAsync().ConfigureAwait(false);
            _completion.TrySetResult();
            if (ex is OperationCanceledException && timeout.IsCancellationRequested && !cancellationToken.IsCancellationRequested && !_closing)
            {
                throw new TinyProtoException(TinyProtoError.Timeout, $"The opening handshake did not finish within {_options.Timeout.TotalSeconds:0.###} s.", ex);
            }

            if (ex is OperationCanceledException && _closing)
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
        Task receive = ReceiveLoopAsync();
        Task hooks = Task.Run(HookLoopAsync);
        _ = FinishAsync(receive, hooks);
    }


    private async ValueTask WriteHandshakeByteAsync(byte value, CancellationToken cancellationToken)
    {
        FrameCodec.WriteByte(_output, value);
        FlushResult flush = await _output.FlushAsync(cancellationToken).ConfigureAwait(false);
        if (flush.IsCompleted)
        {
            throw new TinyProtoException(TinyProtoError.HandshakeFailed, "The peer closed the connection during the opening handshake.");
        }

        cancellationToken.ThrowIfCancellationRequested();
    }

    private async ValueTask<byte> ReadHandshakeByteAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            ReadResult result = await _input.ReadAsync(cancellationToken).ConfigureAwait(false);
            ReadOnlySequence<byte> buffer = result.Buffer;
            if (FrameCodec.TryReadByte(ref buffer, out byte value))
            {
                _input.AdvanceTo(buffer.Start);
                return value;
            }

            _input.AdvanceTo(buffer.Start, buffer.End);
            if (result.IsCompleted)
            {
                throw new TinyProtoException(TinyProtoError.HandshakeFailed, "The peer closed the connection during the opening handshake.");
            }

            cancellationToken.ThrowIfCancellationRequested();
        }
    }

    private async ValueTask AbandonTransportAsync()
    {
        await _input.CompleteAsync().ConfigureAwait(false);
        try
        {
            await _output.CompleteAsync().ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException or OperationCanceledException or System.Net.Sockets.SocketException)
        {
            // The transport is already broken; there is nothing left to flush.
        }
    }

    /// <summary>Waits for both loops, releases the transport, and completes <see cref="Completion"/>.</summary>
    private async Task FinishAsync(Task receive, Task hooks)
    {
        await receive.ConfigureAwait(false);
        await hooks.ConfigureAwait(false);
        await AbandonTransportAsync().ConfigureAwait(false);

        Exception? failure;
        lock (_gate)
        {
            failure = _failure;
        }

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
