namespace TinyProto.Async.LoadTest;

/// <summary>The client's workload.</summary>
internal enum ClientMode
{
    /// <summary>Each message is echoed back and checked; latency is transmit start to echo received.</summary>
    Echo,

    /// <summary>Messages go one way only; latency is the duration of each <c>TransmitAsync</c>.</summary>
    Oneway,

    /// <summary>Connections are opened and held without traffic.</summary>
    Idle,
}
