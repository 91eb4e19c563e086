using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;

namespace TinyProto.Async.Tests;

/// <summary>
/// The web sample (samples/TinyProto.Samples.Web) as a real process: Kestrel serves HTTP and a tinyproto port; the HTTP
/// endpoints list a tinyproto client, show what it sent and send to it; Prometheus reads the TinyProto.Async meter; SIGTERM
/// with a client connected stops it gracefully in well under five seconds.
/// </summary>
public sealed class WebSampleTests : ConnectionTestBase
{
    private const string Sample = "TinyProto.Samples.Web";

    public WebSampleTests()
        : base(TimeSpan.FromSeconds(90))
    {
    }

    [Fact]
    public async Task HttpEndpoints_ListAClient_ShowWhatItSent_SendToIt_AndExportItsMetrics_ThenSigtermEndsItCleanly()
    {
        await using ToolProcess web = ToolProcess.Start(Sample, "--http-port", "0", "--tinyproto-port", "0");
        var http = new HttpClient { BaseAddress = new Uri((await web.WaitForLineAsync("http on ", TimeoutToken))["http on ".Length..]) };
        string tinyProto = (await web.WaitForLineAsync("tinyproto on ", TimeoutToken))["tinyproto on ".Length..];
        int port = int.Parse(tinyProto[(tinyProto.LastIndexOf(':') + 1)..], CultureInfo.InvariantCulture);
        await using var client = new TinyProtoClient();
        TinyProtoConnection connection = await Bounded(client.ConnectAsync("127.0.0.1", port, TimeoutToken));
        await Bounded(connection.TransmitAsync("hello from tinyproto"u8.ToArray(), TimeoutToken).AsTask());

        JsonElement listed = Assert.Single((await Bounded(http.GetFromJsonAsync<JsonElement>("/connections", TimeoutToken))).EnumerateArray());
        Assert.Equal(connection.LocalEndPoint!.ToString(), listed.GetProperty("remote").GetString());
        Assert.Equal(1, listed.GetProperty("received").GetInt64());
        string id = listed.GetProperty("id").GetString()!;
        JsonElement sent = Assert.Single((await Bounded(http.GetFromJsonAsync<JsonElement>($"/connections/{id}/messages", TimeoutToken))).EnumerateArray());
        Assert.Equal("hello from tinyproto", sent.GetProperty("text").GetString());

        using (HttpResponseMessage posted = await Bounded(http.PostAsync($"/connections/{id}/messages", new StringContent("from http", Encoding.UTF8), TimeoutToken)))
        {
            Assert.Equal(HttpStatusCode.OK, posted.StatusCode);
        }

        Assert.Equal("from http", Encoding.UTF8.GetString(await Bounded(connection.ReceiveAsync(TimeoutToken).AsTask())));
        using (HttpResponseMessage broadcast = await Bounded(http.PostAsync("/broadcast", new StringContent("to all"), TimeoutToken)))
        {
            Assert.Equal(1, (await broadcast.Content.ReadFromJsonAsync<JsonElement>(TimeoutToken)).GetProperty("sent").GetInt32());
        }

        Assert.Equal("to all", Encoding.UTF8.GetString(await Bounded(connection.ReceiveAsync(TimeoutToken).AsTask())));
        using (HttpResponseMessage unknown = await Bounded(http.PostAsync($"/connections/{Guid.NewGuid()}/messages", new StringContent("x"), TimeoutToken)))
        {
            Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);
        }

        Assert.Equal("Healthy", await Bounded(http.GetStringAsync("/health", TimeoutToken)));
        string metrics = await Bounded(http.GetStringAsync("/metrics", TimeoutToken));
        Assert.Contains("tinyproto_server_active_connections", metrics, StringComparison.Ordinal);
        Assert.Contains("tinyproto_received_messages", metrics, StringComparison.Ordinal);
        Assert.Contains("tinyproto_sent_messages", metrics, StringComparison.Ordinal);

        var watch = Stopwatch.StartNew();
        int exitCode = await web.TerminateAsync(TimeoutToken);
        watch.Stop();

        Assert.True(exitCode == 0, $"exit code {exitCode}; stderr:\n{web.Stderr}");
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(5), $"The app took {watch.Elapsed} to stop.");
        Assert.Equal("stopped", web.Stdout.Last());
        await Bounded(connection.Completion);
        Assert.Equal(TinyProtoCloseReason.PeerClosed, connection.CloseReason);
    }
}
