namespace TinyProto.Async.Diagnostics;

/// <summary>
/// What <c>tinyproto.operation.duration</c> measures, its <c>tinyproto.operation.name</c>: one call of the public API
/// that sends (a transmission the library makes inside one, as a request's, is part of that call), or one incoming
/// message.
/// </summary>
internal enum Operation
{
    /// <summary>Not an operation of its own: a message sent inside another (a request's, a lock-step batch's).</summary>
    None,

    /// <summary><c>transmit</c>: one <c>TransmitAsync</c>, until it completes (the peer's OK; in lock-step also our payload written).</summary>
    Transmit,

    /// <summary><c>transmit_many</c>: one <c>TransmitManyAsync</c>, until every message of it was accepted.</summary>
    TransmitMany,

    /// <summary><c>request</c>: one <c>RequestAsync</c>, until its reply arrived.</summary>
    Request,

    /// <summary><c>receive</c>: one incoming message, from its size header read to its last payload byte.</summary>
    Receive,
}
