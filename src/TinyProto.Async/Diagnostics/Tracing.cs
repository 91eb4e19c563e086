using System.Diagnostics;
using System.Net;

namespace TinyProto.Async.Diagnostics;

/// <summary>
/// The <c>TinyProto.Async</c> activity source: spans around what takes a round trip or more and is worth tracing, a
/// client's connect (<c>tinyproto.connect</c>), a server's handshake with a client (<c>tinyproto.accept</c>) and a
/// request with its reply (<c>tinyproto.request</c>), and each transmission (<c>tinyproto.transmit</c>) while a listener
/// samples them: without one, a transmission costs a <see cref="ActivitySource.HasListeners"/> check. Attributes after the OpenTelemetry conventions: <c>network.transport</c>,
/// <c>server.address</c>, <c>server.port</c>, <c>client.address</c>, <c>error.type</c>.
/// </summary>
internal static class Tracing
{
    public static readonly ActivitySource Source = new(TinyProtoMeter.Name, typeof(Tracing).Assembly.GetName().Version?.ToString());

    /// <summary>Starts a client-side span towards <paramref name="host"/>:<paramref name="port"/>; null when nobody listens.</summary>
    public static Activity? StartConnect(string host, int port)
    {
        Activity? activity = Source.StartActivity("tinyproto.connect", ActivityKind.Client);
        activity?.SetTag("network.transport", "tcp").SetTag("server.address", host).SetTag("server.port", port);
        return activity;
    }

    /// <summary>Starts a server-side span for a client's handshake; null when nobody listens.</summary>
    public static Activity? StartAccept(EndPoint? local, EndPoint? remote)
    {
        Activity? activity = Source.StartActivity("tinyproto.accept", ActivityKind.Server);
        if (activity is not null)
        {
            activity.SetTag("network.transport", ServerMetrics.TransportOf(local));
            if (local is IPEndPoint server)
            {
                activity.SetTag("server.address", server.Address.ToString()).SetTag("server.port", server.Port);
            }

            if (remote is IPEndPoint client)
            {
                activity.SetTag("client.address", client.Address.ToString()).SetTag("client.port", client.Port);
            }
        }

        return activity;
    }

    /// <summary>Starts a span for one request and its reply; null when nobody listens.</summary>
    public static Activity? StartRequest(TinyProtoConnection connection, int length)
    {
        Activity? activity = Source.StartActivity("tinyproto.request", ActivityKind.Client);
        activity?.SetTag("network.transport", "tcp").SetTag("tinyproto.connection.id", connection.Id.ToString())
            .SetTag("tinyproto.request.size", length).SetTag("tinyproto.pipelined", connection.IsPipelined);
        return activity;
    }

    /// <summary>
    /// Starts a span for one transmission (<c>tinyproto.transmit</c>, producer kind), ended when the transmission
    /// completes; null when nobody listens or samples it. The span does not become the caller's current activity: the
    /// transmission goes on after <c>TransmitAsync</c> returns, and what the caller does next is not part of it.
    /// </summary>
    public static Activity? StartTransmit(TinyProtoConnection connection, long length)
    {
        if (!Source.HasListeners())
        {
            return null;
        }

        Activity? caller = Activity.Current;
        Activity? activity = Source.StartActivity("tinyproto.transmit", ActivityKind.Producer);
        if (activity is not null)
        {
            activity.SetTag("tinyproto.connection.id", connection.Id.ToString()).SetTag("tinyproto.message.size", length)
                .SetTag("tinyproto.pipelined", connection.IsPipelined);
            Activity.Current = caller;
        }

        return activity;
    }

    /// <summary>Marks <paramref name="activity"/> failed with <paramref name="error"/>.</summary>
    public static void Fail(Activity? activity, Exception error)
    {
        if (activity is not null)
        {
            activity.SetStatus(ActivityStatusCode.Error, error.Message);
            activity.SetTag("error.type", ErrorType.Of(error));
        }
    }
}
