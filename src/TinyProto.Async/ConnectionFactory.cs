using Microsoft.Extensions.Logging;

namespace TinyProto.Async;

/// <summary>
/// What a server or client needs to make each new connection: the handler, the host's options and plugins, and the
/// host's connection logger and meter. Which options a connection runs with:
/// <list type="number">
/// <item>options its handler assigned to <see cref="TinyProtoConnection.Options"/>, kept as they are;</item>
/// <item>otherwise a copy of the host's <see cref="Options"/>, with <see cref="Timeout"/> over its timeout when set.</item>
/// </list>
/// Whatever the options, a connection whose options name no logger logs through <see cref="DefaultLogger"/>, and one
/// whose options name no meter factory records on <see cref="Metrics"/>.
/// </summary>
internal sealed class ConnectionFactory
{
    private readonly List<ITinyProtoPlugin> _plugins = [];
    private Func<TinyProtoConnection> _create = static () => new TinyProtoConnection();

    /// <summary>The host's <c>ConnectionOptions</c>; never made read-only, since each connection gets a copy.</summary>
    public TinyProtoConnectionOptions Options { get; set; } = new();

    /// <summary>A timeout the host set on its own (the client's <c>Timeout</c>); wins over <see cref="Options"/>' timeout.</summary>
    public TimeSpan? Timeout { get; set; }

    /// <summary>The host's logger for its connections, used by connections whose options name none.</summary>
    public ILogger? DefaultLogger { get; set; }

    /// <summary>The host's message instruments, used by connections whose options name no meter factory; null for the library's own meter.</summary>
    public Diagnostics.MessageMetrics? Metrics { get; set; }

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

    /// <summary>Makes a connection with <paramref name="handler"/> (a listener's own), or the host's handler, and gives it the host's options, logger and plugins.</summary>
    public TinyProtoConnection Create(Func<TinyProtoConnection>? handler = null)
    {
        TinyProtoConnection connection = (handler ?? _create)()
            ?? throw new InvalidOperationException("The connection handler factory returned null.");
        if (!connection.OptionsWereSet)
        {
            TinyProtoConnectionOptions options = Options.Clone();
            if (Timeout is TimeSpan timeout)
            {
                options.Timeout = timeout;
            }

            connection.Options = options;
        }

        connection.HostLogger = DefaultLogger;
        connection.HostMetrics = Metrics;
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
