#pragma warning disable CA1848, CA1873 // README code: the plain logging calls a reader writes.

using System.Buffers;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using TinyProto.Async.Hosting;

namespace TinyProto.Async.Tests.Readme;

// The README's "In the generic host" code, compiled and run by ReadmeSnippetTests.

/// <summary>The README's hosted echo server and the service that uses a hosted client.</summary>
internal static class HostingSnippets
{
    public static IHost Build(HostApplicationBuilder builder)
    {
        // <readme:hosting>
        // appsettings.json: "TinyProto": { "Servers": { "echo": { "Endpoints": [ "127.0.0.1:5000" ], "IdleTimeout": "00:05:00" } },
        //                                  "Clients": { "store": { "Server": "127.0.0.1:6000" } } }
        builder.Services.AddTinyProtoServer<EchoConnection>("echo").BindConfiguration("TinyProto:Servers:echo");
        builder.Services.AddTinyProtoClient("store").BindConfiguration("TinyProto:Clients:store");
        builder.Services.AddHealthChecks().AddTinyProtoServer("echo");   // healthy while listening, unhealthy while draining
        builder.Services.AddSingleton<StoreUser>();
        IHost host = builder.Build();   // host.RunAsync(): the server starts with the host and stops gracefully with it
        // </readme:hosting>
        return host;
    }
}

// <readme:hosting-types>
public sealed class EchoConnection(ILogger<EchoConnection> logger) : TinyProtoConnection   // made through DI, a scope per connection
{
    protected override ValueTask TransmissionReceivedAsync(ReadOnlySequence<byte> message, CancellationToken cancellationToken)
    {
        logger.LogDebug("{Length} bytes", message.Length);
        return TransmitAsync(message, cancellationToken);
    }
}

public sealed class StoreUser([FromKeyedServices("store")] TinyProtoReconnectingConnection store)
{
    public async Task<byte[]> AskAsync(byte[] request, CancellationToken cancellationToken) =>
        await store.RequestAsync(request, TimeSpan.FromSeconds(2), cancellationToken);
}
// </readme:hosting-types>
