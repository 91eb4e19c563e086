namespace TinyProto.Async.ScaleOut;

/// <summary>
/// What a <see cref="TinyProtoFanOut"/> publishes, I/O-free: a version byte (1), a flags byte (bit 0: a connection to
/// leave out follows), that connection's id (16 bytes) when flagged, then the message.
/// </summary>
internal static class FanOutEnvelope
{
    private const byte Version = 1;
    private const byte HasExcept = 1;

    public static byte[] Encode(ReadOnlySpan<byte> message, Guid except)
    {
        int head = except == Guid.Empty ? 2 : 18;
        byte[] envelope = new byte[head + message.Length];
        envelope[0] = Version;
        if (except != Guid.Empty)
        {
            envelope[1] = HasExcept;
            except.TryWriteBytes(envelope.AsSpan(2, 16));
        }

        message.CopyTo(envelope.AsSpan(head));
        return envelope;
    }

    /// <summary>Reads an envelope; false, with why, for bytes that are not one (another program on the channel, a newer version).</summary>
    public static bool TryDecode(ReadOnlyMemory<byte> envelope, out ReadOnlyMemory<byte> message, out Guid except, out string? error)
    {
        message = default;
        except = Guid.Empty;
        error = null;
        ReadOnlySpan<byte> span = envelope.Span;
        if (span.Length < 2 || span[0] != Version || (span[1] & ~HasExcept) != 0)
        {
            error = span.Length < 2
                ? $"{span.Length} byte(s), shorter than an envelope's 2-byte head"
                : $"version {span[0]} with flags 0x{span[1]:X2}, where version 1 with flags 0x00 or 0x01 was expected";
            return false;
        }

        int head = 2;
        if ((span[1] & HasExcept) != 0)
        {
            if (span.Length < 18)
            {
                error = $"{span.Length} bytes, too short for the connection id its flags announce";
                return false;
            }

            except = new Guid(span.Slice(2, 16));
            head = 18;
        }

        message = envelope[head..];
        return true;
    }
}
