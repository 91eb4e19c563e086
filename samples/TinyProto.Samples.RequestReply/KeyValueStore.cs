using System.Collections.Concurrent;
using System.Text;

namespace TinyProto.Samples.RequestReply;

/// <summary>
/// The store every connection of the server shares. It owns its entries, a <see cref="ConcurrentDictionary{TKey, TValue}"/>,
/// so any number of connections may call <see cref="Answer"/> at once; each request is atomic on its own.
/// </summary>
internal sealed class KeyValueStore
{
    /// <summary>The most keys the store holds; a SET of a new key beyond it is answered with ERROR.</summary>
    public const int MaxKeys = 100_000;

    private readonly ConcurrentDictionary<string, string> _entries;

    public KeyValueStore(IEnumerable<KeyValuePair<string, string>>? entries = null)
    {
        _entries = new ConcurrentDictionary<string, string>(entries ?? [], StringComparer.Ordinal);
    }

    public int Count => _entries.Count;

    /// <summary>A copy of the entries at one moment, sorted by key (for saving).</summary>
    public SortedDictionary<string, string> Snapshot() => new(_entries, StringComparer.Ordinal);

    /// <summary>The reply to one request message: <c>OK</c>, <c>OK value</c>, <c>OK n</c>, <c>NOTFOUND</c> or <c>ERROR what was wrong</c>. Never throws.</summary>
    public byte[] Answer(ReadOnlySpan<byte> message) =>
        Encoding.UTF8.GetBytes(StoreRequest.TryParse(message, out StoreRequest? request, out string? error) ? Apply(request) : "ERROR " + error);

    private string Apply(StoreRequest request)
    {
        switch (request.Operation)
        {
            case StoreOperation.Get:
                return _entries.TryGetValue(request.Key, out string? value) ? "OK " + value : "NOTFOUND";

            case StoreOperation.Set:
                // Overwriting is always allowed; only a new key counts against the limit (checked, then added: a few
                // connections racing at the limit may pass it by a few, which is as good as a sample needs).
                if (_entries.Count >= MaxKeys && !_entries.ContainsKey(request.Key))
                {
                    return $"ERROR the store is full: {MaxKeys} keys is the limit";
                }

                _entries[request.Key] = request.Value;
                return "OK";

            case StoreOperation.Delete:
                return _entries.TryRemove(request.Key, out _) ? "OK" : "NOTFOUND";

            default:
                return $"OK {_entries.Count}";
        }
    }
}
