using System.Diagnostics;
using System.Runtime.CompilerServices;

namespace TinyProto.Async.Diagnostics;

/// <summary>
/// What to record when one transmission of <see cref="Bytes"/> completes: a message sent (or failed), unless
/// <see cref="Operation"/> is <see cref="Diagnostics.Operation.None"/> its duration from <see cref="StartedAt"/>, and the
/// end of its span (<see cref="Span"/>, when a listener sampled one). Carried by a lock-step transmission's status waiter,
/// so the caller's own <c>GetResult</c> records it: no wrapper, no extra continuation.
/// </summary>
internal readonly record struct SendMeasurement(ConnectionMetrics Metrics, Operation Operation, long Bytes, long StartedAt, Activity? Span)
{
    public void Succeeded()
    {
        Metrics.Sent(1, Bytes);
        Metrics.Completed(Operation, StartedAt);
        Span?.Stop();
    }

    public void Failed(Exception error)
    {
        Metrics.SendFailed(1, error);
        Metrics.Failed(Operation, StartedAt, error);
        if (Span is { } span)
        {
            Tracing.Fail(span, error);
            span.Stop();
        }
    }

    /// <summary>The caller's view of <paramref name="transmission"/>, recorded when it completes: at once, or through a pooled state machine.</summary>
    public ValueTask Wrap(ValueTask transmission)
    {
        if (!transmission.IsCompleted)
        {
            return WrapAsync(transmission, this);
        }

        try
        {
            transmission.GetAwaiter().GetResult();
        }
        catch (Exception ex)
        {
            Failed(ex);
            return ValueTask.FromException(ex);
        }

        Succeeded();
        return default;
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    private static async ValueTask WrapAsync(ValueTask transmission, SendMeasurement measurement)
    {
        try
        {
            await transmission.ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            measurement.Failed(ex);
            throw;
        }

        measurement.Succeeded();
    }
}
