using System.Globalization;

namespace TinyProto.Async.LoadTest;

/// <summary>
/// The load tool's kinds of option value on top of the samples' <see cref="Arguments"/>: whole numbers of any size,
/// byte counts with units, and seconds.
/// </summary>
internal static class ArgumentValues
{
    /// <summary>A whole number in <paramref name="min"/>..<paramref name="max"/>, or null when absent.</summary>
    public static long? GetOptionalInteger(this Arguments options, string name, long min, long max)
    {
        if (options.GetOptionalString(name) is not string text)
        {
            return null;
        }

        if (!long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out long value))
        {
            throw new UsageException($"{name} must be a whole number, not '{text}'");
        }

        return CheckRange(name, value, min, max);
    }

    /// <summary>
    /// A byte count: decimal (<c>65536</c>), hex (<c>0x10000</c>) or with a binary suffix <c>K</c>, <c>M</c> or
    /// <c>G</c> (x1024, x1024², x1024³; case-insensitive, an optional trailing <c>B</c> or <c>iB</c>: <c>64K</c>, <c>1MiB</c>).
    /// </summary>
    public static long? GetOptionalSize(this Arguments options, string name, long min, long max)
    {
        if (options.GetOptionalString(name) is not string text)
        {
            return null;
        }

        if (!TryParseSize(text, out long value))
        {
            throw new UsageException($"{name} must be a byte count such as 4096, 0x1000, 64K or 1M, not '{text}'");
        }

        return CheckRange(name, value, min, max);
    }

    /// <summary>Seconds, a positive decimal number such as <c>10</c> or <c>0.5</c>, or null when absent.</summary>
    public static double? GetOptionalSeconds(this Arguments options, string name, double min, double max)
    {
        if (options.GetOptionalString(name) is not string text)
        {
            return null;
        }

        if (!double.TryParse(text, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out double value))
        {
            throw new UsageException($"{name} must be a number of seconds such as 10 or 2.5, not '{text}'");
        }

        return value >= min && value <= max
            ? value
            : throw new UsageException($"{name} must be between {min.ToString(CultureInfo.InvariantCulture)} and {max.ToString(CultureInfo.InvariantCulture)} seconds, not {text}");
    }

    public static bool TryParseSize(string text, out long value)
    {
        value = 0;
        string s = text.Trim().ToUpperInvariant();
        if (s.StartsWith("0X", StringComparison.Ordinal))
        {
            return s.Length > 2 && long.TryParse(s.AsSpan(2), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out value) && value >= 0;
        }

        // "1MiB" and "64KB" mean the same as "1M" and "64K"; "100B" means 100.
        bool binaryUnit = s.EndsWith("IB", StringComparison.Ordinal);
        s = binaryUnit ? s[..^2] : s.EndsWith('B') ? s[..^1] : s;
        int shift = s.Length == 0 ? 0 : s[^1] switch { 'K' => 10, 'M' => 20, 'G' => 30, _ => 0 };
        if (shift == 0 && binaryUnit)
        {
            return false;
        }

        s = shift == 0 ? s : s[..^1];
        if (!long.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out long number) || number > long.MaxValue >> shift)
        {
            return false;
        }

        value = number << shift;
        return true;
    }

    private static long CheckRange(string name, long value, long min, long max) =>
        value >= min && value <= max
            ? value
            : throw new UsageException($"{name} must be between {min} and {max}, not {value}");
}
