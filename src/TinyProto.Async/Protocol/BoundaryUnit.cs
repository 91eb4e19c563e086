namespace TinyProto.Async.Protocol;

/// <summary>What a side finds at a message boundary (PROTOCOL.md rule 4).</summary>
internal enum BoundaryUnit
{
    /// <summary>Not enough bytes yet to tell.</summary>
    Incomplete,

    /// <summary>A status byte (<c>0xF1</c>..<c>0xFF</c>) answering the oldest own message.</summary>
    Status,

    /// <summary>A four-byte big-endian size header of an incoming message.</summary>
    Header,
}
