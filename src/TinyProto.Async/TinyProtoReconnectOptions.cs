namespace TinyProto.Async;

/// <summary>
/// How a <see cref="TinyProtoReconnectingConnection"/> reconnects (<see cref="TinyProtoClient.Reconnect"/>):
/// exponential backoff from <see cref="InitialDelay"/> up to <see cref="MaxDelay"/>, each wait shortened by a random
/// part of up to <see cref="Jitter"/>, and at most <see cref="MaxAttempts"/> failed attempts in a row.
/// </summary>
/// <remarks>A reconnecting connection copies these settings when it is made; later changes apply to later ones.</remarks>
public sealed class TinyProtoReconnectOptions
{
    private TimeSpan _initialDelay = TimeSpan.FromMilliseconds(200);
    private TimeSpan _maxDelay = TimeSpan.FromSeconds(30);
    private double _jitter = 0.5;
    private int? _maxAttempts;

    /// <summary>
    /// The wait before the first attempt after a disconnect; each failed attempt in a row doubles it. Default: 200 ms.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is negative, or above 49.7 days (the longest timer).</exception>
    public TimeSpan InitialDelay
    {
        get => _initialDelay;
        set => _initialDelay = NonNegative(value, nameof(InitialDelay));
    }

    /// <summary>The longest wait between two attempts. Default: 30 seconds.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is negative, or above 49.7 days (the longest timer).</exception>
    public TimeSpan MaxDelay
    {
        get => _maxDelay;
        set => _maxDelay = NonNegative(value, nameof(MaxDelay));
    }

    /// <summary>
    /// How much of each wait may be cut at random, from 0 (every client waits exactly as long) to 1 (anything from
    /// nothing to the full wait). Default: 0.5.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is outside 0..1, or not a number.</exception>
    public double Jitter
    {
        get => _jitter;
        set => _jitter = value is >= 0 and <= 1
            ? value
            : throw new ArgumentOutOfRangeException(nameof(Jitter), value, "Jitter must be between 0 and 1.");
    }

    /// <summary>
    /// How many attempts in a row may fail before the connection gives up for good (its
    /// <see cref="TinyProtoReconnectingConnection.Completion"/> then faults); null to try for ever. Default: null.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is below 1.</exception>
    public int? MaxAttempts
    {
        get => _maxAttempts;
        set => _maxAttempts = value is null or >= 1
            ? value
            : throw new ArgumentOutOfRangeException(nameof(MaxAttempts), value, "MaxAttempts must be 1 or more, or null for no limit.");
    }

    internal TinyProtoReconnectOptions Clone() => (TinyProtoReconnectOptions)MemberwiseClone();

    private static TimeSpan NonNegative(TimeSpan value, string name) =>
        value >= TimeSpan.Zero && value <= TimeSpanOption.Max
            ? value
            : throw new ArgumentOutOfRangeException(name, value, $"{name} must be between zero and 49.7 days.");
}
