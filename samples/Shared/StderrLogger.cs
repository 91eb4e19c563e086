using Microsoft.Extensions.Logging;

namespace TinyProto.Samples;

/// <summary>
/// Prints the library's log lines from <paramref name="minimum"/> up (by default warnings and errors: a failed
/// connection, a hook that threw) to stderr, so a failure the program itself can't see still shows. Debug and
/// information messages (one per connection) are dropped by default: with thousands of connections they would be the output.
/// </summary>
internal sealed class StderrLogger(string source, LogLevel minimum = LogLevel.Warning) : ILogger
{
    public IDisposable? BeginScope<TState>(TState state)
        where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => logLevel >= minimum && logLevel != LogLevel.None;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        if (!IsEnabled(logLevel))
        {
            return;
        }

        string detail = exception is null ? "" : $": {exception.GetType().Name}: {exception.Message}";
        Console.Error.WriteLine($"{source} {logLevel.ToString().ToLowerInvariant()}: {formatter(state, exception)}{detail}");
    }
}
