// The echo sample: a demo with no arguments, or an echo server and a benchmarking client.
// Exit codes: 0 success, 1 failure (mismatch, timeout, connection error), 2 bad arguments.
using TinyProto.Async;
using TinyProto.Samples.Echo;

const string Usage = """
    Usage:
      TinyProto.Samples.Echo                 run a server and a client in this process and exchange a few messages
      TinyProto.Samples.Echo server --port P [--host H] [--connection-limit N] [--max-connections-per-address N]
                                    [--max-pending-handshakes N] [--max-message-size BYTES]
                                    [--timeout S] [--idle-timeout S]
                                    [--tls-cert FILE [--tls-key FILE | --tls-password PASSWORD]]
      TinyProto.Samples.Echo client --port P [--host H] --count N --size S [--tls] [--tls-ca FILE]

    Options:
      --host H               address to listen on or connect to (default 127.0.0.1)
      --port P               TCP port, 0..65535 for a server (0 picks a free one), 1..65535 for a client
      --connection-limit N   most clients served at once; more are refused with 0xFE (default: no limit)
      --max-connections-per-address N
                             most connections from one IP address, counting those in their handshake;
                             more are refused with 0xFE (default: no limit)
      --max-pending-handshakes N
                             most connections in their opening handshake at once; more are refused with
                             0xFE at once (default: no limit)
      --max-message-size BYTES
                             largest message the server accepts, 0..4043309055; a larger one is refused
                             with 0xFC and its connection closed (default: 67108864, 64 MiB)
      --timeout S            seconds a peer may take for the handshake, a status, the rest of a message it
                             began, or taking our bytes; then its connection is closed (default: 5)
      --idle-timeout S       seconds a connection may stay idle between messages before it is closed
                             (default: no limit)
      --tls-cert FILE        serve over TLS with this certificate: PEM (its key in the same file or in
                             --tls-key), or .pfx/.p12 (with --tls-password if it has one)
      --tls-key FILE         the PEM private key of --tls-cert
      --tls-password PASSWORD
                             the password of a .pfx/.p12 --tls-cert
      --count N              number of lock-step echo round trips
      --size S               bytes in each message, 0..1073741824
      --tls                  connect over TLS, verifying the server against the OS trust store and the
                             host name against --host
      --tls-ca FILE          connect over TLS, trusting only the PEM certificates in FILE (a test CA or
                             the server's self-signed certificate) instead of the OS trust store
    """;

if (args is ["-h" or "--help" or "help", ..])
{
    Console.WriteLine(Usage);
    return 0;
}

return await SampleHost.RunAsync(Usage, async () =>
{
    switch (args.FirstOrDefault())
    {
        case null:
            return await Demo.RunAsync();

        case "server":
        {
            var options = Arguments.Parse(args.AsSpan(1), "--host", "--port", "--connection-limit",
                "--max-connections-per-address", "--max-pending-handshakes", "--max-message-size", "--timeout", "--idle-timeout",
                "--tls-cert", "--tls-key", "--tls-password");
            return await EchoServerCommand.RunAsync(
                options.GetString("--host", "127.0.0.1"),
                options.GetInt("--port", 0, 65535),
                new EchoServerCommand.Limits(
                    options.GetOptionalInt("--connection-limit", 1, int.MaxValue),
                    options.GetOptionalInt("--max-connections-per-address", 1, int.MaxValue),
                    options.GetOptionalInt("--max-pending-handshakes", 1, int.MaxValue),
                    EchoServerCommand.ParseMaxMessageSize(options.GetOptionalString("--max-message-size")),
                    options.GetOptionalInt("--timeout", 1, 86_400),
                    options.GetOptionalInt("--idle-timeout", 1, 86_400 * 7)),
                TlsFiles.LoadServerOptions(options.GetOptionalString("--tls-cert"), options.GetOptionalString("--tls-key"), options.GetOptionalString("--tls-password")));
        }

        case "client":
        {
            var options = Arguments.Parse(args.AsSpan(1), ["--host", "--port", "--count", "--size", "--tls-ca"], ["--tls"]);
            return await EchoClientCommand.RunAsync(
                options.GetString("--host", "127.0.0.1"),
                options.GetInt("--port", 1, 65535),
                options.GetInt("--count", 1, int.MaxValue),
                options.GetInt("--size", 0, EchoClientCommand.MaxSize),
                TlsFiles.LoadClientOptions(options.HasFlag("--tls"), options.GetOptionalString("--tls-ca")));
        }

        default:
            throw new UsageException($"unknown command '{args[0]}' (expected 'server' or 'client')");
    }
});
