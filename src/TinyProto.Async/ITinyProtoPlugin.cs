using System.Buffers;

namespace TinyProto.Async;

/// <summary>
/// Transforms every buffered message on its way out and back in (compression, encryption, framing of
/// your own). Plugins run in registration order on transmit and in reverse order on receive, so a
/// pair of plugins registered in the same order at both ends undo each other.
/// </summary>
/// <remarks>
/// Plugins are called from one connection at a time but may be shared between connections, so an
/// instance that keeps state must be safe for concurrent use. Messages sent or received as streams
/// do not pass through plugins. A plugin that throws fails that one transmission (on transmit) or ends
/// that one connection (on receive).
/// </remarks>
public interface ITinyProtoPlugin
{
    /// <summary>Transforms an outgoing message.</summary>
    /// <param name="message">The message; valid only during the call.</param>
    /// <returns>The bytes to send instead; they must stay valid and unchanged until the transmission completes.</returns>
    ReadOnlySequence<byte> Transmit(ReadOnlySequence<byte> message);

    /// <summary>Transforms an incoming message.</summary>
    /// <param name="message">The message; valid only during the call.</param>
    /// <returns>The bytes to deliver instead; they must stay valid and unchanged until the message has been delivered.</returns>
    ReadOnlySequence<byte> Receive(ReadOnlySequence<byte> message);
}
