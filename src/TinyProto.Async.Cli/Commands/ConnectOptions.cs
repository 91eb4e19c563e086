using System.CommandLine;

namespace TinyProto.Async.Cli.Commands;

/// <summary>
/// The client commands' shared parts: the <c>HOST:PORT</c> argument, <c>--timeout</c>, the TLS options, and opening the
/// client that connects with them.
/// </summary>
internal sealed class ConnectOptions
{
    private readonly Argument<string> _peer = new("HOST:PORT") { Description = $"The peer: {PeerAddress.Syntax}" };
    private readonly Option<double> _timeout;
    private readonly ClientTlsOptions _tls = new();

    public ConnectOptions(string timeoutDescription)
    {
        _timeout = new Option<double>("--timeout")
        {
            Description = timeoutDescription,
            DefaultValueFactory = _ => 10,
            HelpName = "SECONDS",
        };
        _timeout.Validators.Add(result =>
        {
            double seconds = result.GetValueOrDefault<double>();
            if (!(seconds > 0) || seconds > int.MaxValue / 1000.0)
            {
                result.AddError($"--timeout must be a number of seconds above 0 (got {seconds})");
            }
        });
    }

    public void AddTo(Command command)
    {
        command.Arguments.Add(_peer);
        command.Options.Add(_timeout);
        _tls.AddTo(command);
    }

    public PeerAddress Peer(ParseResult parse) => PeerAddress.Parse(parse.GetValue(_peer)!);

    public TimeSpan Timeout(ParseResult parse) => TimeSpan.FromSeconds(parse.GetValue(_timeout));

    /// <summary>
    /// A client set up with the TLS options and the timeout for connecting (TCP, TLS and the opening handshake: a peer
    /// that accepts and never answers fails with <see cref="TinyProtoError.Timeout"/>, not a hang).
    /// </summary>
    public TinyProtoClient CreateClient(ParseResult parse, PeerAddress peer) => new()
    {
        TlsOptions = _tls.Create(parse, peer.Host),
        Timeout = Timeout(parse),
    };
}
