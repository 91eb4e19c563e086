namespace TinyProto.Async;

/// <summary>Which side of a connection this end is; rule 5 of the protocol treats the two differently.</summary>
public enum TinyProtoRole
{
    /// <summary>The side that connected.</summary>
    Client,

    /// <summary>The side that accepted the connection.</summary>
    Server,
}
