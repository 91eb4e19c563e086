using System.Diagnostics.Metrics;

namespace TinyProto.Async.Diagnostics;

/// <summary>
/// The <c>TinyProto.Async</c> meter: from a host's <see cref="IMeterFactory"/> (which hands out one meter per name, so
/// a server's or client's connection instruments and its messages' share it), else one of the library's own.
/// </summary>
internal static class TinyProtoMeter
{
    /// <summary>The meter's name, also of the activity source.</summary>
    public const string Name = "TinyProto.Async";

    /// <summary>
    /// The buckets of the OpenTelemetry messaging conventions (<c>messaging.client.operation.duration</c>), in seconds:
    /// a message's exchange takes from well under a millisecond to a few seconds.
    /// </summary>
    public static readonly double[] OperationBuckets = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10];

    /// <summary>The buckets of Kestrel's <c>kestrel.connection.duration</c>, in seconds: connections live for minutes.</summary>
    public static readonly double[] ConnectionBuckets = [0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 30, 60, 120, 300];

    private static readonly Lazy<Meter> s_shared = new(() => new Meter(Name, typeof(TinyProtoMeter).Assembly.GetName().Version?.ToString()));

    /// <summary>The meter of <paramref name="factory"/>, or the library's own without one.</summary>
    public static Meter Get(IMeterFactory? factory) => factory?.Create(new MeterOptions(Name)) ?? s_shared.Value;

    /// <summary>
    /// A histogram of durations in seconds, with <paramref name="buckets"/> as its advised bucket boundaries where the
    /// runtime can say so (<c>InstrumentAdvice</c>, from System.Diagnostics.DiagnosticSource 9: the net10.0 build). The
    /// net8.0 build names no buckets, rather than take a newer DiagnosticSource package into every .NET 8 app; a
    /// collector's view can set them there.
    /// </summary>
    public static Histogram<double> CreateDuration(Meter meter, string name, string description, double[] buckets)
    {
#if NET9_0_OR_GREATER
        return meter.CreateHistogram(name, "s", description, tags: null, advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = buckets });
#else
        _ = buckets;
        return meter.CreateHistogram<double>(name, "s", description);
#endif
    }

    /// <summary>
    /// A server's or client's connection that ended: one fewer on <paramref name="active"/>, its lifetime on
    /// <paramref name="lifetime"/>, with <c>error.type</c> when an error ended it.
    /// </summary>
    public static void ConnectionEnded(UpDownCounter<long> active, Histogram<double> lifetime, System.Diagnostics.TagList tags, TimeSpan duration, TinyProtoConnection connection)
    {
        active.Add(-1, tags);
        if (lifetime.Enabled)
        {
            if (connection.CloseReason == TinyProtoCloseReason.Failed)
            {
                tags.Add("error.type", ErrorType.Of(connection.CloseError));
            }

            lifetime.Record(duration.TotalSeconds, tags);
        }
    }
}
