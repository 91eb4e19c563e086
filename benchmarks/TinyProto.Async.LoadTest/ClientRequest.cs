namespace TinyProto.Async.LoadTest;

/// <summary>
/// The client's options as given, before <see cref="ClientSettings.Create"/> checks them: null where an option was
/// not given. Filled from this tool's arguments (<see cref="Program"/>) or by the <c>tinyproto bench</c> command,
/// which runs the same workloads.
/// </summary>
internal sealed record ClientRequest(string Host, int Port, string? Mode)
{
    public long? Size { get; init; }

    public long? Count { get; init; }

    public double? DurationSeconds { get; init; }

    public int? Connections { get; init; }

    public bool Pipelined { get; init; }

    public bool Streamed { get; init; }

    public int? Window { get; init; }

    public int? Batch { get; init; }

    public int? Warmup { get; init; }

    public double? StallSeconds { get; init; }

    public int? ConnectConcurrency { get; init; }
}
