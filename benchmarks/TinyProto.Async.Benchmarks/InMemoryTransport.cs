using System.IO.Pipelines;

namespace TinyProto.Async.Benchmarks;

/// <summary>Two connected in-memory transports (no sockets): what one writes, the other reads. Same options as the tests' pipe pair.</summary>
internal sealed class InMemoryTransport(PipeReader input, PipeWriter output) : IDuplexPipe
{
    public PipeReader Input { get; } = input;

    public PipeWriter Output { get; } = output;

    public static (IDuplexPipe Client, IDuplexPipe Server) CreatePair()
    {
        const long pauseThreshold = 1024 * 1024;
        var options = new PipeOptions(pauseWriterThreshold: pauseThreshold, resumeWriterThreshold: pauseThreshold / 2, useSynchronizationContext: false);
        var toServer = new Pipe(options);
        var toClient = new Pipe(options);
        return (new InMemoryTransport(toClient.Reader, toServer.Writer), new InMemoryTransport(toServer.Reader, toClient.Writer));
    }
}
