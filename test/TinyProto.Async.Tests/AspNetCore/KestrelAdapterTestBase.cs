using System.Buffers;
using System.Collections.Concurrent;
using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using TinyProto.Async.AspNetCore;
using TinyProto.Async.Hosting;

namespace TinyProto.Async.Tests.AspNetCore;

/// <summary>
/// Real ASP.NET Core apps on loopback port 0: Kestrel serves HTTP on one endpoint and hands a second endpoint's
/// connections to a tinyproto server registered with <c>AddTinyProtoServer</c> (no endpoints of its own).
/// </summary>
public abstract class KestrelAdapterTestBase : ConnectionTestBase
{
    protected KestrelAdapterTestBase()
        : base(TimeSpan.FromSeconds(30))
    {
    }

    /// <summary>
    /// An app with the tinyproto server <paramref name="name"/> (a <see cref="RecordingServer"/> of
    /// <see cref="EchoConnection"/>s unless <paramref name="register"/> registers another), an HTTP endpoint with
    /// <c>GET /active</c>, and a Kestrel endpoint set up by <paramref name="tinyProto"/> (<c>UseTinyProto(name)</c> by default).
    /// </summary>
    private protected static WebApplication NewApp(
        RecordingLoggerFactory? logs = null,
        string name = "echo",
        Action<IServiceCollection>? register = null,
        Action<ListenOptions>? tinyProto = null,
        Action<WebApplicationBuilder>? configure = null)
    {
        WebApplicationBuilder builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders().SetMinimumLevel(LogLevel.Debug);
        if (logs is not null)
        {
            builder.Logging.AddProvider(new RecordingLoggerProvider(logs));
        }

        // Kestrel's own default: a connection that ignores its close request holds the stop this long.
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(30));
        if (register is null)
        {
            builder.Services.AddTinyProtoServer<RecordingServer, EchoConnection>(name);
        }
        else
        {
            register(builder.Services);
        }

        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.Listen(IPAddress.Loopback, 0);
            kestrel.Listen(IPAddress.Loopback, 0, listen => (tinyProto ?? (l => l.UseTinyProto(name)))(listen));
        });
        configure?.Invoke(builder);
        WebApplication app = builder.Build();
        app.MapGet("/active", (IServiceProvider services) => services.GetRequiredKeyedService<TinyProtoServer>(name).ActiveConnections.Count);
        return app;
    }

    /// <summary>The tinyproto port: the Kestrel endpoint the server lists among its bound endpoints.</summary>
    protected static int TinyProtoPort(WebApplication app, string name = "echo") =>
        ((IPEndPoint)app.Services.GetRequiredKeyedService<TinyProtoServer>(name).BoundEndPoints.Single()).Port;

    /// <summary>The HTTP address: Kestrel's other endpoint.</summary>
    protected static Uri HttpAddress(WebApplication app, string name = "echo")
    {
        int tinyProto = TinyProtoPort(app, name);
        string address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses
            .Single(a => new Uri(a).Port != tinyProto);
        return new Uri(address);
    }

    /// <summary>Echoes each message.</summary>
    public sealed class EchoConnection : TinyProtoConnection
    {
        protected override ValueTask TransmissionReceivedAsync(ReadOnlySequence<byte> message, CancellationToken cancellationToken) =>
            TransmitAsync(message.ToArray(), cancellationToken);
    }

    /// <summary>A server whose connection hooks record each connection they ran for.</summary>
    public sealed class RecordingServer(ILoggerFactory loggers) : TinyProtoServer(loggers)
    {
        public ConcurrentQueue<TinyProtoConnection> Initialised { get; } = new();

        public ConcurrentQueue<TinyProtoConnection> ShutDown { get; } = new();

        public TaskCompletionSource<TinyProtoConnection> FirstShutDown { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        protected override ValueTask ConnectionInitAsync(Guid id, TinyProtoConnection connection, CancellationToken cancellationToken)
        {
            Initialised.Enqueue(connection);
            return default;
        }

        protected override ValueTask ConnectionShutdownAsync(Guid id, TinyProtoConnection connection, CancellationToken cancellationToken)
        {
            ShutDown.Enqueue(connection);
            FirstShutDown.TrySetResult(connection);
            return default;
        }
    }
}
