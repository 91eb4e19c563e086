using System.Buffers;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace TinyProto.Async.Tests.Hosting;

/// <summary>Real generic hosts with configuration in memory, and the services their connections take from DI.</summary>
public abstract class HostingTestBase : ConnectionTestBase
{
    /// <summary>A host builder whose configuration is <paramref name="settings"/>, logging nowhere.</summary>
    protected static HostApplicationBuilder NewHost(params (string Key, string? Value)[] settings)
    {
        HostApplicationBuilder builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Configuration.AddInMemoryCollection(settings.Select(s => new KeyValuePair<string, string?>(s.Key, s.Value)));
        return builder;
    }

    /// <summary>A singleton the connections greet with.</summary>
    public sealed class Greeting
    {
        public byte[] Text { get; init; } = "hello"u8.ToArray();
    }

    /// <summary>A scoped service: one per connection, disposed when the connection has ended.</summary>
    public sealed class PerConnection : IDisposable
    {
        private static int s_disposed;

        public static int Disposed => Volatile.Read(ref s_disposed);

        public void Dispose() => Interlocked.Increment(ref s_disposed);
    }

    /// <summary>Answers each message with the greeting from DI, then the message.</summary>
    public sealed class GreetingEcho(Greeting greeting, PerConnection scoped) : TinyProtoConnection
    {
        public PerConnection Scoped { get; } = scoped;

        protected override ValueTask TransmissionReceivedAsync(ReadOnlySequence<byte> message, CancellationToken cancellationToken) =>
            TransmitAsync((byte[])[.. greeting.Text, .. message.ToArray()], cancellationToken);
    }

    /// <summary>Holds each message in its hook until <see cref="Release"/>, then echoes it.</summary>
    public sealed class HeldEcho : TinyProtoConnection
    {
        public static readonly TaskCompletionSource Release = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public static readonly TaskCompletionSource Holding = new(TaskCreationOptions.RunContinuationsAsynchronously);

        protected override async ValueTask TransmissionReceivedAsync(ReadOnlySequence<byte> message, CancellationToken cancellationToken)
        {
            byte[] copy = message.ToArray();
            Holding.TrySetResult();
            await Release.Task.WaitAsync(cancellationToken);
            await TransmitAsync(copy, cancellationToken);
        }
    }

    protected static IServiceCollection AddGreetingServices(IServiceCollection services) =>
        services.AddSingleton<Greeting>().AddScoped<PerConnection>();
}
