using System.Buffers;
using System.Buffers.Binary;
using System.IO.Pipelines;

namespace TinyProto.Async.Fuzz;

/// <summary>
/// The fuzz target: one whole <see cref="TinyProtoConnection"/>, in the role, mode and delivery the input's first byte
/// picks, fed the rest of the input as its peer's bytes through an in-memory pipe, in chunks whose sizes the second
/// byte seeds (the fuzzer chooses the split points), then the end of the stream. Its output is read and dropped.
/// </summary>
/// <remarks>
/// The oracles: the connection ends (within <see cref="Bound"/>) either cleanly or with a <see cref="TinyProtoException"/>
/// (no other exception type escapes); every message it delivers is one the input sent whole (a size header and exactly
/// that many payload bytes, contiguous in the input); a size above the limit is refused before any payload is buffered.
/// A broken oracle throws <see cref="OracleException"/>, which the fuzzer reports as a crash.
/// </remarks>
public static class ConnectionTarget
{
    /// <summary>How long one input may take before it counts as a hang.</summary>
    public static readonly TimeSpan Bound = TimeSpan.FromSeconds(5);

    /// <summary>The connection's size limit: larger announced sizes must be refused, never allocated.</summary>
    public const int MaxMessageSize = 64 * 1024;

    public static void Run(ReadOnlySpan<byte> input) => RunAsync(input.ToArray()).GetAwaiter().GetResult();

    public static async Task RunAsync(byte[] input)
    {
        if (input.Length < 2)
        {
            return;
        }

        byte flags = input[0];
        bool server = (flags & 1) != 0;
        bool pipelined = (flags & 2) != 0;
        bool byHook = (flags & 4) != 0;
        var random = new Random(input[1]);
        byte[] peer = input[2..];

        var received = new List<byte[]>();
        TinyProtoConnection connection = byHook ? new RecordingConnection(received) : new TinyProtoConnection();
        connection.Options.MaxMessageSize = MaxMessageSize;
        connection.Options.Timeout = TimeSpan.FromSeconds(2);
        if (server)
        {
            connection.Options.AcceptPipelining = pipelined;
        }
        else
        {
            connection.Options.RequestPipelining = pipelined;
        }

        var options = new PipeOptions(pauseWriterThreshold: 0, useSynchronizationContext: false);
        var toConnection = new Pipe(options);
        var fromConnection = new Pipe(options);
        var transport = new Transport(toConnection.Reader, fromConnection.Writer);
        using var bound = new CancellationTokenSource(Bound);

        Task draining = DrainAsync(fromConnection.Reader);
        Task feeding = FeedAsync(toConnection.Writer, peer, random);
        Task receiving = Task.CompletedTask;
        try
        {
            await connection.StartAsync(transport, server ? TinyProtoRole.Server : TinyProtoRole.Client, bound.Token);

            // A connection nobody receives from holds its last message and reads no further (by design): take them all.
            receiving = byHook ? Task.CompletedTask : ReceiveAllAsync(connection, received, bound.Token);
        }
        catch (TinyProtoException)
        {
            // A handshake the input broke: documented.
        }
        catch (OperationCanceledException) when (bound.IsCancellationRequested)
        {
            throw new OracleException($"the handshake did not end within {Bound}");
        }

        await feeding;
        try
        {
            await connection.Completion.WaitAsync(bound.Token);
        }
        catch (TinyProtoException)
        {
            // An end the input caused: documented.
        }
        catch (OperationCanceledException) when (bound.IsCancellationRequested)
        {
            throw new OracleException($"the connection did not end within {Bound} of the end of its input");
        }
        catch (Exception ex)
        {
            throw new OracleException($"the connection ended with {ex.GetType().Name}, not a TinyProtoException: {ex.Message}", ex);
        }
        finally
        {
            await connection.DisposeAsync();
            fromConnection.Writer.Complete();
        }

        await receiving;
        await draining;
        foreach (byte[] message in received)
        {
            CheckDelivered(message, peer);
        }
    }

    /// <summary>The delivery oracle: <paramref name="message"/> must be within the limit, and in <paramref name="peer"/>'s bytes whole after its size header.</summary>
    public static void CheckDelivered(byte[] message, byte[] peer)
    {
        if (message.Length > MaxMessageSize)
        {
            throw new OracleException($"a message of {message.Length} bytes was delivered, above the limit of {MaxMessageSize}");
        }

        byte[] framed = new byte[4 + message.Length];
        BinaryPrimitives.WriteUInt32BigEndian(framed, (uint)message.Length);
        message.CopyTo(framed, 4);
        if (peer.AsSpan().IndexOf(framed) < 0)
        {
            throw new OracleException($"a {message.Length}-byte message was delivered that the input never sent whole");
        }
    }

    private static async Task FeedAsync(PipeWriter writer, byte[] peer, Random random)
    {
        for (int offset = 0; offset < peer.Length;)
        {
            int length = Math.Min(peer.Length - offset, random.Next(1, 17) * (random.Next(4) == 0 ? 64 : 1));
            await writer.WriteAsync(peer.AsMemory(offset, length));
            offset += length;
            await Task.Yield();
        }

        await writer.CompleteAsync();
    }

    private static async Task DrainAsync(PipeReader reader)
    {
        while (true)
        {
            ReadResult result = await reader.ReadAsync();
            reader.AdvanceTo(result.Buffer.End);
            if (result.IsCompleted || result.IsCanceled)
            {
                await reader.CompleteAsync();
                return;
            }
        }
    }

    private static async Task ReceiveAllAsync(TinyProtoConnection connection, List<byte[]> received, CancellationToken cancellationToken)
    {
        try
        {
            while (true)
            {
                byte[] message = await connection.ReceiveAsync(cancellationToken);
                lock (received)
                {
                    received.Add(message);
                }
            }
        }
        catch (Exception ex) when (ex is TinyProtoException or OperationCanceledException or InvalidOperationException)
        {
            // The end (or not started).
        }
    }

    private sealed class Transport(PipeReader input, PipeWriter output) : IDuplexPipe
    {
        public PipeReader Input { get; } = input;

        public PipeWriter Output { get; } = output;
    }

    private sealed class RecordingConnection(List<byte[]> received) : TinyProtoConnection
    {
        protected override ValueTask TransmissionReceivedAsync(ReadOnlySequence<byte> message, CancellationToken cancellationToken)
        {
            lock (received)
            {
                received.Add(message.ToArray());
            }

            return default;
        }
    }
}

/// <summary>An oracle of the fuzz target failed: a bug, reported to the fuzzer as a crash.</summary>
public sealed class OracleException(string message, Exception? inner = null) : Exception(message, inner);
