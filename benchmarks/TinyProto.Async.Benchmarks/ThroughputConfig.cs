using BenchmarkDotNet.Configs;

namespace TinyProto.Async.Benchmarks;

/// <summary>Adds the <see cref="ThroughputColumn"/> to a benchmark class: <c>[Config(typeof(ThroughputConfig))]</c>.</summary>
public sealed class ThroughputConfig : ManualConfig
{
    public ThroughputConfig()
    {
        AddColumn(new ThroughputColumn());
    }
}
