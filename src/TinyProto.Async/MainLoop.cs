using Microsoft.Extensions.Logging;

namespace TinyProto.Async;

/// <summary>
/// The optional main loop of a server or client: the original's <c>pre_loop</c>, <c>loop_pass</c> every
/// interval, and <c>post_loop</c> exactly once at the end.
/// </summary>
internal sealed class MainLoop : IDisposable
{
    private readonly Func<CancellationToken, ValueTask> _preLoop;
    private readonly Func<CancellationToken, ValueTask> _loopPass;
    private readonly Func<CancellationToken, ValueTask> _postLoop;
    private readonly CancellationTokenSource _stop = new();
    private readonly TaskCompletionSource _finished = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _started;

    public MainLoop(Func<CancellationToken, ValueTask> preLoop, Func<CancellationToken, ValueTask> loopPass, Func<CancellationToken, ValueTask> postLoop)
    {
        _preLoop = preLoop;
        _loopPass = loopPass;
        _postLoop = postLoop;
    }

    /// <summary>
    /// Runs <c>pre_loop</c> (an exception is logged) and returns when it is done; the passes and then <c>post_loop</c>
    /// follow in the background. A loop stopped before it started never runs: neither <c>pre_loop</c> nor <c>post_loop</c>.
    /// </summary>
    public Task StartAsync(TimeSpan interval, bool runPasses, ILogger logger)
    {
        // Started is published (a full fence) before the stop is checked, and StopAsync cancels before it reads it:
        // either this sees the stop, or StopAsync sees the start and waits for the whole loop, post_loop included.
        Interlocked.Exchange(ref _started, 1);
        CancellationToken token;
        try
        {
            token = _stop.Token;
        }
        catch (ObjectDisposedException)
        {
            token = new CancellationToken(canceled: true);
        }

        if (token.IsCancellationRequested)
        {
            _finished.TrySetResult();
            return Task.CompletedTask;
        }

        var preLoopDone = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _ = RunAsync(interval, runPasses, logger, preLoopDone, token);
        return preLoopDone.Task;
    }

    /// <summary>Stops the passes and waits until <c>post_loop</c> has returned, even when the stop comes during <c>pre_loop</c>.</summary>
    public async Task StopAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        if (Interlocked.CompareExchange(ref _started, 0, 0) == 1)
        {
            await _finished.Task.ConfigureAwait(false);
        }
    }

    /// <summary>Whether <see cref="StopAsync"/> was called.</summary>
    public bool IsStopped => _stop.IsCancellationRequested;

    public void Dispose() => _stop.Dispose();

    private async Task RunAsync(TimeSpan interval, bool runPasses, ILogger logger, TaskCompletionSource preLoopDone, CancellationToken token)
    {
        try
        {
            try
            {
                await _preLoop(token).ConfigureAwait(false);
            }
            catch (Exception ex)
            {
                Log.ServerHookFailed(logger, "PreLoopAsync", ex);
            }
            finally
            {
                preLoopDone.TrySetResult();
            }

            try
            {
                while (runPasses && !token.IsCancellationRequested)
                {
                    await Task.Delay(interval, token).ConfigureAwait(false);
                    await _loopPass(token).ConfigureAwait(false);
                }

                await Task.Delay(Timeout.Infinite, token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (token.IsCancellationRequested)
            {
                // Stopped.
            }
            catch (Exception ex)
            {
                Log.ServerHookFailed(logger, "LoopPassAsync", ex);
                await WaitForStopAsync(token).ConfigureAwait(false);
            }
            finally
            {
                try
                {
                    await _postLoop(CancellationToken.None).ConfigureAwait(false);
                }
                catch (Exception ex)
                {
                    Log.ServerHookFailed(logger, "PostLoopAsync", ex);
                }
            }
        }
        finally
        {
            _finished.TrySetResult();
        }
    }

    private static async Task WaitForStopAsync(CancellationToken token)
    {
        try
        {
            await Task.Delay(Timeout.Infinite, token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // Stopped.
        }
    }
}
