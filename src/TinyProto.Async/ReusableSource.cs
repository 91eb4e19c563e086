using System.Threading.Tasks.Sources;

namespace TinyProto.Async;

/// <summary>
/// A reusable awaitable result (an <see cref="IValueTaskSource{TResult}"/>), completed at most once per use:
/// waits built on it allocate nothing. Completions run their continuation asynchronously unless asked to run
/// it inline, which only the library's own short steps do; on the reader thread of a dedicated-thread connection
/// they are held back and run inline there once the arrival is parsed (<see cref="Transport.ReaderThread"/>).
/// </summary>
internal class ReusableSource<T> : IValueTaskSource<T>, Transport.IDeferredCompletion
{
    private ManualResetValueTaskSourceCore<T> _core;
    private int _completed;
    private T? _deferredResult;
    private Exception? _deferredError;

    public ValueTask<T> Task => new(this, _core.Version);

    /// <summary>Prepares for a new use; only once the previous result was taken.</summary>
    protected void Reset()
    {
        _core.Reset();
        _completed = 0;
    }

    public bool TrySetResult(T result, bool runInline = false)
    {
        if (!TryClaim())
        {
            return false;
        }

        SetClaimedResult(result, runInline);
        return true;
    }

    /// <summary>Reserves the one completion of this use, for a result that takes some work to produce.</summary>
    public bool TryClaim() => Interlocked.Exchange(ref _completed, 1) == 0;

    /// <summary>Completes a use reserved with <see cref="TryClaim"/>.</summary>
    public void SetClaimedResult(T result, bool runInline = false)
    {
        if (!runInline)
        {
            _deferredResult = result;
            _deferredError = null;
            if (Transport.ReaderThread.TryDefer(this))
            {
                return;
            }

            _deferredResult = default;
        }

        _core.RunContinuationsAsynchronously = !runInline;
        _core.SetResult(result);
    }

    public bool TrySetException(Exception error)
    {
        if (!TryClaim())
        {
            return false;
        }

        SetClaimedException(error);
        return true;
    }

    /// <summary>Fails a use reserved with <see cref="TryClaim"/>; the continuation runs asynchronously.</summary>
    public void SetClaimedException(Exception error)
    {
        _deferredError = error;
        if (Transport.ReaderThread.TryDefer(this))
        {
            return;
        }

        _deferredError = null;
        _core.RunContinuationsAsynchronously = true;
        _core.SetException(error);
    }

    void Transport.IDeferredCompletion.CompleteDeferred(bool inline)
    {
        Exception? error = _deferredError;
        T result = _deferredResult!;
        _deferredError = null;
        _deferredResult = default;
        _core.RunContinuationsAsynchronously = !inline;
        if (error is null)
        {
            _core.SetResult(result);
        }
        else
        {
            _core.SetException(error);
        }
    }

    /// <summary>The token of the current use.</summary>
    public short Version => _core.Version;

    public virtual T GetResult(short token) => _core.GetResult(token);

    public ValueTaskSourceStatus GetStatus(short token) => _core.GetStatus(token);

    public void OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _core.OnCompleted(continuation, state, token, flags);
}
