using System.Buffers;
using System.IO.Pipelines;
using System.Net.Sockets;

namespace TinyProto.Async.Tests;

/// <summary>
/// The other end of a connection, driven byte by byte by a test: it writes exact bytes and reads exactly
/// what the connection under test put on the wire. Every wait is bounded by the token it was made with.
/// </summary>
internal sealed class RawPeer : IAsyncDisposable
{
    private readonly PipeReader _input;
    private readonly PipeWriter _output;
    private readonly CancellationToken _timeout;
    private readonly Stream? _owned;
    private readonly Socket? _socket;

    public RawPeer(IDuplexPipe pipe, CancellationToken timeout)
    {
        _input = pipe.Input;
        _output = pipe.Output;
        _timeout = timeout;
    }

    /// <summary>Over a byte stream (an <c>SslStream</c>, ...), which it disposes.</summary>
    public RawPeer(Stream stream, CancellationToken timeout)
    {
        _input = PipeReader.Create(stream, new StreamPipeReaderOptions(leaveOpen: true));
        _output = PipeWriter.Create(stream, new StreamPipeWriterOptions(leaveOpen: true));
        _timeout = timeout;
        _owned = stream;
    }

    public RawPeer(Socket socket, CancellationToken timeout)
    {
        socket.NoDelay = true;
        var stream = new NetworkStream(socket, ownsSocket: true);
        _input = PipeReader.Create(stream, new StreamPipeReaderOptions(leaveOpen: true));
        _output = PipeWriter.Create(stream, new StreamPipeWriterOptions(leaveOpen: true));
        _timeout = timeout;
        _owned = stream;
        _socket = socket;
    }

    public async Task WriteAsync(params byte[] bytes)
    {
        await _output.WriteAsync(bytes, _timeout);
    }

    /// <summary>Writes and flushes one byte at a time.</summary>
    public async Task WriteOneByteAtATimeAsync(byte[] bytes)
    {
        foreach (byte b in bytes)
        {
            await _output.WriteAsync(new[] { b }, _timeout);
        }
    }

    public static byte[] Header(uint size) => [(byte)(size >> 24), (byte)(size >> 16), (byte)(size >> 8), (byte)size];

    public async Task<byte> ReadByteAsync() => (await ReadExactlyAsync(1))[0];

    /// <summary>Reads exactly <paramref name="count"/> bytes; fails if the stream ends first.</summary>
    public async Task<byte[]> ReadExactlyAsync(int count)
    {
        while (true)
        {
            ReadResult result = await _input.ReadAsync(_timeout);
            ReadOnlySequence<byte> buffer = result.Buffer;
            if (buffer.Length >= count)
            {
                byte[] bytes = buffer.Slice(0, count).ToArray();
                _input.AdvanceTo(buffer.GetPosition(count));
                return bytes;
            }

            _input.AdvanceTo(buffer.Start, buffer.End);
            if (result.IsCompleted)
            {
                throw new EndOfStreamException($"The stream ended after {buffer.Length} of {count} expected bytes.");
            }
        }
    }

    /// <summary>Reads everything until the other side completes its output.</summary>
    public async Task<byte[]> ReadToEndAsync()
    {
        while (true)
        {
            ReadResult result;
            try
            {
                result = await _input.ReadAsync(_timeout);
            }
            catch (IOException)
            {
                // A reset socket counts as the end here.
                return [];
            }

            if (result.IsCompleted)
            {
                byte[] rest = result.Buffer.ToArray();
                _input.AdvanceTo(result.Buffer.End);
                return rest;
            }

            _input.AdvanceTo(result.Buffer.Start, result.Buffer.End);
        }
    }

    /// <summary>Opens as a client: writes <paramref name="opening"/> and returns the server's answer.</summary>
    public async Task<byte> OpenAsClientAsync(byte opening = 0xFF)
    {
        await WriteAsync(opening);
        return await ReadByteAsync();
    }

    /// <summary>Opens as a server: reads the client's opening byte, answers <paramref name="answer"/> and returns the opening.</summary>
    public async Task<byte> OpenAsServerAsync(byte answer = 0xFF)
    {
        byte opening = await ReadByteAsync();
        await WriteAsync(answer);
        return opening;
    }

    /// <summary>Sends one message the lock-step way: header, wait for the status, payload. Returns the status.</summary>
    public async Task<byte> SendMessageAsync(byte[] payload)
    {
        await WriteAsync(Header((uint)payload.Length));
        byte status = await ReadByteAsync();
        if (status == 0xFF)
        {
            await WriteAsync(payload);
        }

        return status;
    }

    /// <summary>Receives one message: reads the header, answers OK, reads the payload.</summary>
    public async Task<byte[]> ReceiveMessageAsync()
    {
        byte[] header = await ReadExactlyAsync(4);
        int size = checked((int)((uint)header[0] << 24 | (uint)header[1] << 16 | (uint)header[2] << 8 | header[3]));
        await WriteAsync(0xFF);
        return await ReadExactlyAsync(size);
    }

    /// <summary>Ends this side's output (a half-close for sockets: reading goes on).</summary>
    public async Task CompleteOutputAsync()
    {
        await _output.FlushAsync(_timeout);
        if (_socket is null)
        {
            await _output.CompleteAsync();
        }
        else
        {
            _socket.Shutdown(SocketShutdown.Send);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _output.CompleteAsync();
        await _input.CompleteAsync();
        _owned?.Dispose();
    }
}
