namespace TinyProto.Async.Tests;

/// <summary>
/// Options refuse a bad value when it is set, with a message that names the option and its range, rather than
/// failing later inside a handshake or a stop. Time spans stop at the longest span .NET timers take (about 49.7 days).
/// </summary>
public sealed class OptionValidationTests
{
    private static readonly TimeSpan LongestTimer = TimeSpan.FromMilliseconds(uint.MaxValue - 1);

    public static TheoryData<string, Action<TimeSpan>> PositiveSpans => new()
    {
        { "Timeout", value => new TinyProtoConnectionOptions().Timeout = value },
        { "LoopPassInterval", value => new TinyProtoConnectionOptions().LoopPassInterval = value },
        { "Timeout", value => new TinyProtoClient().Timeout = value },
        { "LoopPassInterval", value => new TinyProtoClient().LoopPassInterval = value },
        { "LoopPassInterval", value => new TinyProtoServer().LoopPassInterval = value },
    };

    [Theory]
    [MemberData(nameof(PositiveSpans))]
    public void PositiveSpan_ZeroNegativeOrBeyondTheLongestTimer_ThrowsNamingTheOption(string option, Action<TimeSpan> set)
    {
        foreach (TimeSpan bad in new[] { TimeSpan.Zero, TimeSpan.FromMilliseconds(-5), LongestTimer + TimeSpan.FromMilliseconds(1), TimeSpan.FromDays(60), TimeSpan.MaxValue })
        {
            var ex = Assert.Throws<ArgumentOutOfRangeException>(() => set(bad));
            Assert.StartsWith($"{option} must be above zero and at most 49.7 days", ex.Message, StringComparison.Ordinal);
        }

        set(TimeSpan.FromTicks(1));
        set(LongestTimer);
    }

    [Fact]
    public void Timeouts_InfiniteTimeSpan_AcceptedWhereDocumented()
    {
        var options = new TinyProtoConnectionOptions { Timeout = Timeout.InfiniteTimeSpan, LoopPassInterval = Timeout.InfiniteTimeSpan };
        Assert.Equal(Timeout.InfiniteTimeSpan, options.Timeout);
        Assert.Equal(Timeout.InfiniteTimeSpan, options.LoopPassInterval);
        Assert.Throws<ArgumentOutOfRangeException>(() => new TinyProtoServer().LoopPassInterval = Timeout.InfiniteTimeSpan);
    }

    [Fact]
    public void StopTimeout_NegativeOrBeyondTheLongestTimer_ThrowsNamingTheOption()
    {
        var server = new TinyProtoServer();
        foreach (TimeSpan bad in new[] { TimeSpan.FromTicks(-1), Timeout.InfiniteTimeSpan, LongestTimer + TimeSpan.FromMilliseconds(1), TimeSpan.MaxValue })
        {
            var ex = Assert.Throws<ArgumentOutOfRangeException>(() => server.StopTimeout = bad);
            Assert.StartsWith("StopTimeout must be zero or more and at most 49.7 days", ex.Message, StringComparison.Ordinal);
        }

        server.StopTimeout = TimeSpan.Zero;
        server.StopTimeout = LongestTimer;
        Assert.Equal(LongestTimer, server.StopTimeout);
    }

    [Fact]
    public void Sizes_OutOfRange_ThrowNamingTheOption()
    {
        var options = new TinyProtoConnectionOptions();
        Assert.StartsWith("MaxMessageSize must be between 0 and", Assert.Throws<ArgumentOutOfRangeException>(() => options.MaxMessageSize = 0xF0FFFFFFL + 1).Message, StringComparison.Ordinal);
        Assert.StartsWith("MaxMessageSize", Assert.Throws<ArgumentOutOfRangeException>(() => options.MaxMessageSize = -1).Message, StringComparison.Ordinal);
        Assert.StartsWith("MaxBufferedMessageSize", Assert.Throws<ArgumentOutOfRangeException>(() => options.MaxBufferedMessageSize = -1).Message, StringComparison.Ordinal);
        Assert.StartsWith("MaxReadAheadBytes", Assert.Throws<ArgumentOutOfRangeException>(() => options.MaxReadAheadBytes = -1).Message, StringComparison.Ordinal);
        Assert.StartsWith("ConnectionLimit must be at least 1", Assert.Throws<ArgumentOutOfRangeException>(() => new TinyProtoServer().ConnectionLimit = 0).Message, StringComparison.Ordinal);
        options.MaxMessageSize = 0xF0FFFFFFL;
    }
}
