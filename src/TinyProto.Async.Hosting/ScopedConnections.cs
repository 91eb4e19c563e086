using System.Collections.Concurrent;
using System.Diagnostics.CodeAnalysis;
using Microsoft.Extensions.DependencyInjection;

namespace TinyProto.Async.Hosting;

/// <summary>
/// Connections made through the container, each in a DI scope of its own that is disposed when the connection has
/// ended. One per server or client: its stop waits for the disposals still running (<see cref="DrainAsync"/>), so a
/// scoped service that flushes on dispose is done before the host goes on.
/// </summary>
internal sealed class ScopedConnections(IServiceScopeFactory scopes)
{
    private readonly ConcurrentDictionary<Task, bool> _disposals = new();

    /// <summary>A connection made in a scope of its own, which is disposed when the connection has ended.</summary>
    public TConnection Create<[DynamicallyAccessedMembers(DynamicallyAccessedMemberTypes.PublicConstructors)] TConnection>()
        where TConnection : TinyProtoConnection
    {
        AsyncServiceScope scope = scopes.CreateAsyncScope();
        try
        {
            TConnection connection = Factory<TConnection>.Create(scope.ServiceProvider, null);
            Track(DisposeWhenEndedAsync(connection, scope));
            return connection;
        }
        catch
        {
            Track(scope.DisposeAsync().AsTask());
            throw;
        }
    }

    /// <summary>Waits for the scopes of connections that have ended to be disposed.</summary>
    public Task DrainAsync(CancellationToken cancellationToken) =>
        Task.WhenAll(_disposals.Keys).WaitAsync(cancellationToken);

    private void Track(Task disposal)
    {
        _disposals[disposal] = true;
        _ = disposal.ContinueWith(static (t, s) => ((ConcurrentDictionary<Task, bool>)s!).TryRemove(t, out _), _disposals,
            CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
    }

    private static async Task DisposeWhenEndedAsync(TinyProtoConnection connection, AsyncServiceScope scope)
    {
        try
        {
            await connection.Completion.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }
        finally
        {
            await scope.DisposeAsync().ConfigureAwait(false);
        }
    }

    /// <summary>The constructor call of a connection class, worked out once (not per connection).</summary>
    private static class Factory<[DynamicallyAccessedMembers(DynamicallyAccessedMemberTypes.PublicConstructors)] TConnection>
        where TConnection : TinyProtoConnection
    {
        public static readonly ObjectFactory<TConnection> Create = ActivatorUtilities.CreateFactory<TConnection>(Type.EmptyTypes);
    }
}
