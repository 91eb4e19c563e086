using System.IO.Pipelines;
using System.Net.Sockets;

namespace TinyProto.Async.Transport;

/// <summary>Turns a byte stream or a connected socket into the <see cref="IDuplexPipe"/> a connection runs over.</summary>
internal static class StreamTransport
{
    // 64 KiB buffers: 4 KiB pipe segments halved bulk throughput in measurements on this machine kind.
    private const int BufferSize = 64 * 1024;

    /// <summary>The transport over a stream.</summary>
    /// <param name="stream">The stream; the transport owns it.</param>
    /// <param name="zeroByteReads">
    /// Wait for data with a zero-byte read before taking a buffer, so an idle connection holds none: for streams that
    /// support it (an <c>SslStream</c> then lets go of its own buffer too: an idle TLS connection costs about a seventh).
    /// </param>
    public static StreamDuplexPipe Create(Stream stream, bool zeroByteReads = false)
    {
        ArgumentNullException.ThrowIfNull(stream);
        var reader = PipeReader.Create(stream, new StreamPipeReaderOptions(bufferSize: BufferSize, minimumReadSize: 4096, leaveOpen: false, useZeroByteReads: zeroByteReads));
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
    /// The transport for a connected socket the library opened, with a dedicated thread if <paramref name="threading"/>
    /// and the process's count of them allow (<see cref="DedicatedThreads"/>), else over asynchronous I/O.
    /// </summary>
    public static StreamDuplexPipe Create(Socket socket, TinyProtoThreading threading)
    {
        ArgumentNullException.ThrowIfNull(socket);
        if (!DedicatedThreads.TryTake(threading))
        {
            return Create(socket);
        }

        try
        {
            socket.NoDelay = true;
            var stream = new NetworkStream(socket, ownsSocket: true);
            var writer = new BlockingSocketWriter(stream);

            // The reader's thread gives the slot back when it ends.
            return new StreamDuplexPipe(new BlockingSocketReader(stream), writer, stream);
        }
        catch
        {
            DedicatedThreads.Release();
            throw;
        }
    }

    private static PipeWriter CreateWriter(Stream stream) =>
        PipeWriter.Create(stream, new StreamPipeWriterOptions(minimumBufferSize: BufferSize, leaveOpen: false));
}
