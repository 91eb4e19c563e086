using System.Globalization;

namespace TinyProto.Async.Cli.Commands;

/// <summary>Byte counts as people write them: <c>1000</c>, <c>0x10000</c>, <c>64K</c>, <c>1M</c>, <c>1MiB</c>, <c>2G</c> (K, M, G are powers of 1024).</summary>
internal static class SizeParser
{
    public static long Parse(string option, string text, long max)
    {
        string digits = text.Trim();
        long multiplier = 1;
        string upper = digits.ToUpperInvariant();
        foreach ((string suffix, long factor) in new[] { ("KIB", 1L << 10), ("MIB", 1L << 20), ("GIB", 1L << 30), ("K", 1L << 10), ("M", 1L << 20), ("G", 1L << 30), ("B", 1L) })
        {
            if (upper.EndsWith(suffix, StringComparison.Ordinal))
            {
                digits = digits[..^suffix.Length];
                multiplier = factor;
                break;
            }
        }

        bool parsed = digits.StartsWith("0x", StringComparison.OrdinalIgnoreCase)
            ? long.TryParse(digits.AsSpan(2), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out long value)
            : long.TryParse(digits, NumberStyles.None, CultureInfo.InvariantCulture, out value);
        if (!parsed || value > max / multiplier)
        {
            throw new CommandLineException(string.Create(CultureInfo.InvariantCulture,
                $"{option}: '{text}' is not a byte count from 0 to {max} (write it as 1000, 0x3E8, 64K, 1M or 1G)"));
        }

        return value * multiplier;
    }
}
