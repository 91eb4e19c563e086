using System.IO.Pipelines;
using System.Net.Sockets;

namespace TinyProto.Async.Transport;

/// <summary>Turns a byte stream or a connected socket into the <see cref="IDuplexPipe"/> a connection runs over.</summary>
internal static class StreamTransport
{
    // 64 KiB buffers: 4 KiB pipe segments halved bulk throughput in measurements on this machine kind.
    private const int BufferSize = 64 * 1024;

    public static StreamDuplexPipe Create(Stream stream)
    {
        ArgumentNullException.ThrowIfNull(stream);
        var reader = PipeReader.Create(stream, new StreamPipeReaderOptions(bufferSize: BufferSize, minimumReadSize: 4096, leaveOpen: false));
        return new StreamDuplexPipe(reader, CreateWriter(stream), stream);
    }

    public static StreamDuplexPipe Create(Socket socket)
    {
        ArgumentNullException.ThrowIfNull(socket);
        socket.NoDelay = true;

        // The reader receives from the socket itself, allocation-free and holding no buffer while idle
        // (zero-byte receives), which is what lets ten thousand idle connections fit in a few tens of megabytes.
        var stream = new NetworkStream(socket, ownsSocket: true);
        return new StreamDuplexPipe(new SocketPipeReader(stream), CreateWriter(stream), stream);
    }

    /// <summary>
    /// A dedicated-thread transport (<see cref="TinyProtoThreading.DedicatedThread"/>) over a connected socket that has
    /// never done an asynchronous operation: blocking receives on a reader thread, non-blocking sends.
    /// </summary>
    public static StreamDuplexPipe CreateDedicated(Socket socket)
    {
        ArgumentNullException.ThrowIfNull(socket);
        socket.NoDelay = true;
        var stream = new NetworkStream(socket, ownsSocket: true);
        return new StreamDuplexPipe(new BlockingSocketReader(stream), new BlockingSocketWriter(stream), stream);
    }

    /// <summary>Whether a connection with <paramref name="threading"/> gets a dedicated thread here (before any server limit).</summary>
    public static bool WantsDedicatedThread(TinyProtoThreading threading) =>
        threading != TinyProtoThreading.ThreadPool && NonBlockingSend.IsSupported;

    private static PipeWriter CreateWriter(Stream stream) =>
        PipeWriter.Create(stream, new StreamPipeWriterOptions(minimumBufferSize: BufferSize, leaveOpen: false));
}
