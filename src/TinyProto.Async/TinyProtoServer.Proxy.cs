using System.Diagnostics;
using System.Net.Sockets;
using TinyProto.Async.Protocol;
using TinyProto.Async.Transport;

namespace TinyProto.Async;

/// <summary>The PROXY protocol on the server's addresses that have it (<see cref="TinyProtoProxyProtocolOptions"/>): reading each socket's header.</summary>
public partial class TinyProtoServer
{
    /// <summary>
    /// Reads the PROXY protocol header a socket on a proxied listener begins with, within the server's connection
    /// <see cref="TinyProtoConnectionOptions.Timeout"/> and its stop. False when there was none to be had: logged,
    /// counted, the socket closed.
    /// </summary>
    private async Task<bool> ReceiveProxyHeaderAsync(AcceptedSocket peer, TagList tags)
    {
        string? proxy = peer.RemoteEndPoint?.ToString();
        TimeSpan timeout = _factory.Options.Timeout;
        using var timer = new CancellationTokenSource(timeout, _factory.Options.TimeProvider);
        using CancellationTokenSource limit = CancellationTokenSource.CreateLinkedTokenSource(_stopping.Token, timer.Token);

        string error;
        try
        {
            (ProxyHeader? header, string? invalid) = await ProxyHeaderReceiver.ReceiveAsync(peer.Socket, peer.Proxy!.MaxV2HeaderLength, limit.Token).ConfigureAwait(false);
            if (header is not null)
            {
                peer.Forwarded(header);
                return true;
            }

            error = invalid!;
        }
        catch (OperationCanceledException) when (_stopping.IsCancellationRequested)
        {
            peer.Close();
            return false;
        }
        catch (OperationCanceledException)
        {
            error = string.Create(System.Globalization.CultureInfo.InvariantCulture, $"no complete PROXY protocol header arrived within {timeout.TotalSeconds:0.###} s (ConnectionOptions.Timeout)");
        }
        catch (SocketException ex)
        {
            error = $"the socket failed while its PROXY protocol header was read: {ex.Message}";
        }

        Log.ProxyHeaderRefused(_logger, proxy, error);
        _metrics.Rejected(tags, "proxy_header");
        peer.Close();
        return false;
    }
}
