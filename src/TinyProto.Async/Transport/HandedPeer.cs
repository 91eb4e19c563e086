using System.IO.Pipelines;
using System.Net;
using TinyProto.Async.Protocol;

namespace TinyProto.Async.Transport;

/// <summary>
/// A transport another server accepted and handed over (Kestrel's <c>ConnectionContext</c>): its pipes, its endpoints,
/// and how that server cuts it. That server owns the socket and releases it once the serving task returns.
/// </summary>
/// <param name="transport">The connection's pipes.</param>
/// <param name="localEndPoint">Where the peer connected to.</param>
/// <param name="remoteEndPoint">The peer's address.</param>
/// <param name="abort">Cuts the transport at once (Kestrel: <c>ConnectionContext.Abort</c>).</param>
internal sealed class HandedPeer(IDuplexPipe transport, EndPoint? localEndPoint, EndPoint? remoteEndPoint, Action abort) : AcceptedPeer, IDisposable
{
    /// <summary>How long a refusal waits for the peer to take its one byte.</summary>
    private static readonly TimeSpan s_refusalBound = TimeSpan.FromSeconds(1);

    public IDuplexPipe Transport { get; } = transport;

    public override EndPoint? LocalEndPoint { get; } = localEndPoint;

    public override EndPoint? RemoteEndPoint { get; } = remoteEndPoint;

    public override IDisposable AbortTarget => this;

    /// <summary>The abort, as <see cref="AbortTarget"/>.</summary>
    public void Dispose() => abort();

    public override Task RefuseAtOnceAsync() => AnswerAndCloseAsync(readFirst: false);

    public override Task RefuseAsync() => AnswerAndCloseAsync(readFirst: true);

    public override void Close()
    {
        Transport.Input.Complete();
        Transport.Output.Complete();
    }

    private async Task AnswerAndCloseAsync(bool readFirst)
    {
        using var bound = new CancellationTokenSource(s_refusalBound);
        try
        {
            if (readFirst)
            {
                try
                {
                    ReadResult read = await Transport.Input.ReadAsync(bound.Token).ConfigureAwait(false);
                    Transport.Input.AdvanceTo(read.Buffer.End);
                }
                catch (OperationCanceledException)
                {
                    // A client that sends nothing still gets the answer.
                }
            }

            using var answer = new CancellationTokenSource(s_refusalBound);
            await Transport.Output.WriteAsync(new[] { Handshake.ConnectionLimitAnswer }, answer.Token).ConfigureAwait(false);
        }
        catch (Exception)
        {
            // The client is gone already, or does not read: either way it is closed now.
        }
        finally
        {
            Close();
        }
    }
}
