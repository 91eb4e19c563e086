namespace TinyProto.Async.Protocol;

/// <summary>What a status byte read at a message boundary means (<see cref="Conversation.OnStatus"/>).</summary>
internal enum StatusOutcome
{
    /// <summary>None of our messages awaited a status: a violation; a refusal is owed and the connection ends.</summary>
    Unexpected,

    /// <summary>Pipelined mode: our oldest message awaiting a status was accepted.</summary>
    Accepted,

    /// <summary>Lock-step mode: our message was accepted, and its payload must go into the output now, before any answer.</summary>
    PayloadDue,

    /// <summary>Our oldest message awaiting a status was refused; no payload of it is sent. A lock-step exchange is over.</summary>
    Refused,
}
