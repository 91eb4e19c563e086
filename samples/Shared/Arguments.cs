namespace TinyProto.Samples;

/// <summary>Bad command-line arguments; the message says which and why.</summary>
internal sealed class UsageException(string message) : Exception(message);

/// <summary>Options of the form <c>--name value</c> (or <c>--name=value</c>), parsed by hand to keep the sample dependency-free.</summary>
internal sealed class Arguments
{
    private readonly Dictionary<string, string> _values;

    private Arguments(Dictionary<string, string> values) => _values = values;

    /// <summary>Parses <paramref name="args"/>, accepting only the <paramref name="allowed"/> option names.</summary>
    /// <exception cref="UsageException">An unknown, repeated or valueless option, or a stray argument.</exception>
    public static Arguments Parse(ReadOnlySpan<string> args, params string[] allowed)
    {
        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        for (int i = 0; i < args.Length; i++)
        {
            string name = args[i];
            string? value = null;
            int equals = name.IndexOf('=', StringComparison.Ordinal);
            if (name.StartsWith("--", StringComparison.Ordinal) && equals > 0)
            {
                value = name[(equals + 1)..];
                name = name[..equals];
            }

            if (!allowed.Contains(name))
            {
                throw new UsageException(name.StartsWith('-') ? $"unknown option '{name}'" : $"unexpected argument '{name}'");
            }

            if (value is null)
            {
                if (i + 1 >= args.Length)
                {
                    throw new UsageException($"option '{name}' needs a value");
                }

                value = args[++i];
            }

            if (!values.TryAdd(name, value))
            {
                throw new UsageException($"option '{name}' is given more than once");
            }
        }

        return new Arguments(values);
    }

    public string GetString(string name, string defaultValue) => GetOptionalString(name) ?? defaultValue;

    public string? GetOptionalString(string name) => _values.GetValueOrDefault(name);

    /// <summary>A required integer option in <paramref name="min"/>..<paramref name="max"/>.</summary>
    public int GetInt(string name, int min, int max) =>
        GetOptionalInt(name, min, max) ?? throw new UsageException($"option '{name}' is required");

    public int? GetOptionalInt(string name, int min, int max)
    {
        if (!_values.TryGetValue(name, out string? text))
        {
            return null;
        }

        if (!long.TryParse(text, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out long value))
        {
            throw new UsageException($"{name} must be a whole number, not '{text}'");
        }

        return value >= min && value <= max
            ? (int)value
            : throw new UsageException($"{name} must be between {min} and {max}, not {value}");
    }
}
