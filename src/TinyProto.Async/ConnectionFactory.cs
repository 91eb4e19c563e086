namespace TinyProto.Async;

/// <summary>What a server or client needs to make each new connection: the handler type, options and plugins.</summary>
internal sealed class ConnectionFactory
{
    private readonly List<ITinyProtoPlugin> _plugins = [];
    private Func<TinyProtoConnection> _create = static () => new TinyProtoConnection();

    public TinyProtoConnectionOptions Options { get; set; } = new();

    /// <summary>The host's logger, used by connections whose options name none.</summary>
    public Microsoft.Extensions.Logging.ILogger? DefaultLogger { get; set; }

    public void SetHandler(Func<TinyProtoConnection> create)
    {
        ArgumentNullException.ThrowIfNull(create);
        _create = create;
    }

    public void AddPlugin(ITinyProtoPlugin plugin)
    {
        ArgumentNullException.ThrowIfNull(plugin);
        lock (_plugins)
        {
            _plugins.Add(plugin);
        }
    }

    public TinyProtoConnection Create()
    {
        TinyProtoConnection connection = _create()
            ?? throw new InvalidOperationException("The connection handler factory returned null.");
        TinyProtoConnectionOptions options = Options.Clone();
        options.Logger ??= DefaultLogger;
        connection.Options = options;
        lock (_plugins)
        {
            foreach (ITinyProtoPlugin plugin in _plugins)
            {
                connection.AddPlugin(plugin);
            }
        }

        return connection;
    }
}
