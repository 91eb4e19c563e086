using System.Buffers;
using System.IO.Pipelines;
using System.Runtime.CompilerServices;
using TinyProto.Async.Protocol;
using TinyProto.Async.Transport;

namespace TinyProto.Async.Connection;

/// <summary>
/// The connection's side of the transport's writer: whose turn it is to write, and the units it writes (the answers
/// the <see cref="Conversation"/> says are owed, headers, payloads from memory or a stream), and the flushes.
/// </summary>
/// <remarks>
/// The turn (<c>_turn</c>) decides who may touch the <see cref="PipeWriter"/>: only the holder of the turn writes, so
/// units never interleave. Answers owed are written by whoever holds the turn when they may go (after a header of ours,
/// between whole messages, behind our payload), and by <see cref="ReleaseAsync"/> when no one else will. Nothing else
/// here is mutable.
/// </remarks>
[System.Diagnostics.CodeAnalysis.SuppressMessage("Reliability", "CA1001:Types that own disposable fields should be disposable", Justification = "The SemaphoreSlim's wait handle is never created; it holds nothing to dispose.")]
internal sealed partial class Output
{
    /// <summary>Buffered bytes that make a flush worth it in the middle of a batch of pipelined messages.</summary>
    public const int FlushThreshold = 256 * 1024;

    /// <summary>
    /// The most payload bytes written between flushes: each flush that completes is progress for the
    /// <see cref="WriteWatch"/>, so a peer that reads at least this much per Timeout is never taken for one that stopped.
    /// </summary>
    private const int PayloadFlushChunk = 64 * 1024;

    private const int StreamChunkSize = 64 * 1024;

    /// <summary>Payloads from this size on skip the pipe's buffers when the transport allows it.</summary>
    private const int DirectThreshold = 64 * 1024;

    /// <summary>The largest single write of a direct payload, so that a slow peer that keeps reading shows progress.</summary>
    private const int DirectWriteChunk = 1024 * 1024;

    private readonly SemaphoreSlim _turn = new(1, 1);
    private readonly PipeWriter _writer;
    private readonly StreamDuplexPipe? _direct;
    private readonly object _gate;
    private readonly Conversation _conversation;
    private readonly Deadline _deadline;
    private readonly ConnectionLifetime _lifetime;
    private readonly WriteWatch _watch;
    private readonly Action<TinyProtoException> _abortWrites;

    public Output(PipeWriter writer, StreamDuplexPipe? direct, object gate, Conversation conversation, Deadline deadline, ConnectionLifetime lifetime, WriteWatch watch, Action<TinyProtoException> abortWrites)
    {
        _watch = watch;
        _abortWrites = abortWrites;
        _writer = writer;
        _direct = direct;
        _gate = gate;
        _conversation = conversation;
        _deadline = deadline;
        _lifetime = lifetime;
    }

    /// <summary>Whether someone holds the turn (a close that stalls is cut only while a write waits).</summary>
    public bool IsBusy => _turn.CurrentCount == 0;

    /// <summary>Takes the turn if it is free.</summary>
    public bool TryAcquire() => _turn.Wait(0, CancellationToken.None);

    /// <summary>Takes the turn, waiting for it if needed.</summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    public async ValueTask AcquireAsync(CancellationToken cancellationToken)
    {
        if (!_turn.Wait(0, cancellationToken))
        {
            await _turn.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Takes the turn, waiting at most <paramref name="timeout"/>; true when it was taken.</summary>
    public Task<bool> TryAcquireAsync(TimeSpan timeout) => _turn.WaitAsync(timeout);

    /// <summary>Gives the turn back and sends nothing: for a caller that failed and sends the answers owed itself.</summary>
    public void Release() => _turn.Release();

    /// <summary>Gives the turn back; answers that became owed meanwhile are sent by whoever holds it next, or by us.</summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    public async ValueTask ReleaseAsync()
    {
        while (true)
        {
            _turn.Release();
            lock (_gate)
            {
                if (!_conversation.HasAnswersToWrite || _lifetime.IsClosing)
                {
                    return;
                }
            }

            if (!_turn.Wait(0))
            {
                return;
            }

            bool flushed = false;
            try
            {
                WriteAnswers();
                await FlushAsync().ConfigureAwait(false);
                flushed = true;
            }
            finally
            {
                if (!flushed)
                {
                    _turn.Release();
                }
            }
        }
    }

    /// <summary>Writes the answers owed, if they may go now (the <see cref="Conversation"/> decides); the caller holds the turn.</summary>
    public void WriteAnswers()
    {
        lock (_gate)
        {
            _conversation.WriteAnswers(_writer);
        }
    }

    /// <summary>Writes a size header; the caller holds the turn.</summary>
    public void WriteHeader(long length)
    {
        FrameCodec.WriteHeader(_writer, (uint)length);
        _deadline.HeaderSent();
    }

    /// <summary>Starts a flush without awaiting it (the allocation-free lock-step path awaits only when it must).</summary>
    public ValueTask<FlushResult> StartFlush() => _writer.FlushAsync(CancellationToken.None);

    /// <summary>Flushes what was written; the caller holds the turn.</summary>
    public ValueTask FlushAsync()
    {
        ValueTask<FlushResult> flush = _writer.FlushAsync();
        if (flush.IsCompletedSuccessfully)
        {
            CheckFlush(flush.Result);
            return default;
        }

        return AwaitFlushAsync(flush);
    }

    /// <summary>Awaits a flush that did not complete at once, bounded by the <see cref="WriteWatch"/>; the caller holds the turn.</summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    public async ValueTask AwaitFlushAsync(ValueTask<FlushResult> flush)
    {
        _watch.Begin();
        try
        {
            CheckFlush(await flush.ConfigureAwait(false));
        }
        finally
        {
            _watch.End();
        }
    }

    /// <summary>Throws when a flush shows the transport is gone (cancelled by a close, or the peer stopped reading).</summary>
    public void CheckFlush(FlushResult result)
    {
        if (result.IsCanceled)
        {
            throw _lifetime.ClosedError("transmit");
        }

        if (result.IsCompleted)
        {
            throw new TinyProtoException(TinyProtoError.ConnectionClosed, "The peer stopped reading; the connection is closed.");
        }
    }

    /// <summary>Sends the answers owed unless someone holds the turn (they send them themselves).</summary>
    public ValueTask SendAnswersIfAnyAsync()
    {
        lock (_gate)
        {
            if (!_conversation.HasAnswersToWrite)
            {
                return default;
            }
        }

        return SendAnswersAsync();
    }

    /// <summary>Sends the answers owed (or flushes) unless someone holds the turn.</summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    public async ValueTask SendAnswersAsync()
    {
        if (!_turn.Wait(0))
        {
            return;
        }

        try
        {
            WriteAnswers();
            await FlushAsync().ConfigureAwait(false);
        }
        finally
        {
            await ReleaseAsync().ConfigureAwait(false);
        }
    }

    /// <summary>As <see cref="SendAnswersAsync"/>, after a transmission failed: the connection goes down with that error, not this one.</summary>
    public async ValueTask SendAnswersQuietlyAsync()
    {
        if (_lifetime.IsClosingNow())
        {
            // A transport cut or abandoned for good takes nothing more; a flush could wait on it for ever.
            return;
        }

        try
        {
            await SendAnswersAsync().ConfigureAwait(false);
        }
        catch (Exception)
        {
            // The transmission already failed; the connection is going down with its own error.
        }
    }
}
