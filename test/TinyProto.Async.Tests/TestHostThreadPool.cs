using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;

namespace TinyProto.Async.Tests;

/// <summary>
/// The test host blocks thread-pool threads for the whole run (vstest's message loop polls its socket, and the xUnit
/// adapter waits on one too). On a 2-core machine that left a pool of three threads with one free, so a test's
/// continuations could queue for a second until the pool grew, and tests that measure time against a timeout failed
/// now and then. The library itself never blocks a pool thread; this only gives the host's threads back.
/// </summary>
internal static class TestHostThreadPool
{
    [ModuleInitializer]
    [SuppressMessage("Usage", "CA2255:The 'ModuleInitializer' attribute should not be used in libraries", Justification = "A test assembly: the pool must be wide enough before the first test runs.")]
    internal static void Widen()
    {
        ThreadPool.GetMinThreads(out int workers, out int completionPorts);
        ThreadPool.SetMinThreads(Math.Max(workers, 8), completionPorts);
    }
}
