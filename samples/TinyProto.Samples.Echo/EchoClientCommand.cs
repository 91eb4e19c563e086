using System.Diagnostics;
using System.Net.Security;
using System.Net.Sockets;
using TinyProto.Async;

namespace TinyProto.Samples.Echo;

/// <summary>
/// <c>client</c>: lock-step echo round trips (transmit, then receive the echo, then the next), each checked
/// byte for byte. Lock-step, with plain TransmitAsync/ReceiveAsync, is all a Python tinyproto server can take.
/// </summary>
internal static class EchoClientCommand
{
    public const int MaxSize = 1 << 30;

    private static readonly TimeSpan RoundTripTimeout = TimeSpan.FromSeconds(30);

    public static async Task<int> RunAsync(string host, int port, int count, int size, SslClientAuthenticationOptions? tls = null)
    {
        // Over TLS, the server's certificate is checked against the host connected to (TargetHost left unset).
        await using var client = new TinyProtoClient { TlsOptions = tls };
        TinyProtoConnection? connection;
        try
        {
            Guid id = await client.ConnectToAsync(host, port);
            if (!client.ActiveConnections.TryGetValue(id, out connection))
            {
                return Fail($"the server at {host}:{port} closed the connection right after the handshake");
            }
        }
        catch (Exception ex) when (ex is SocketException or TinyProtoException)
        {
            return Fail($"cannot connect to {host}:{port}: {ex.Message}");
        }

        byte[] sent = new byte[size];
        var clock = Stopwatch.StartNew();
        for (int i = 0; i < count; i++)
        {
            FillPayload(sent, i);
            byte[] echoed;
            using (var timeout = new CancellationTokenSource(RoundTripTimeout))
            {
                try
                {
                    await connection.TransmitAsync(sent, timeout.Token);
                    echoed = await connection.ReceiveAsync(timeout.Token);
                }
                catch (OperationCanceledException) when (timeout.IsCancellationRequested)
                {
                    return Fail($"round trip {i + 1} of {count}: no echo within {RoundTripTimeout.TotalSeconds:0} s");
                }
                catch (TinyProtoException ex)
                {
                    return Fail($"round trip {i + 1} of {count} failed: {ex.Message}");
                }
            }

            if (FindDifference(sent, echoed) is { } difference)
            {
                return Fail($"round trip {i + 1} of {count}: the echo differs from the message sent: {difference}");
            }
        }

        clock.Stop();
        double seconds = clock.Elapsed.TotalSeconds;
        double mibPerSecond = (double)count * size / (1024 * 1024) / seconds;
        Console.WriteLine($"{count} round trips of {size} bytes in {seconds:0.000} s: {count / seconds:0} round trips/s, {mibPerSecond:0.0} MiB/s each way");
        await connection.CloseAsync();
        return 0;
    }

    /// <summary>Content that differs from one message to the next, so a stale or misordered echo is caught.</summary>
    private static void FillPayload(byte[] payload, int index)
    {
        int value = (int)((uint)index * 131 % 251);
        for (int j = 0; j < payload.Length; j++)
        {
            payload[j] = (byte)value;
            value = value == 250 ? 0 : value + 1;
        }
    }

    private static string? FindDifference(byte[] sent, byte[] echoed)
    {
        int same = sent.AsSpan().CommonPrefixLength(echoed);
        if (sent.Length != echoed.Length)
        {
            return $"{echoed.Length} bytes came back instead of {sent.Length}";
        }

        return same == sent.Length ? null : $"byte {same} is 0x{echoed[same]:X2} instead of 0x{sent[same]:X2}";
    }

    private static int Fail(string message)
    {
        Console.Error.WriteLine($"error: {message}");
        return 1;
    }
}
