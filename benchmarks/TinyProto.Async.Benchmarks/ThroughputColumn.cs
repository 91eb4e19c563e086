using System.Globalization;
using System.Reflection;
using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;

namespace TinyProto.Async.Benchmarks;

/// <summary>"MB/s": the payload bytes of one operation (<see cref="TransferredBytesAttribute"/>) divided by the mean time of one operation.</summary>
internal sealed class ThroughputColumn : IColumn
{
    public string Id => nameof(ThroughputColumn);

    public string ColumnName => "MB/s";

    public bool AlwaysShow => true;

    public ColumnCategory Category => ColumnCategory.Custom;

    public int PriorityInCategory => 0;

    public bool IsNumeric => true;

    public UnitType UnitType => UnitType.Dimensionless;

    public string Legend => "Payload megabytes (10^6 bytes) per second, one direction: bytes per operation / Mean";

    public bool IsAvailable(Summary summary) => true;

    public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase) => GetValue(summary, benchmarkCase, SummaryStyle.Default);

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style)
    {
        double? meanNanoseconds = summary[benchmarkCase]?.ResultStatistics?.Mean;
        long? bytes = BytesPerOperation(benchmarkCase);
        if (meanNanoseconds is not > 0 || bytes is null)
        {
            return "-";
        }

        double megabytesPerSecond = bytes.Value / (meanNanoseconds.Value / 1e9) / 1e6;
        return megabytesPerSecond.ToString("N1", style.CultureInfo ?? CultureInfo.InvariantCulture);
    }

    public override string ToString() => ColumnName;

    private static long? BytesPerOperation(BenchmarkCase benchmarkCase)
    {
        TransferredBytesAttribute? attribute = benchmarkCase.Descriptor.WorkloadMethod.GetCustomAttribute<TransferredBytesAttribute>();
        if (attribute?.ParameterName is not { } name)
        {
            return attribute?.BytesPerOperation;
        }

        return benchmarkCase.Parameters[name] is { } value ? Convert.ToInt64(value, CultureInfo.InvariantCulture) : null;
    }
}
