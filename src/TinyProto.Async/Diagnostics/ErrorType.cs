using System.Net.Sockets;
using System.Text;

namespace TinyProto.Async.Diagnostics;

/// <summary>
/// The <c>error.type</c> of a failure, for metrics and spans alike, low-cardinality as the OpenTelemetry conventions
/// ask: a <see cref="TinyProtoError"/> or a <see cref="SocketError"/> in snake case (<c>timeout</c>,
/// <c>connection_refused</c>), else the exception's type name.
/// </summary>
internal static class ErrorType
{
    /// <summary>What a message cut short by the connection's end, or a failure without an exception, is.</summary>
    public const string ConnectionClosed = "connection_closed";

    public static string Of(Exception? error) => error switch
    {
        TinyProtoException tp => tp.Error switch
        {
            TinyProtoError.HandshakeFailed => "handshake_failed",
            TinyProtoError.ConnectionLimitReached => "connection_limit",
            TinyProtoError.MessageRefused => "message_refused",
            TinyProtoError.MessageTooLarge => "message_too_large",
            TinyProtoError.ConnectionClosed => ConnectionClosed,
            TinyProtoError.Timeout => "timeout",
            TinyProtoError.ProtocolViolation => "protocol_violation",
            TinyProtoError.NotConnected => "not_connected",
            _ => "other",
        },
        SocketException socket => SnakeCase(socket.SocketErrorCode.ToString()),
        null => "other",
        _ => error.GetType().FullName ?? "other",
    };

    private static string SnakeCase(string name)
    {
        var text = new StringBuilder(name.Length + 4);
        for (int i = 0; i < name.Length; i++)
        {
            char c = name[i];
            if (char.IsUpper(c))
            {
                if (i > 0)
                {
                    text.Append('_');
                }

                text.Append(char.ToLowerInvariant(c));
            }
            else
            {
                text.Append(c);
            }
        }

        return text.ToString();
    }
}
