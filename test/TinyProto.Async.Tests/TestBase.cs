using System.Buffers;
using System.IO.Pipelines;

namespace TinyProto.Async.Tests;

/// <summary>Every async wait in tests is bounded: a hang fails fast instead of stalling CI.</summary>
public abstract class TestBase : IDisposable
{
    private readonly CancellationTokenSource _timeout;

    protected TestBase(TimeSpan? timeout = null)
    {
        _timeout = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(30));
    }

    /// <summary>Cancelled when the test has run too long.</summary>
    protected CancellationToken TimeoutToken => _timeout.Token;

    /// <summary>Waits for a task, failing the test when <see cref="TimeoutToken"/> fires first.</summary>
    protected Task<T> Bounded<T>(Task<T> task) => task.WaitAsync(TimeoutToken);

    /// <summary>Waits for a task, failing the test when <see cref="TimeoutToken"/> fires first.</summary>
    protected Task Bounded(Task task) => task.WaitAsync(TimeoutToken);

    /// <summary>Two connected in-memory transports: what one writes, the other reads.</summary>
    /// <param name="pauseThreshold">How many unread bytes make a writer wait.</param>
    /// <param name="pool">
    /// Where the pipes rent their blocks. By default a <see cref="Buffers.TestMemoryPool"/> that keeps nothing: any access
    /// to a block after the pipe took it back throws, so every in-memory test catches a use after return.
    /// </param>
    protected static (IDuplexPipe Client, IDuplexPipe Server) CreatePipePair(long pauseThreshold = 1024 * 1024, MemoryPool<byte>? pool = null)
    {
        var options = new PipeOptions(pool: pool ?? new Buffers.TestMemoryPool(keepReturned: false), pauseWriterThreshold: pauseThreshold, resumeWriterThreshold: pauseThreshold / 2, useSynchronizationContext: false);
        var toServer = new Pipe(options);
        var toClient = new Pipe(options);
        return (new DuplexPipe(toClient.Reader, toServer.Writer), new DuplexPipe(toServer.Reader, toClient.Writer));
    }

    public void Dispose()
    {
        _timeout.Dispose();
        GC.SuppressFinalize(this);
    }

    private sealed class DuplexPipe(PipeReader input, PipeWriter output) : IDuplexPipe
    {
        public PipeReader Input { get; } = input;

        public PipeWriter Output { get; } = output;
    }
}
