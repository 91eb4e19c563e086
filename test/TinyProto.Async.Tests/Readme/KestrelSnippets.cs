using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using TinyProto.Async.AspNetCore;
using TinyProto.Async.Hosting;

namespace TinyProto.Async.Tests.Readme;

// The README's "In Kestrel, beside HTTP" code, compiled and run by ReadmeSnippetTests.

/// <summary>The README's web app: HTTP and tinyproto endpoints in one Kestrel, one injectable server behind the second.</summary>
internal static class KestrelSnippets
{
    public static WebApplication Build(WebApplicationBuilder builder, int httpPort, int tinyProtoPort)
    {
        // <readme:kestrel>
        builder.Services.AddTinyProtoServer<EchoConnection>("echo", (_, server) => server.ConnectionLimit = 1000);
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.Listen(IPAddress.Loopback, httpPort);                                        // HTTP
            kestrel.Listen(IPAddress.Loopback, tinyProtoPort, listen => listen.UseTinyProto("echo"));  // tinyproto
        });
        WebApplication app = builder.Build();
        app.MapGet("/connections", ([FromKeyedServices("echo")] TinyProtoServer echo) =>
            echo.ActiveConnections.Values.Select(c => c.RemoteEndPoint?.ToString()));
        // </readme:kestrel>
        return app;
    }
}
