using System.Buffers;
using System.IO.Pipelines;
using TinyProto.Async.Protocol;

namespace TinyProto.Async.Connection;

/// <summary>
/// The opening handshake carried out over a transport: the single bytes each role writes and reads, in the order
/// PROTOCOL.md gives (a server reads the client's opening before it answers: rule 6), with <see cref="Handshake"/>
/// deciding what each byte means. It reads only those bytes, so the receive loop takes over a reader at a boundary.
/// </summary>
internal static class HandshakeExchange
{
    /// <summary>
    /// Runs the handshake; returns its outcome once established. A server asks <c>admit</c> (if given) after a valid
    /// opening, just before its answer: false answers <c>0xFE</c> instead and fails.
    /// </summary>
    /// <exception cref="TinyProtoException">The peer opened or answered with an unexpected byte, closed, or a server is at its limit.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled (its caller tells a timeout from a close).</exception>
    public static async Task<HandshakeOutcome> RunAsync(IDuplexPipe transport, TinyProtoRole role, TinyProtoConnectionOptions options, Func<bool>? admit, CancellationToken cancellationToken)
    {
        HandshakeOutcome outcome;
        if (role == TinyProtoRole.Client)
        {
            await WriteByteAsync(transport.Output, Handshake.ClientOpening(options.RequestPipelining), cancellationToken).ConfigureAwait(false);
            byte answer = await ReadByteAsync(transport.Input, cancellationToken).ConfigureAwait(false);
            outcome = Handshake.ClientReadsAnswer(answer, options.RequestPipelining);
            return outcome.IsEstablished ? outcome : throw outcome.Error!;
        }

        byte opening = await ReadByteAsync(transport.Input, cancellationToken).ConfigureAwait(false);
        outcome = Handshake.ServerReadsOpening(opening, options.AcceptPipelining);
        if (!outcome.IsEstablished)
        {
            throw outcome.Error!;
        }

        if (admit is not null && !admit())
        {
            await WriteByteAsync(transport.Output, Handshake.ConnectionLimitAnswer, cancellationToken).ConfigureAwait(false);
            throw new TinyProtoException(TinyProtoError.ConnectionLimitReached, "The server is at its connection limit; it answered the opening with 0xFE.");
        }

        await WriteByteAsync(transport.Output, outcome.Answer, cancellationToken).ConfigureAwait(false);
        return outcome;
    }

    private static async ValueTask WriteByteAsync(PipeWriter output, byte value, CancellationToken cancellationToken)
    {
        FrameCodec.WriteByte(output, value);
        FlushResult flush = await output.FlushAsync(cancellationToken).ConfigureAwait(false);
        if (flush.IsCompleted)
        {
            throw Handshake.PeerClosed();
        }

        cancellationToken.ThrowIfCancellationRequested();
    }

    private static async ValueTask<byte> ReadByteAsync(PipeReader input, CancellationToken cancellationToken)
    {
        while (true)
        {
            ReadResult result = await input.ReadAsync(cancellationToken).ConfigureAwait(false);
            ReadOnlySequence<byte> buffer = result.Buffer;
            if (FrameCodec.TryReadByte(ref buffer, out byte value))
            {
                input.AdvanceTo(buffer.Start);
                return value;
            }

            input.AdvanceTo(buffer.Start, buffer.End);
            if (result.IsCompleted)
            {
                throw Handshake.PeerClosed();
            }

            cancellationToken.ThrowIfCancellationRequested();
        }
    }
}
