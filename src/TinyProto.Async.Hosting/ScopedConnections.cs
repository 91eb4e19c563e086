using System.Diagnostics.CodeAnalysis;
using Microsoft.Extensions.DependencyInjection;

namespace TinyProto.Async.Hosting;

/// <summary>Connections made through the container, each in a DI scope of its own that ends when the connection has ended.</summary>
internal static class ScopedConnections
{
    /// <summary>A connection made in a scope of its own, which is disposed when the connection has ended.</summary>
    public static TConnection Create<[DynamicallyAccessedMembers(DynamicallyAccessedMemberTypes.PublicConstructors)] TConnection>(IServiceScopeFactory scopes)
        where TConnection : TinyProtoConnection
    {
        AsyncServiceScope scope = scopes.CreateAsyncScope();
        try
        {
            TConnection connection = ActivatorUtilities.CreateInstance<TConnection>(scope.ServiceProvider);
            _ = DisposeWhenEndedAsync(connection, scope);
            return connection;
        }
        catch
        {
            _ = scope.DisposeAsync().AsTask();
            throw;
        }
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
}
