namespace TinyProto.Async.Tests;

/// <summary>
/// Tests that measure the whole process's allocations run alone: xUnit runs this collection after the parallel ones,
/// one test at a time, so no other test allocates inside the measurement.
/// </summary>
[CollectionDefinition(nameof(AllocationGuardTestGroup), DisableParallelization = true)]
public sealed class AllocationGuardTestGroup
{
}
