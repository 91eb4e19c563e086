using System.Buffers;
using System.Runtime.CompilerServices;
using TinyProto.Async.Protocol;

namespace TinyProto.Async;

public partial class TinyProtoConnection
{
    /// <summary>Payloads from this size on skip the pipes' buffers when the transport allows it.</summary>
    private const int DirectPayloadThreshold = 64 * 1024;

    /// <summary>The largest single write of a direct payload.</summary>
    private const int DirectWriteChunk = 1024 * 1024;

    // Set once in the handshake when the transport is a StreamDuplexPipe of ours.
    private Transport.StreamDuplexPipe? _directPipe;
    // Cancelled when the connection closes: ends a direct read that waits on the transport.
    private CancellationTokenSource? _directCancel;

    /// <summary>
    /// Whether the rest of the payload being received can be read from the stream straight into the message's
    /// buffer: only when the pipe holds nothing unread (<paramref name="unread"/> is empty), since the transport is
    /// read only inside the reader's ReadAsync, and only for buffered payloads big enough for the saved copy to matter.
    /// Protocol-safe: nothing but payload bytes can come until the payload ends (rules 5 and 6).
    /// </summary>
    private bool CanReadPayloadDirectly(in ReadOnlySequence<byte> unread) =>
        _directPipe is not null && unread.IsEmpty && _conversation.Phase == IncomingPhase.Payload &&
        _payloadBody is not null && _conversation.IncomingRemaining >= DirectPayloadThreshold;

    /// <summary>Reads the rest of the current payload from the stream into its buffer, then completes the message.</summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    private async ValueTask ReadPayloadDirectAsync()
    {
        while (_conversation.IncomingRemaining > 0)
        {
            Memory<byte> memory = _payloadBody!.GetAppendMemory(_conversation.IncomingRemaining);
            int read;
            try
            {
                read = await _directPipe!.ReadDirectAsync(memory, _directCancel!.Token).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is System.Net.Sockets.SocketException or ObjectDisposedException && _directPipe!.Input is Transport.SocketPipeReader)
            {
                // Reported as the socket reader reports its own receive failures (and as NetworkStream does).
                throw Transport.SocketPipeReader.ReceiveFailure(ex);
            }

            if (read == 0)
            {
                EndOfInput(0);
            }

            _payloadBody.Advance(read);
            _conversation.OnPayload(read);
            _deadline.PayloadReceived(read);
        }

        CompletePayload();
    }

    /// <summary>Writes a large payload from the caller's memory straight to the transport's stream, after what the pipe holds.</summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<bool> TryWritePayloadDirectlyAsync(ReadOnlySequence<byte> body)
    {
        if (_directPipe is null || body.Length < DirectPayloadThreshold)
        {
            return false;
        }

        await FlushOutputAsync().ConfigureAwait(false);

        // No cancellation token: a stream that gave up waiting could still be reading the caller's memory. A close
        // that stalls on this write cuts it by closing the socket (CutTransport). Written in pieces of at most
        // DirectWriteChunk, so that a slow peer that keeps reading shows progress (see Deadline.WaitWhileProgressingAsync).
        foreach (ReadOnlyMemory<byte> memory in body)
        {
            for (int offset = 0; offset < memory.Length; offset += DirectWriteChunk)
            {
                int count = Math.Min(DirectWriteChunk, memory.Length - offset);
                await _directPipe.Stream.WriteAsync(memory.Slice(offset, count)).ConfigureAwait(false);
                _deadline.PayloadSent(count);
            }
        }

        return true;
    }
}
