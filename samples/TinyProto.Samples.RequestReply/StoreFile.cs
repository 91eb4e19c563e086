using System.Text.Json;

namespace TinyProto.Samples.RequestReply;

/// <summary>The <c>--data FILE</c> of the server: a JSON object of keys and values, read at start and written at a graceful stop.</summary>
internal static class StoreFile
{
    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    /// <summary>The store saved in <paramref name="path"/>, or an empty one when there is no such file yet.</summary>
    /// <exception cref="InvalidDataException">The file cannot be read, or is not a JSON object of strings.</exception>
    public static KeyValueStore Load(string path)
    {
        if (!File.Exists(path))
        {
            return new KeyValueStore();
        }

        try
        {
            using FileStream file = File.OpenRead(path);
            return new KeyValueStore(JsonSerializer.Deserialize<Dictionary<string, string>>(file));
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or JsonException)
        {
            throw new InvalidDataException($"cannot read the store from '{path}': {ex.Message}", ex);
        }
    }

    /// <summary>
    /// Writes the store to a file beside <paramref name="path"/>, flushed to disk, then moves it over
    /// <paramref name="path"/>: a crash or a kill at any point leaves either the old file or the new one, whole.
    /// </summary>
    /// <exception cref="IOException">The file cannot be written or moved.</exception>
    /// <exception cref="UnauthorizedAccessException">No permission to write in the file's folder.</exception>
    public static void Save(KeyValueStore store, string path)
    {
        string temporary = path + ".tmp";
        using (FileStream file = File.Create(temporary))
        {
            JsonSerializer.Serialize(file, store.Snapshot(), Indented);
            file.Flush(flushToDisk: true);
        }

        File.Move(temporary, path, overwrite: true);
    }
}
