namespace TinyProto.Async.Diagnostics;

/// <summary>
/// What to record when one transmission of <see cref="Bytes"/> completes: a message sent (or failed) and, unless
/// <see cref="Operation"/> is <see cref="Diagnostics.Operation.None"/>, its duration from <see cref="StartedAt"/>. Carried
/// by a lock-step transmission's status waiter, so the caller's own <c>GetResult</c> records it: no wrapper, no extra
/// continuation.
/// </summary>
internal readonly record struct SendMeasurement(ConnectionMetrics Metrics, Operation Operation, long Bytes, long StartedAt)
{
    public void Succeeded()
    {
        Metrics.Sent(1, Bytes);
        Metrics.Completed(Operation, StartedAt);
    }

    public void Failed(Exception error)
    {
        Metrics.SendFailed(1, error);
        Metrics.Failed(Operation, StartedAt, error);
    }

    /// <summary>The caller's view of <paramref name="transmission"/>, counted when it completes (the metrics' own wrapper).</summary>
    public ValueTask Wrap(ValueTask transmission) => Metrics.Measure(transmission, Operation, Bytes, StartedAt);
}
