using Microsoft.Extensions.Logging;

namespace TinyProto.Samples.Echo;

/// <summary>
/// Prints the server's information, warnings and errors to stderr: refusals (naming the limit and the address),
/// failed handshakes, connections that failed, hooks that threw. Debug messages (one per connection) are dropped.
/// </summary>
internal sealed class StderrLogger : ILogger
{
    public IDisposable? BeginScope<TState>(TState state)
        where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Information;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        if (!IsEnabled(logLevel))
        {
            return;
        }

        string detail = exception is null ? "" : $": {exception.GetType().Name}: {exception.Message}";
        Console.Error.WriteLine($"server {logLevel.ToString().ToLowerInvariant()}: {formatter(state, exception)}{detail}");
    }
}
