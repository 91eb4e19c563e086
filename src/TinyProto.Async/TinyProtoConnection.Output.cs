using System.IO.Pipelines;
using System.Runtime.CompilerServices;
using TinyProto.Async.Protocol;

namespace TinyProto.Async;

public partial class TinyProtoConnection
{
    /// <summary>Fails the connection after a payload of ours ended early, so that no byte ever follows the partial payload.</summary>
    private void FailWithPayloadCutShort(TinyProtoException error)
    {
        lock (_gate)
        {
            _conversation.CutShort();
        }

        Fail(error);
    }

    /// <summary>Sends answers queued by the receive loop, unless a transmitter holds the output (it sends them itself).</summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    private async ValueTask SendPendingStatusesAsync()
    {
        if (!_outputLock.Wait(0))
        {
            return;
        }

        try
        {
            WritePendingStatuses();
            await FlushOutputAsync().ConfigureAwait(false);
        }
        finally
        {
            await ReleaseOutputAsync().ConfigureAwait(false);
        }
    }

    private async ValueTask SendPendingStatusesQuietlyAsync()
    {
        try
        {
            await SendPendingStatusesAsync().ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is TinyProtoException or IOException or ObjectDisposedException or InvalidOperationException)
        {
            // The transmission already failed; the connection is going down with its own error.
        }
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    private async ValueTask AcquireOutputAsync(CancellationToken cancellationToken)
    {
        if (!_outputLock.Wait(0, cancellationToken))
        {
            await _outputLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Releases the output; answers queued meanwhile are sent by whoever holds it next, or by us.</summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    private async ValueTask ReleaseOutputAsync()
    {
        while (true)
        {
            _outputLock.Release();
            lock (_gate)
            {
                if (!_conversation.HasAnswersToWrite || _closing)
                {
                    return;
                }
            }

            if (!_outputLock.Wait(0))
            {
                return;
            }

            bool flushed = false;
            try
            {
                WritePendingStatuses();
                await FlushOutputAsync().ConfigureAwait(false);
                flushed = true;
            }
            finally
            {
                if (!flushed)
                {
                    _outputLock.Release();
                }
            }
        }
    }

    /// <summary>
    /// Writes queued answers into the output, unless our payload is due first or was cut short (the peer would read the
    /// answers as the rest of that payload); the caller holds the output.
    /// </summary>
    private void WritePendingStatuses()
    {
        lock (_gate)
        {
            _conversation.WriteAnswers(_output);
        }
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    private async ValueTask FlushOutputAsync() => CheckFlush(await _output.FlushAsync().ConfigureAwait(false));

    private void CheckFlush(FlushResult result)
    {
        if (result.IsCanceled)
        {
            throw ClosedError("transmit");
        }

        if (result.IsCompleted)
        {
            throw new TinyProtoException(TinyProtoError.ConnectionClosed, "The peer stopped reading; the connection is closed.");
        }
    }
}
