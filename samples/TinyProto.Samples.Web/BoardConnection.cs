using System.Buffers;
using System.Collections.Concurrent;
using System.Text;
using TinyProto.Async;

namespace TinyProto.Samples.Web;

/// <summary>
/// One tinyproto client of the web app. It keeps the last messages the client sent, for <c>GET
/// /connections/{id}/messages</c>, and answers nothing by itself: the HTTP side sends to it.
/// </summary>
public sealed class BoardConnection(TimeProvider time) : TinyProtoConnection
{
    /// <summary>How many of a client's messages are kept.</summary>
    public const int Kept = 50;

    private readonly ConcurrentQueue<ReceivedMessage> _messages = new();
    private long _received;

    /// <summary>When the connection was made.</summary>
    public DateTimeOffset ConnectedAt { get; } = time.GetUtcNow();

    /// <summary>Messages received from the client so far.</summary>
    public long Received => Interlocked.Read(ref _received);

    /// <summary>The last <see cref="Kept"/> messages, oldest first.</summary>
    public ReceivedMessage[] Messages => [.. _messages];

    protected override ValueTask TransmissionReceivedAsync(ReadOnlySequence<byte> message, CancellationToken cancellationToken)
    {
        // Shown as text when it is UTF-8, else as base64.
        byte[] bytes = message.ToArray();
        string text;
        bool isText = true;
        try
        {
            text = new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(bytes);
        }
        catch (DecoderFallbackException)
        {
            text = Convert.ToBase64String(bytes);
            isText = false;
        }

        _messages.Enqueue(new ReceivedMessage(time.GetUtcNow(), bytes.Length, isText ? text : null, isText ? null : text));
        while (_messages.Count > Kept && _messages.TryDequeue(out _))
        {
        }

        Interlocked.Increment(ref _received);
        return default;
    }
}

/// <summary>A message a client sent: when, its size, and its content as text (UTF-8) or base64.</summary>
public sealed record ReceivedMessage(DateTimeOffset At, int Size, string? Text, string? Base64);
