using Xunit.Abstractions;

namespace TinyProto.Async.Tests.Protocol;

/// <summary>
/// Rules 5 and 6 over every interleaving (<see cref="ConversationModel"/>): two real conversations, K messages each
/// way, every message delivered once and in order, every own message given one status, no misread and no deadlock.
/// </summary>
public sealed class ConversationModelTests(ITestOutputHelper output)
{
    /// <summary>
    /// K = 1..4 each way in both modes with messages of 1 byte, and with sizes 0 or 1 in every combination (lock-step up
    /// to K = 4; pipelined only up to K = 2, since K = 3 already takes some 225,000 states and 12 seconds).
    /// </summary>
    public static TheoryData<int, bool, bool> Cases => new()
    {
        { 1, false, false }, { 2, false, false }, { 3, false, false }, { 4, false, false },
        { 1, false, true }, { 2, false, true }, { 3, false, true }, { 4, false, true },
        { 1, true, false }, { 2, true, false }, { 3, true, false }, { 4, true, false },
        { 1, true, true }, { 2, true, true },
    };

    /// <summary>The same with a server that may begin to stop at any point (rule 8): lock-step up to K = 3, pipelined up to K = 2.</summary>
    public static TheoryData<int, bool, bool> StoppingCases => new()
    {
        { 1, false, false }, { 2, false, false }, { 3, false, false },
        { 1, false, true }, { 2, false, true }, { 3, false, true },
        { 1, true, false }, { 2, true, false },
        { 1, true, true }, { 2, true, true },
    };

    [Theory]
    [MemberData(nameof(StoppingCases))]
    public void Check_EveryInterleavingWithAServerThatStops_DeliversOrDeclinesEachMessageWithoutMisreadOrDeadlock(int messagesEachWay, bool pipelined, bool emptyMessagesToo)
    {
        var model = new ConversationModel(messagesEachWay, pipelined, serverStops: true, emptyMessagesToo ? [0u, 1u] : [1u]);

        string? failure = model.Check();

        output.WriteLine($"{model.Mode}: {model.States} states, {model.Transitions} transitions, {model.Completions} finished");
        if (failure is not null)
        {
            Assert.Fail(failure);
        }

        Assert.True(model.States >= 60 * messagesEachWay, $"{model.Mode}: only {model.States} states explored");
        Assert.True(model.Completions >= 2, $"{model.Mode}: too few interleavings finished");
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Check_EveryInterleaving_DeliversEverythingWithoutMisreadOrDeadlock(int messagesEachWay, bool pipelined, bool emptyMessagesToo)
    {
        var model = new ConversationModel(messagesEachWay, pipelined, emptyMessagesToo ? [0u, 1u] : [1u]);

        string? failure = model.Check();

        output.WriteLine($"{model.Mode}: {model.States} states, {model.Transitions} transitions, {model.Completions} finished");
        if (failure is not null)
        {
            Assert.Fail(failure);
        }

        // A check that explored next to nothing proves nothing.
        Assert.True(model.States >= 30 * messagesEachWay, $"{model.Mode}: only {model.States} states explored");
        Assert.True(model.Completions >= 1, $"{model.Mode}: no interleaving finished");
    }
}
