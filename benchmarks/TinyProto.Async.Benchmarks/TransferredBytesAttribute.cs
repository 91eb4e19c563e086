namespace TinyProto.Async.Benchmarks;

/// <summary>
/// How many payload bytes one operation of a benchmark moves, for <see cref="ThroughputColumn"/>: a fixed count,
/// or the value of a byte-size parameter.
/// </summary>
[AttributeUsage(AttributeTargets.Method)]
public sealed class TransferredBytesAttribute : Attribute
{
    public TransferredBytesAttribute(long bytesPerOperation)
    {
        BytesPerOperation = bytesPerOperation;
    }

    public TransferredBytesAttribute(string parameterName)
    {
        ParameterName = parameterName;
    }

    /// <summary>The fixed count, when <see cref="ParameterName"/> is null.</summary>
    public long BytesPerOperation { get; }

    /// <summary>The [Params] member whose value is the count.</summary>
    public string? ParameterName { get; }
}
