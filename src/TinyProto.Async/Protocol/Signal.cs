namespace TinyProto.Async.Protocol;

/// <summary>The single-byte values of the protocol: handshake answers and statuses.</summary>
/// <remarks>
/// Every value from <c>0xF1</c> up can never start a size header, because the protocol
/// maximum <c>0xF0FFFFFF</c> caps a header's first byte at <c>0xF0</c>.
/// </remarks>
internal static class Signal
{
    /// <summary>Handshake accepted; message size accepted.</summary>
    public const byte Ok = 0xFF;

    /// <summary>Server at its connection limit (handshake only).</summary>
    public const byte ConnectionLimit = 0xFE;

    /// <summary>
    /// The original's CONFLICT, never sent by it. A stopping TinyProto.Async receiver declines a new lock-step header
    /// with it (rule 8); any sender, the original too, takes it as a refusal.
    /// </summary>
    public const byte Stopping = 0xFD;

    /// <summary>Size refused by a TinyProto.Async receiver (rule 2).</summary>
    public const byte TooLarge = 0xFC;

    /// <summary>Opening byte of a client asking for, or a server granting, pipelined mode (rule 6).</summary>
    public const byte Pipeline = 0xFB;

    /// <summary>Size refused by the Python original (only for sizes above the protocol maximum).</summary>
    public const byte GenericError = 0x00;

    /// <summary>The lowest byte that is a status rather than the first byte of a header.</summary>
    public const byte LowestStatus = 0xF1;

    /// <summary>Describes a byte the way an error message should name it.</summary>
    public static string Describe(byte value) => value switch
    {
        Ok => "0xFF (OK)",
        ConnectionLimit => "0xFE (connection limit)",
        Stopping => "0xFD (the receiver is stopping)",
        TooLarge => "0xFC (too large)",
        Pipeline => "0xFB (pipeline)",
        GenericError => "0x00 (generic error)",
        _ => $"0x{value:X2}",
    };
}
