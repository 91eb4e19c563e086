namespace TinyProto.Async.Connection;

/// <summary>
/// Our lock-step payloads as the receive loop writes them once their OK is read. Rule 5: reading never waits for
/// writing. A write that cannot finish at once (the peer does not read) goes on by itself while the loop reads on, so
/// the loop still sees the peer's statuses, messages and end of stream. Nothing can overtake the payload meanwhile: it
/// holds the output's turn, and the answers owed wait behind it.
/// </summary>
/// <remarks>The receive loop's own: only its thread calls in, so <c>_pending</c> needs no lock.</remarks>
internal sealed class OwnPayloadWrites
{
    private Task? _pending;

    /// <summary>
    /// Every write that went on in the background, once all of them ended: the connection releases its transport only
    /// then (a stalled one is cut).
    /// </summary>
    public Task AllEnded => _pending ?? Task.CompletedTask;

    /// <summary>Takes a payload's write: done if it finished at once, kept until it ends otherwise. It never throws.</summary>
    public void Add(ValueTask write)
    {
        if (write.IsCompletedSuccessfully)
        {
            write.GetAwaiter().GetResult();
            return;
        }

        // A failed write ends the connection and its transmission itself.
        Task pending = write.AsTask();
        Task? earlier = _pending;
        _pending = earlier is null || earlier.IsCompleted ? pending : Task.WhenAll(earlier, pending);
    }
}
