// A web app with a tinyproto port beside its HTTP port, in one Kestrel: HTTP endpoints list the tinyproto clients,
// show what each sent, and send to one or to all; metrics go to Prometheus (GET /metrics) and, with
// --console-telemetry, metrics and traces to the console. README.md beside this file has the commands.
using System.Net;
using System.Text;
using Microsoft.AspNetCore.Mvc;
using OpenTelemetry.Metrics;
using OpenTelemetry.Trace;
using TinyProto.Async;
using TinyProto.Async.AspNetCore;
using TinyProto.Async.Hosting;
using TinyProto.Samples.Web;

// The content root is where the app is (its appsettings.json), wherever it is started from.
WebApplicationBuilder builder = WebApplication.CreateBuilder(new WebApplicationOptions { Args = args, ContentRootPath = AppContext.BaseDirectory });
builder.Configuration.AddCommandLine(args, new Dictionary<string, string>
{
    ["--host"] = "Host",
    ["--http-port"] = "HttpPort",
    ["--tinyproto-port"] = "TinyProtoPort",
    ["--connection-limit"] = "TinyProto:Servers:board:ConnectionLimit",
    ["--console-telemetry"] = "ConsoleTelemetry",
});
IPAddress host = IPAddress.Parse(builder.Configuration["Host"] ?? "127.0.0.1");
int httpPort = builder.Configuration.GetValue("HttpPort", 8080);
int tinyProtoPort = builder.Configuration.GetValue("TinyProtoPort", 5000);

// The clock of the connections (BoardConnection's timestamps) and of the server's timeouts.
builder.Services.AddSingleton(TimeProvider.System);

// The tinyproto server: no endpoints of its own, Kestrel listens for it; options from configuration (appsettings.json).
builder.Services.AddTinyProtoServer<BoardConnection>("board").BindConfiguration("TinyProto:Servers:board");
builder.Services.AddHealthChecks().AddTinyProtoServer("board");
builder.WebHost.ConfigureKestrel(kestrel =>
{
    kestrel.Listen(host, httpPort);
    kestrel.Listen(host, tinyProtoPort, listen => listen.UseTinyProto("board"));
});

OpenTelemetry.OpenTelemetryBuilder telemetry = builder.Services.AddOpenTelemetry()
    .WithMetrics(metrics => metrics.AddMeter("TinyProto.Async").AddPrometheusExporter())
    .WithTracing(tracing => tracing.AddSource("TinyProto.Async"));
if (builder.Configuration.GetValue("ConsoleTelemetry", false))
{
    telemetry.WithMetrics(metrics => metrics.AddConsoleExporter()).WithTracing(tracing => tracing.AddConsoleExporter());
}

WebApplication app = builder.Build();

app.MapGet("/connections", ([FromKeyedServices("board")] TinyProtoServer board) =>
    board.ActiveConnections.Values.OfType<BoardConnection>().OrderBy(c => c.ConnectedAt).Select(c => new
    {
        c.Id,
        Remote = c.RemoteEndPoint?.ToString(),
        c.ConnectedAt,
        c.IsPipelined,
        c.Received,
    }));

app.MapGet("/connections/{id:guid}/messages", (Guid id, [FromKeyedServices("board")] TinyProtoServer board) =>
    board.ActiveConnections.TryGetValue(id, out TinyProtoConnection? connection)
        ? Results.Ok(((BoardConnection)connection).Messages)
        : Results.Problem($"No tinyproto connection {id} (it may have ended).", statusCode: StatusCodes.Status404NotFound));

// The request's body, as it came, is one tinyproto message to that client; 200 once the client has it (lock-step: its OK).
app.MapPost("/connections/{id:guid}/messages", async (Guid id, HttpRequest request, [FromKeyedServices("board")] TinyProtoServer board, CancellationToken cancellationToken) =>
{
    if (!board.ActiveConnections.TryGetValue(id, out TinyProtoConnection? connection))
    {
        return Results.Problem($"No tinyproto connection {id} (it may have ended).", statusCode: StatusCodes.Status404NotFound);
    }

    byte[] message = await ReadBodyAsync(request, connection.Options.MaxMessageSize, cancellationToken);
    try
    {
        await connection.TransmitAsync(message, cancellationToken);
        return Results.Ok(new { Sent = message.Length });
    }
    catch (TinyProtoException ex)
    {
        return Results.Problem(ex.Message, statusCode: StatusCodes.Status502BadGateway, title: $"Not delivered: {ex.Error}");
    }
});

app.MapPost("/broadcast", async (HttpRequest request, [FromKeyedServices("board")] TinyProtoServer board, CancellationToken cancellationToken) =>
{
    byte[] message = await ReadBodyAsync(request, board.ConnectionOptions.MaxMessageSize, cancellationToken);
    TinyProtoConnection[] all = [.. board.ActiveConnections.Values];
    bool[] delivered = await Task.WhenAll(all.Select(async connection =>
    {
        try
        {
            await connection.TransmitAsync(message, cancellationToken);
            return true;
        }
        catch (TinyProtoException)
        {
            return false;
        }
    }));
    return Results.Ok(new { Sent = delivered.Count(d => d), Failed = delivered.Count(d => !d) });
});

app.MapHealthChecks("/health");
app.MapPrometheusScrapingEndpoint();

await app.StartAsync();
TinyProtoServer board = app.Services.GetRequiredKeyedService<TinyProtoServer>("board");
EndPoint[] tinyProto = [.. board.BoundEndPoints];
foreach (string url in app.Urls.Where(u => !tinyProto.OfType<IPEndPoint>().Any(e => e.Port == new Uri(u).Port)))
{
    Console.WriteLine($"http on {url}");
}

foreach (EndPoint endPoint in tinyProto)
{
    Console.WriteLine($"tinyproto on {endPoint}");
}

// Ctrl+C or SIGTERM: Kestrel asks every connection to close; the board server stops each gracefully.
await app.WaitForShutdownAsync();
Console.WriteLine("stopped");

static async Task<byte[]> ReadBodyAsync(HttpRequest request, long maxMessageSize, CancellationToken cancellationToken)
{
    using var body = new MemoryStream();
    await request.Body.CopyToAsync(body, cancellationToken);
    if (body.Length > maxMessageSize)
    {
        throw new BadHttpRequestException($"The message is {body.Length} bytes; the server's MaxMessageSize is {maxMessageSize}.", StatusCodes.Status413PayloadTooLarge);
    }

    return body.ToArray();
}
