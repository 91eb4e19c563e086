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
    private Task _running = Task.CompletedTask;

    public MainLoop(Func<CancellationToken, ValueTask> preLoop, Func<CancellationToken, ValueTask> loopPass, Func<CancellationToken, ValueTask> postLoop)
    {
        _preLoop = preLoop;
        _loopPass = loopPass;
        _postLoop = postLoop;
    }

    /// <summary>Runs <c>pre_loop</c> (an exception is logged), then starts the passes in the background.</summary>
    public async Task StartAsync(TimeSpan interval, bool runPasses, ILogger logger)
    {
        try
        {
            await _preLoop(_stop.Token).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            Log.ServerHookFailed(logger, "PreLoopAsync", ex);
        }

        _running = Task.Run(() => RunAsync(interval, runPasses, logger));
    }

    public async Task StopAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        await _running.ConfigureAwait(false);
    }

    public void Dispose() => _stop.Dispose();

    private async Task RunAsync(TimeSpan interval, bool runPasses, ILogger logger)
    {
        CancellationToken token = _stop.Token;
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
