namespace TinyProto.Samples;

/// <summary>Options of the form <c>--name value</c> (or <c>--name=value</c>) and bare flags, parsed by hand to keep the samples (and the load tool) dependency-free.</summary>
internal sealed class Arguments
{
    private readonly Dictionary<string, string> _values;
    private readonly HashSet<string> _flags;

    private Arguments(Dictionary<string, string> values, HashSet<string> flags)
    {
        _values = values;
        _flags = flags;
    }

    /// <summary>Parses <paramref name="args"/>, accepting only the <paramref name="allowed"/> option names.</summary>
    /// <exception cref="UsageException">An unknown, repeated or valueless option, or a stray argument.</exception>
    public static Arguments Parse(ReadOnlySpan<string> args, params string[] allowed) => Parse(args, allowed, []);

    /// <summary>
    /// Parses <paramref name="args"/>, accepting only the <paramref name="options"/> (which take a value) and the
    /// <paramref name="flags"/> (which take none, such as <c>--sink</c>).
    /// </summary>
    /// <exception cref="UsageException">An unknown, repeated or valueless option, a flag with a value, or a stray argument.</exception>
    public static Arguments Parse(ReadOnlySpan<string> args, string[] options, string[] flags)
    {
        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        var seenFlags = new HashSet<string>(StringComparer.Ordinal);
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

            if (flags.Contains(name))
            {
                if (value is not null)
                {
                    throw new UsageException($"option '{name}' takes no value");
                }

                if (!seenFlags.Add(name))
                {
                    throw new UsageException($"option '{name}' is given more than once");
                }

                continue;
            }

            if (!options.Contains(name))
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

        return new Arguments(values, seenFlags);
    }

    /// <summary>Whether the option or flag was given.</summary>
    public bool Has(string name) => _values.ContainsKey(name) || _flags.Contains(name);

    public bool HasFlag(string name) => _flags.Contains(name);

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
