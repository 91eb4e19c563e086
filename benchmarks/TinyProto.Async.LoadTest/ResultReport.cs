using System.Globalization;

namespace TinyProto.Async.LoadTest;

/// <summary>The client's summary: a human-readable block, then the machine-readable RESULT line as the very last line.</summary>
internal static class ResultReport
{
    public static void Print(ClientSettings settings, LoadResult result)
    {
        (long messages, double seconds, LatencyHistogram latency, int errors) = (result.Messages, result.Seconds, result.Latency, result.Errors.Count);
        double messagesPerSecond = seconds > 0 ? messages / seconds : 0;
        double megabytesPerSecond = seconds > 0 ? messages * (double)settings.Size / 1e6 / seconds : 0;
        double p50 = latency.PercentileMicroseconds(50);
        double p99 = latency.PercentileMicroseconds(99);
        CultureInfo c = CultureInfo.InvariantCulture;
        Console.WriteLine(string.Create(c, $"""
            {settings.Describe()}
              messages      {messages} (after a warmup of {settings.Warmup} per connection, not counted)
              seconds       {seconds:0.000}
              messages/s    {messagesPerSecond:0.0}
              MB/s          {megabytesPerSecond:0.0} (payload bytes one way, 1 MB = 10^6 bytes)
              latency (µs)  p50 {Micro(p50)}  p90 {Micro(latency.PercentileMicroseconds(90))}  p99 {Micro(p99)}  max {Micro(latency.Count > 0 ? LatencyHistogram.TicksToMicroseconds(latency.MaxTicks) : double.NaN)}
              errors        {errors}
            """));
        PrintResultLine(settings, messages, seconds, messagesPerSecond, megabytesPerSecond, p50, p99);
    }

    public static void PrintIdle(ClientSettings settings, int held, int dropped, double seconds, int errors)
    {
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"""
            {settings.Describe()}
              held          {held} of {settings.Connections} connections for {seconds:0.000} s ({dropped} dropped while idle)
              errors        {errors}
            """));
        PrintResultLine(settings, 0, seconds, 0, 0, double.NaN, double.NaN);
    }

    private static void PrintResultLine(ClientSettings settings, long messages, double seconds, double messagesPerSecond, double megabytesPerSecond, double p50, double p99)
    {
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"RESULT mode={settings.ModeName} size={settings.Size} connections={settings.Connections} pipelined={(settings.Pipelined ? "true" : "false")} messages={messages} seconds={seconds:0.000} msg_per_s={messagesPerSecond:0.#} mb_per_s={megabytesPerSecond:0.#} p50_us={Micro(p50)} p99_us={Micro(p99)}"));
    }

    private static string Micro(double microseconds) =>
        double.IsNaN(microseconds) ? "nan" : microseconds.ToString("0.#", CultureInfo.InvariantCulture);
}
