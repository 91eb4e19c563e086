using System.Diagnostics.Metrics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;

namespace TinyProto.Async.Tests;

/// <summary>
/// A meter factory of a test's own (as a host's container has one) and collectors of its <c>TinyProto.Async</c>
/// instruments: what other tests record, on the library's shared meter or factories of theirs, never shows here.
/// </summary>
internal sealed class TestMeters : IDisposable
{
    private readonly ServiceProvider _container = new ServiceCollection().AddMetrics().BuildServiceProvider();
    private readonly List<IDisposable> _collectors = [];

    public IMeterFactory Factory => _container.GetRequiredService<IMeterFactory>();

    /// <summary>Collects every measurement of <paramref name="instrument"/> from now on.</summary>
    public MetricCollector<T> Collect<T>(string instrument)
        where T : struct
    {
        var collector = new MetricCollector<T>(Factory, "TinyProto.Async", instrument);
        _collectors.Add(collector);
        return collector;
    }

    public void Dispose()
    {
        foreach (IDisposable collector in _collectors)
        {
            collector.Dispose();
        }

        _container.Dispose();
    }
}
