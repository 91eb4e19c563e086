namespace TinyProto.Async.LoadTest;

/// <summary>A check of the load test failed (a wrong echo, a stall); the message says what and where.</summary>
internal sealed class LoadTestFailureException(string message) : Exception(message);
