using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text;

namespace TinyProto.Async.Cli.Commands;

/// <summary>
/// <c>tinyproto ping</c>: how long the connection takes (TCP, TLS if asked, and the tinyproto opening), then lock-step
/// round trips to an echoing peer, one a second, with the summary <c>ping</c> prints.
/// </summary>
internal static class PingCommand
{
    public static Command Create()
    {
        var connect = new ConnectOptions("Seconds to wait for the connection and for each echo (a late echo counts as lost and ends the run)");
        var count = new Option<int>("--count", "-c") { Description = "Round trips to make; 0 goes on until Ctrl+C", DefaultValueFactory = _ => 4, HelpName = "N" };
        count.Validators.Add(result =>
        {
            if (result.GetValueOrDefault<int>() < 0)
            {
                result.AddError("--count must be 0 (until Ctrl+C) or more");
            }
        });
        var interval = new Option<double>("--interval", "-i") { Description = "Seconds between round trips (0 sends the next as soon as the echo is in)", DefaultValueFactory = _ => 1, HelpName = "SECONDS" };
        interval.Validators.Add(result =>
        {
            double seconds = result.GetValueOrDefault<double>();
            if (!(seconds >= 0) || seconds > 3600)
            {
                result.AddError($"--interval must be from 0 to 3600 seconds (got {seconds})");
            }
        });
        var size = new Option<string>("--size", "-s") { Description = "Bytes in each message (the echo must match them)", DefaultValueFactory = _ => "64", HelpName = "BYTES" };
        var command = new Command("ping", "Measure the connection time and lock-step round trips to an echoing peer, like ping");
        connect.AddTo(command);
        command.Options.Add(count);
        command.Options.Add(interval);
        command.Options.Add(size);
        command.WithExamples("""
            tinyproto ping 127.0.0.1:5000
            tinyproto ping 127.0.0.1:5000 --count 1000 --interval 0 --size 1K
            tinyproto ping server.example:5000 --tls --count 0        (until Ctrl+C)
            """);
        CommandRunner.SetAction(command, async (parse, cancellationToken) =>
        {
            PeerAddress peer = connect.Peer(parse);
            TimeSpan timeout = connect.Timeout(parse);
            int bytes = (int)SizeParser.Parse("--size", parse.GetValue(size)!, TinyProtoConnectionOptions.DefaultMaxMessageSize);
            var pinger = new Pinger(peer, timeout, bytes, parse.GetValue(count), TimeSpan.FromSeconds(parse.GetValue(interval)));
            await using TinyProtoClient client = connect.CreateClient(parse, peer);
            return await pinger.RunAsync(client, cancellationToken);
        });
        return command;
    }

    /// <summary>One run of <c>ping</c>: its round trips and their statistics; prints as it goes.</summary>
    private sealed class Pinger(PeerAddress peer, TimeSpan timeout, int size, int count, TimeSpan interval)
    {
        private readonly List<double> _milliseconds = [];
        private int _sent;

        public async Task<int> RunAsync(TinyProtoClient client, CancellationToken cancellationToken)
        {
            long connectStart = Stopwatch.GetTimestamp();
            TinyProtoConnection connection = await client.ConnectAsync(peer.Host, peer.Port, cancellationToken);
            double connectMilliseconds = Stopwatch.GetElapsedTime(connectStart).TotalMilliseconds;
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"connected to {connection.RemoteEndPoint} in {connectMilliseconds:0.000} ms (TCP{(client.TlsOptions is null ? string.Empty : ", TLS")} and the tinyproto opening{(connection.IsPipelined ? ", pipelined" : string.Empty)})"));
            var clock = Stopwatch.StartNew();
            string? failure = null;
            try
            {
                for (int sequence = 1; count == 0 || sequence <= count; sequence++)
                {
                    if (sequence > 1 && interval > TimeSpan.Zero)
                    {
                        await Task.Delay(interval, cancellationToken);
                    }

                    failure = await RoundTripAsync(connection, sequence, cancellationToken);
                    if (failure is not null)
                    {
                        break;
                    }
                }
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                // Ctrl+C ends an endless ping: the summary follows, as ping's does.
            }
            catch (Exception ex) when (ex is TinyProtoException or IOException)
            {
                failure = CommandRunner.Describe(ex);
            }

            PrintSummary(connectMilliseconds, clock.Elapsed);
            await connection.CloseAsync(CancellationToken.None);
            if (failure is not null)
            {
                Console.Error.WriteLine($"error: {failure}");
            }

            return failure is null ? ExitCode.Ok
                : failure.StartsWith("no echo", StringComparison.Ordinal) ? ExitCode.Timeout
                : ExitCode.Failed;
        }

        /// <summary>Sends message <paramref name="sequence"/> and waits for its echo; null when it came back intact, else why not.</summary>
        private async Task<string?> RoundTripAsync(TinyProtoConnection connection, int sequence, CancellationToken cancellationToken)
        {
            byte[] message = Payload(sequence);
            _sent++;
            long start = Stopwatch.GetTimestamp();
            await connection.TransmitAsync(message, cancellationToken);
            byte[] echo;
            using (var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken))
            {
                deadline.CancelAfter(timeout);
                try
                {
                    echo = await connection.ReceiveAsync(deadline.Token);
                }
                catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
                {
                    return string.Create(CultureInfo.InvariantCulture, $"no echo of seq={sequence} within {timeout.TotalSeconds:0.###} s (is the peer an echo server?)");
                }
            }

            double milliseconds = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
            if (!echo.AsSpan().SequenceEqual(message))
            {
                return string.Create(CultureInfo.InvariantCulture,
                    $"the answer to seq={sequence} ({echo.Length} bytes) is not its echo ({message.Length} bytes): the peer does not echo, so there is no round trip to time");
            }

            _milliseconds.Add(milliseconds);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{echo.Length} bytes from {peer}: seq={sequence} time={milliseconds:0.000} ms"));
            return null;
        }

        /// <summary>"tinyproto ping seq=N " repeated to the --size in bytes: each message differs, so a stale echo shows.</summary>
        private byte[] Payload(int sequence)
        {
            byte[] unit = Encoding.ASCII.GetBytes(string.Create(CultureInfo.InvariantCulture, $"tinyproto ping seq={sequence} "));
            byte[] payload = new byte[size];
            for (int i = 0; i < size; i++)
            {
                payload[i] = unit[i % unit.Length];
            }

            return payload;
        }

        private void PrintSummary(double connectMilliseconds, TimeSpan elapsed)
        {
            int received = _milliseconds.Count;
            double lost = _sent == 0 ? 0 : 100.0 * (_sent - received) / _sent;
            CultureInfo c = CultureInfo.InvariantCulture;
            Console.WriteLine();
            Console.WriteLine($"--- {peer} tinyproto ping statistics ---");
            Console.WriteLine(string.Create(c, $"{_sent} sent, {received} echoed, {lost:0.#}% lost, time {elapsed.TotalMilliseconds:0} ms, connect {connectMilliseconds:0.000} ms"));
            if (received > 0)
            {
                double average = _milliseconds.Average();
                double deviation = Math.Sqrt(_milliseconds.Average(m => (m - average) * (m - average)));
                Console.WriteLine(string.Create(c, $"rtt min/avg/max/mdev = {_milliseconds.Min():0.000}/{average:0.000}/{_milliseconds.Max():0.000}/{deviation:0.000} ms"));
            }
        }
    }
}
