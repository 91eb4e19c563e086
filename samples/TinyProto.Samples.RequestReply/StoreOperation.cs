namespace TinyProto.Samples.RequestReply;

/// <summary>The four requests of the store's protocol; see README.md.</summary>
internal enum StoreOperation
{
    /// <summary><c>GET key</c>: <c>OK value</c>, or <c>NOTFOUND</c>.</summary>
    Get,

    /// <summary><c>SET key value</c>: <c>OK</c>.</summary>
    Set,

    /// <summary><c>DEL key</c>: <c>OK</c>, or <c>NOTFOUND</c>.</summary>
    Delete,

    /// <summary><c>COUNT</c>: <c>OK n</c>, the number of keys.</summary>
    Count,
}
