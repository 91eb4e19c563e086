using System.Buffers;
using System.Buffers.Binary;
using System.Diagnostics;
using System.Security.Cryptography;

namespace TinyProto.Async.Tests;

/// <summary>Rule 5 and 6: both ends transmitting at once, over loopback, with every message checked.</summary>
public sealed class FullDuplexTests : ConnectionTestBase
{
    private const int MessageCount = 10_000;

    public FullDuplexTests()
        : base(TimeSpan.FromSeconds(60))
    {
    }

    [Theory]
    [InlineData(false, false)]
    [InlineData(true, false)]
    [InlineData(false, true)]
    [InlineData(true, true)]
    public async Task TransmitAsync_BothEndsSendTenThousandChecksummedMessagesAtOnce_NoneLostDuplicatedReorderedOrCorrupted(bool pipelined, bool echo)
    {
        var serverPeer = new TaskCompletionSource<DuplexPeer>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var server = new TinyProtoServer();
        server.SetConnectionHandler(() =>
        {
            var peer = new DuplexPeer(side: 1, echo);
            serverPeer.TrySetResult(peer);
            return peer;
        });
        int port = await StartLoopbackAsync(server);

        await using var client = new TinyProtoClient();
        client.ConnectionOptions.RequestPipelining = pipelined;
        client.SetConnectionHandler(() => new DuplexPeer(side: 0, echo));
        var clientSide = (DuplexPeer)client.ActiveConnections[await Bounded(client.ConnectToAsync("127.0.0.1", port, TimeoutToken))];
        DuplexPeer serverSide = await Bounded(serverPeer.Task);

        // The server lists a connection once its handshake is done; the client's can end a moment before.
        Assert.Same(serverSide, await SingleServerConnectionAsync(server));
        Assert.Equal(pipelined, clientSide.IsPipelined);
        Assert.Equal(pipelined, serverSide.IsPipelined);

        var watch = Stopwatch.StartNew();
        Task clientSends = Task.Run(() => clientSide.SendAllAsync(TimeoutToken));
        Task serverSends = Task.Run(() => serverSide.SendAllAsync(TimeoutToken));

        // Each side's Done faults at the first bad message, or if its connection ends early.
        await Bounded(Task.WhenAll(clientSide.Done.Task, serverSide.Done.Task));
        await Bounded(Task.WhenAll(clientSends, serverSends));
        watch.Stop();

        Assert.Equal(MessageCount, clientSide.OriginalsReceived);
        Assert.Equal(MessageCount, serverSide.OriginalsReceived);
        Assert.Equal(echo ? MessageCount : 0, clientSide.EchoesReceived);
        Assert.Equal(echo ? MessageCount : 0, serverSide.EchoesReceived);
        Assert.False(clientSide.Completion.IsCompleted);
        Assert.False(serverSide.Completion.IsCompleted);
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(30), $"took {watch.Elapsed}");
    }

    [Fact]
    public async Task TransmitAsync_LockStepClientReadsOkAndServerHeaderTogether_PayloadGoesOutBeforeAnswer()
    {
        // Rule 5: a side puts its payload in the output as soon as it reads that payload's OK. A server that
        // answered our header at once may then start its own message, so OK and its header arrive together;
        // the server then expects our payload before anything else, so our answer to its header must follow it.
        var client = new TinyProtoConnection();
        RawPeer raw = await StartWithRawServerAsync(client);
        Task transmit = client.TransmitAsync("abc"u8.ToArray(), TimeoutToken).AsTask();
        Assert.Equal(RawPeer.Header(3), await Bounded(raw.ReadExactlyAsync(4)));

        await Bounded(raw.WriteAsync([0xFF, .. RawPeer.Header(2)]));
        byte[] next = await Bounded(raw.ReadExactlyAsync(4));
        Assert.True(next.AsSpan().SequenceEqual(new byte[] { (byte)'a', (byte)'b', (byte)'c', 0xFF }),
            $"expected the payload 616263 then the answer FF, got {Convert.ToHexString(next)}");
        await Bounded(transmit);
        await Bounded(raw.WriteAsync("hi"u8.ToArray()));
        Assert.Equal("hi"u8.ToArray(), await Bounded(client.ReceiveAsync(TimeoutToken).AsTask()));
    }

    [Fact]
    public async Task TransmitAsync_LockStepInMemoryBothEndsAtOnce_AllMessagesArriveIntact()
    {
        var client = new TinyProtoConnection();
        var server = new TinyProtoConnection();
        await StartPairAsync(client, server);
        const int count = 2000;
        async Task SendAsync(TinyProtoConnection from, int seed)
        {
            for (int i = 0; i < count; i++)
            {
                await from.TransmitAsync(RandomBytes(i % 500, seed + i), TimeoutToken);
            }
        }

        async Task ReceiveAllAsync(TinyProtoConnection at, int seed)
        {
            for (int i = 0; i < count; i++)
            {
                byte[] message = await at.ReceiveAsync(TimeoutToken);
                Assert.True(RandomBytes(i % 500, seed + i).AsSpan().SequenceEqual(message), $"message #{i} differs");
            }
        }

        await Bounded(Task.WhenAll(
            Task.Run(() => SendAsync(client, 0)),
            Task.Run(() => SendAsync(server, 1_000_000)),
            Task.Run(() => ReceiveAllAsync(server, 0)),
            Task.Run(() => ReceiveAllAsync(client, 1_000_000))));
    }

    /// <summary>Message: side (1), kind (1: 0 original, 1 echo), sequence (4), SHA-256 of side+sequence+body (32), body.</summary>
    private sealed class DuplexPeer : TinyProtoConnection
    {
        private const int HeaderLength = 38;
        private readonly byte _side;
        private readonly bool _echo;
        private int _nextOriginal;
        private int _nextEcho;

        public DuplexPeer(byte side, bool echo)
        {
            _side = side;
            _echo = echo;
        }

        public TaskCompletionSource Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public int OriginalsReceived => Volatile.Read(ref _nextOriginal);

        public int EchoesReceived => Volatile.Read(ref _nextEcho);

        public async Task SendAllAsync(CancellationToken cancellationToken)
        {
            for (int seq = 0; seq < MessageCount; seq++)
            {
                await TransmitAsync(Build(_side, seq), cancellationToken);
            }
        }

        protected override async ValueTask TransmissionReceivedAsync(ReadOnlySequence<byte> message, CancellationToken cancellationToken)
        {
            try
            {
                byte[] bytes = message.ToArray();
                (byte side, byte kind, int seq) = Verify(bytes);
                if (kind == 0)
                {
                    Check(side != _side, $"an original from side {side} arrived at side {_side}");
                    Check(seq == _nextOriginal, $"side {_side} expected original #{_nextOriginal}, got #{seq}");
                    Interlocked.Increment(ref _nextOriginal);
                    if (_echo)
                    {
                        bytes[1] = 1;
                        await TransmitAsync(bytes, cancellationToken);
                    }
                }
                else
                {
                    Check(_echo, "an echo arrived though nobody echoes");
                    Check(side == _side, $"side {_side} got an echo of side {side}'s message");
                    Check(seq == _nextEcho, $"side {_side} expected echo #{_nextEcho}, got #{seq}");
                    Check(bytes.AsSpan().SequenceEqual(Build(_side, seq, kind: 1)), $"echo #{seq} differs from what side {_side} sent");
                    Interlocked.Increment(ref _nextEcho);
                }

                if (_nextOriginal == MessageCount && (!_echo || _nextEcho == MessageCount))
                {
                    Done.TrySetResult();
                }
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                Done.TrySetException(ex);
                throw;
            }
        }

        protected override ValueTask PostLoopAsync(CancellationToken cancellationToken)
        {
            Done.TrySetException(new InvalidOperationException(
                $"Side {_side}'s connection ended after {_nextOriginal} originals and {_nextEcho} echoes: {Completion.Exception?.InnerException?.Message}"));
            return default;
        }

        private static void Check(bool condition, string what)
        {
            if (!condition)
            {
                throw new InvalidDataException(what);
            }
        }

        private static int BodySize(int seq) =>
            seq % 2000 == 1999 ? 100_000 + (seq % 3 * 100_000) // five messages of 100 to 300 KB
            : seq % 7 == 0 ? 0
            : (int)((uint)(seq * 2_654_435_761L) % 4096);

        private static byte[] Build(byte side, int seq, byte kind = 0)
        {
            byte[] message = new byte[HeaderLength + BodySize(seq)];
            message[0] = side;
            message[1] = kind;
            BinaryPrimitives.WriteInt32BigEndian(message.AsSpan(2), seq);
            new Random(seq * 2 + side).NextBytes(message.AsSpan(HeaderLength));
            Digest(message).CopyTo(message.AsSpan(6));
            return message;
        }

        private static byte[] Digest(byte[] message)
        {
            using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            hash.AppendData(message, 0, 1);
            hash.AppendData(message, 2, 4);
            hash.AppendData(message, HeaderLength, message.Length - HeaderLength);
            return hash.GetHashAndReset();
        }

        private static (byte Side, byte Kind, int Seq) Verify(byte[] message)
        {
            Check(message.Length >= HeaderLength, $"a {message.Length}-byte message is shorter than the test header");
            int seq = BinaryPrimitives.ReadInt32BigEndian(message.AsSpan(2));
            Check(seq is >= 0 and < MessageCount, $"sequence {seq} out of range");
            Check(message.Length == HeaderLength + BodySize(seq), $"message #{seq} has {message.Length} bytes, expected {HeaderLength + BodySize(seq)}");
            Check(message.AsSpan(6, 32).SequenceEqual(Digest(message)), $"message #{seq} is corrupted (checksum mismatch)");
            return (message[0], message[1], seq);
        }
    }
}
