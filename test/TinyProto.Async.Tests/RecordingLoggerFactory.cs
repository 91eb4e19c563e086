using Microsoft.Extensions.Logging;

namespace TinyProto.Async.Tests;

/// <summary>An <see cref="ILoggerFactory"/> that keeps every entry its loggers write, with the category it was written under.</summary>
internal sealed class RecordingLoggerFactory : ILoggerFactory
{
    private readonly object _gate = new();
    private readonly List<Entry> _entries = [];

    public sealed record Entry(string Category, LogLevel Level, EventId EventId, string Message, Exception? Exception);

    public List<string> Categories { get; } = [];

    public Entry[] Entries
    {
        get
        {
            lock (_gate)
            {
                return [.. _entries];
            }
        }
    }

    public ILogger CreateLogger(string categoryName)
    {
        lock (_gate)
        {
            Categories.Add(categoryName);
        }

        return new Logger(this, categoryName);
    }

    public void AddProvider(ILoggerProvider provider) => throw new NotSupportedException();

    public void Dispose()
    {
    }

    private void Add(Entry entry)
    {
        lock (_gate)
        {
            _entries.Add(entry);
        }
    }

    /// <summary>A logger that records into its factory; also usable alone as a plain recording <see cref="ILogger"/>.</summary>
    internal sealed class Logger(RecordingLoggerFactory owner, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            owner.Add(new Entry(category, logLevel, eventId, formatter(state, exception), exception));
    }
}

/// <summary>Hands a <see cref="RecordingLoggerFactory"/>'s loggers to a host's logging (<c>builder.Logging.AddProvider</c>).</summary>
internal sealed class RecordingLoggerProvider(RecordingLoggerFactory logs) : ILoggerProvider
{
    public ILogger CreateLogger(string categoryName) => logs.CreateLogger(categoryName);

    public void Dispose()
    {
    }
}
