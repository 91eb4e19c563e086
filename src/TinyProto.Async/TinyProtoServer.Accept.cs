using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using TinyProto.Async.Diagnostics;
using TinyProto.Async.Protocol;
using TinyProto.Async.Transport;

namespace TinyProto.Async;

public partial class TinyProtoServer
{
    private async Task BindAsync(string host, int port, ProxyTrust? proxy, CancellationToken cancellationToken)
    {
        IPAddress[] addresses = IPAddress.TryParse(host, out IPAddress? literal)
            ? [literal]
            : await TinyProtoClient.ResolveAsync(host, cancellationToken).ConfigureAwait(false);
        if (addresses.Length == 0)
        {
            throw new SocketException((int)SocketError.HostNotFound, $"Cannot listen on {host}:{port}: the name resolves to no address.");
        }

        int chosenPort = port;
        foreach (IPAddress address in addresses)
        {
            var listener = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
            try
            {
                // With port 0, every address of one name shares the port picked for the first.
                listener.Bind(new IPEndPoint(address, chosenPort));
                listener.Listen(512);
            }
            catch (SocketException ex)
            {
                // Name the address, with the operating system's words for why ("Address already in use").
                listener.Dispose();
                throw new SocketException((int)ex.SocketErrorCode, $"Cannot listen on {new IPEndPoint(address, chosenPort)}: {new SocketException((int)ex.SocketErrorCode).Message}");
            }
            catch
            {
                listener.Dispose();
                throw;
            }

            var bound = (IPEndPoint)listener.LocalEndPoint!;
            chosenPort = bound.Port;
            lock (_listeners)
            {
                _listeners.Add((listener, proxy));
                lock (_boundEndPoints)
                {
                    _boundEndPoints.Add(bound);
                }

                if (_stopping.IsCancellationRequested)
                {
                    // Stopped meanwhile: StopAsync closed the listeners it saw; this one it did not.
                    listener.Dispose();
                }
            }
        }
    }

    private async Task AcceptLoopAsync(Socket listener, ProxyTrust? proxy)
    {
        // Accepts that complete at once (a backlog of waiting clients) must not run on StartAsync's thread.
        await Task.Yield();
        CancellationToken stopping = _stopping.Token;
        int backoffMilliseconds = 0;
        while (!stopping.IsCancellationRequested)
        {
            Socket socket;
            try
            {
                socket = await listener.AcceptAsync(stopping).ConfigureAwait(false);
            }
            catch (Exception) when (stopping.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex)
            {
                // One client's failed accept, a momentary lack of descriptors or a network error must not stop the
                // server: log it and try again, backing off from 10 ms to 1 s while the failures go on.
                backoffMilliseconds = Math.Clamp(backoffMilliseconds * 2, 10, 1000);
                Log.AcceptFailed(_logger, listener.LocalEndPoint?.ToString() ?? "?", ex);
                try
                {
                    await Task.Delay(backoffMilliseconds, stopping).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    return;
                }

                continue;
            }

            backoffMilliseconds = 0;
            Track(ServeAsync(socket, proxy));
        }
    }

    private async Task ServeAsync(Socket socket, ProxyTrust? proxy)
    {
        // Off the accept loop first: nothing about one socket (reading its endpoints may throw) can stop the loop.
        await Task.Yield();
        AcceptedSocket peer;
        try
        {
            peer = new AcceptedSocket(socket, proxy);
        }
        catch (Exception ex)
        {
            Log.AcceptFailed(_logger, "?", ex);
            socket.Dispose();
            return;
        }

        if (proxy is not null && !proxy.Trusts((peer.RemoteEndPoint as IPEndPoint)?.Address))
        {
            // Only a trusted proxy may say whom it forwards: anyone else is closed at once, holding nothing.
            Log.UntrustedProxy(_logger, peer.RemoteEndPoint?.ToString(), peer.LocalEndPoint?.ToString());
            _metrics.Rejected(ServerMetrics.Tags(peer.LocalEndPoint), "untrusted_proxy");
            peer.Close();
            return;
        }

        await ServeAsync(peer, null, default).ConfigureAwait(false);
    }

    private async Task ServeAsync(AcceptedPeer peer, Func<TinyProtoConnection>? handler, CancellationToken closeRequested)
    {
        System.Diagnostics.TagList tags = ServerMetrics.Tags(peer.LocalEndPoint);
        if (_admission.TryBeginPending() is not { } pending)
        {
            Log.PendingHandshakesLimitReached(_logger, peer.RemoteEndPoint?.ToString(), _admission.MaxPending ?? 0);
            _metrics.Rejected(tags, "pending_handshakes_limit");
            await peer.RefuseAtOnceAsync().ConfigureAwait(false);
            return;
        }

        using ConnectionAdmission.Ticket ticket = pending;
        if (peer is AcceptedSocket { Proxy: not null } proxied && !await ReceiveProxyHeaderAsync(proxied, tags).ConfigureAwait(false))
        {
            return;
        }

        // Behind a proxy, the client's address (from its header) is what counts towards MaxConnectionsPerRemoteAddress.
        string? remote = peer.RemoteEndPoint?.ToString();
        IPAddress? address = (peer.RemoteEndPoint as IPEndPoint)?.Address;
        if (!ticket.TryClaimAddress(address))
        {
            Log.AddressLimitReached(_logger, remote, address!.ToString(), _admission.MaxPerAddress ?? 0);
            _metrics.Rejected(tags, "address_limit");
            await peer.RefuseAsync().ConfigureAwait(false);
            return;
        }

        TinyProtoConnection connection;
        try
        {
            connection = _factory.Create(handler);
        }
        catch (Exception ex)
        {
            Log.ServerHookFailed(_logger, "SetConnectionHandler factory", ex);
            peer.Close();
            return;
        }

        peer.Prepare(connection.Options);
        connection.AbortTarget = peer.AbortTarget;
        connection.LocalEndPoint = peer.LocalEndPoint;
        connection.RemoteEndPoint = peer.RemoteEndPoint;
        connection.ProxyEndPoint = peer.ProxyEndPoint;
        connection.Admit = ticket.TryTakeSlot;

        // The other server's close request is this server's stop, for this one connection.
        using CancellationTokenSource? handshakeStop = closeRequested.CanBeCanceled ? CancellationTokenSource.CreateLinkedTokenSource(_stopping.Token, closeRequested) : null;
        try
        {
            using Activity? activity = Tracing.StartAccept(peer.LocalEndPoint, peer.RemoteEndPoint);
            if (!await HandshakeAsync(connection, peer, remote, tags, activity, handshakeStop?.Token ?? _stopping.Token).ConfigureAwait(false))
            {
                return;
            }

            activity?.SetTag("tinyproto.connection.id", connection.Id.ToString()).SetTag("tinyproto.pipelined", connection.IsPipelined);
        }
        finally
        {
            ticket.EndHandshake();
        }

        long started = Stopwatch.GetTimestamp();
        _metrics.ConnectionStarted(tags);
        try
        {
            using CancellationTokenRegistration stopWhenAsked = closeRequested.CanBeCanceled
                ? closeRequested.UnsafeRegister(static s => ((TinyProtoServer)((object[])s!)[0]).StopOne((TinyProtoConnection)((object[])s!)[1]), new object[] { this, connection })
                : default;
            await RunConnectionAsync(connection, peer).ConfigureAwait(false);
        }
        finally
        {
            _metrics.ConnectionEnded(tags, Stopwatch.GetElapsedTime(started), connection);
        }
    }

    /// <summary>
    /// The TLS handshake (when on) and the opening handshake of an accepted socket, inside its admission ticket's
    /// handshake (a TLS handshake counts as pending, and holds no connection slot). False when it failed: logged,
    /// counted, traced, the socket closed.
    /// </summary>
    private async Task<bool> HandshakeAsync(TinyProtoConnection connection, AcceptedPeer peer, string? remote, TagList tags, Activity? activity, CancellationToken stopping)
    {
        try
        {
            if (await OpenTransportAsync(peer, connection, remote).ConfigureAwait(false) is not { } transport)
            {
                activity?.SetStatus(ActivityStatusCode.Error, "The TLS handshake failed.");
                connection.Discard();
                peer.Close();
                return false;
            }

            await connection.HandshakeAsync(transport, TinyProtoRole.Server, stopping).ConfigureAwait(false);
            return true;
        }
        catch (TinyProtoException ex) when (ex.Error == TinyProtoError.ConnectionLimitReached)
        {
            // The handshake answered 0xFE: every slot is taken by an established connection.
            Log.ConnectionLimitReached(_logger, remote, _admission.ConnectionLimit ?? 0);
            _metrics.Rejected(tags, "connection_limit");
            Tracing.Fail(activity, ex);
            connection.Discard();
            peer.Close();
            return false;
        }
        catch (Exception ex) when (peer is AcceptedSocket { IsProxyLocal: true })
        {
            // The proxy's own connection, not a client's: its health check (HAProxy's check with send-proxy-v2 sends a
            // LOCAL header, then resets). Not a failed handshake.
            Log.ProxyHealthCheck(_logger, remote, ex.Message);
            connection.Discard();
            peer.Close();
            return false;
        }
        catch (Exception ex)
        {
            Log.HandshakeFailed(_logger, remote, ex);
            _metrics.HandshakeFailed(tags, ex);
            Tracing.Fail(activity, ex);
            connection.Discard();
            peer.Close();
            return false;
        }
    }

    private async Task RunConnectionAsync(TinyProtoConnection connection, AcceptedPeer peer)
    {
        // The connection leaves the list before its Completion completes: whoever awaited Completion never finds it here.
        connection.Ending = () => _active.TryRemove(connection.Id, out _);
        _active[connection.Id] = connection;
        try
        {
            try
            {
                await ConnectionInitAsync(connection.Id, connection, _stopping.Token).ConfigureAwait(false);
            }
            catch (Exception ex)
            {
                Log.ServerHookFailed(_logger, nameof(ConnectionInitAsync), ex);
                _active.TryRemove(connection.Id, out _);
                await connection.AbandonAsync().ConfigureAwait(false);
                peer.Close();
                return;
            }

            connection.StartLoops();
            if (_stopping.IsCancellationRequested)
            {
                connection.Abort();
            }

            try
            {
                await connection.Completion.ConfigureAwait(false);
            }
            catch (Exception)
            {
                // The connection logged what ended it; it never ends the server.
            }
            finally
            {
                peer.Close();
            }
        }
        finally
        {
            try
            {
                await ConnectionShutdownAsync(connection.Id, connection, CancellationToken.None).ConfigureAwait(false);
            }
            catch (Exception ex)
            {
                Log.ServerHookFailed(_logger, nameof(ConnectionShutdownAsync), ex);
            }
        }
    }

    private async Task StopCoreAsync()
    {
        try
        {
            await _stopping.CancelAsync().ConfigureAwait(false);
            CloseListeners();
            foreach (TinyProtoConnection connection in _active.Values)
            {
                // Accepted messages are still delivered and answered; new ones are not accepted (README "Stopping").
                connection.BeginStop();
            }

            // A peer Kestrel handed over just as the stop began may be tracked after a first look: look again until none is left.
            Task deadline = Task.Delay(_stopTimeout);
            Task all = Task.WhenAll(_handlers.Keys);
            while (await Task.WhenAny(all, deadline).ConfigureAwait(false) == all && _handlers.Keys.Any(static t => !t.IsCompleted))
            {
                all = Task.WhenAll(_handlers.Keys);
            }

            if (!all.IsCompleted)
            {
                foreach (TinyProtoConnection connection in _active.Values)
                {
                    Log.Aborted(_logger, connection.Id);
                    connection.Abort();
                }

                await Task.WhenAny(Task.WhenAll(_handlers.Keys), Task.Delay(TimeSpan.FromSeconds(1))).ConfigureAwait(false);
            }

            await _mainLoop.StopAsync().ConfigureAwait(false);
        }
        finally
        {
            _mainLoop.Dispose();
            _stopped.TrySetResult();
        }
    }

    /// <summary>
    /// Aborts every connection now (their transports cut), as the stop deadline would: for a host whose own shutdown
    /// deadline came first. The stop in progress then ends at once.
    /// </summary>
    internal void AbortConnections()
    {
        foreach (TinyProtoConnection connection in _active.Values)
        {
            Log.Aborted(_logger, connection.Id);
            connection.Abort();
        }
    }

    private void CloseListeners()
    {
        lock (_listeners)
        {
            foreach ((Socket listener, _) in _listeners)
            {
                listener.Dispose();
            }
        }
    }
}
