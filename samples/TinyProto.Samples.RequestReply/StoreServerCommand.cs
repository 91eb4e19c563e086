using TinyProto.Async;

namespace TinyProto.Samples.RequestReply;

/// <summary>
/// <c>server</c>: the key-value store, served until Ctrl+C or SIGTERM, then stopped gracefully. With <c>--data FILE</c>,
/// the store is read from the file at start and written back once the server has stopped (so after every reply went out).
/// </summary>
internal static class StoreServerCommand
{
    /// <summary>
    /// The largest request message accepted. Larger than a SET of the largest key and value, so that a value over
    /// its limit gets an ERROR reply naming the limit; a message above this one is refused by the protocol itself
    /// (<c>0xFC</c>), which ends that connection.
    /// </summary>
    public const int MaxRequestBytes = 1024 * 1024;

    public static async Task<int> RunAsync(string host, int port, string? dataFile, int? connectionLimit, TimeSpan idleTimeout)
    {
        KeyValueStore store;
        try
        {
            store = dataFile is null ? new KeyValueStore() : StoreFile.Load(dataFile);
        }
        catch (InvalidDataException ex)
        {
            Console.Error.WriteLine($"error: {ex.Message}");
            return 1;
        }

        if (dataFile is not null)
        {
            // Written once now, so that a file that cannot be written is found before serving, not at the stop.
            if (!TrySave(store, dataFile))
            {
                return 1;
            }

            Console.WriteLine($"loaded {Keys(store.Count)} from {dataFile}");
        }

        await using var server = new TinyProtoServer { ConnectionLimit = connectionLimit };
        server.ConnectionOptions.MaxMessageSize = MaxRequestBytes;

        // A client that holds a connection open without a request for this long is closed; a reconnecting client
        // simply connects again when it has something to ask.
        server.ConnectionOptions.IdleTimeout = idleTimeout;
        server.AddAddress(host, port);
        server.SetConnectionHandler(() => new StoreConnection(store));
        int exitCode = await SampleHost.ServeUntilShutdownAsync(server);
        if (dataFile is null)
        {
            return exitCode;
        }

        if (!TrySave(store, dataFile))
        {
            return 1;
        }

        Console.WriteLine($"saved {Keys(store.Count)} to {dataFile}");
        return exitCode;
    }

    private static bool TrySave(KeyValueStore store, string dataFile)
    {
        try
        {
            StoreFile.Save(store, dataFile);
            return true;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            Console.Error.WriteLine($"error: cannot save the store to '{dataFile}': {ex.Message}");
            return false;
        }
    }

    private static string Keys(int count) => count == 1 ? "1 key" : $"{count} keys";
}
