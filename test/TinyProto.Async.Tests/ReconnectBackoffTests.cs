using TinyProto.Async.Reconnect;

namespace TinyProto.Async.Tests;

/// <summary>The reconnect policy, decided without I/O: exponential from the initial delay, capped, shortened by jitter, attempts counted.</summary>
public sealed class ReconnectBackoffTests
{
    private static readonly TinyProtoReconnectOptions Policy = new()
    {
        InitialDelay = TimeSpan.FromMilliseconds(100),
        MaxDelay = TimeSpan.FromSeconds(1),
        Jitter = 0.5,
        MaxAttempts = 3,
    };

    [Theory]
    [InlineData(0, 100)]
    [InlineData(1, 200)]
    [InlineData(2, 400)]
    [InlineData(3, 800)]
    [InlineData(4, 1000)]
    [InlineData(1000, 1000)]
    public void WithoutJitterDrawn_EachFailureDoublesTheDelay_UpToTheMaximum(int failures, int expectedMilliseconds) =>
        Assert.Equal(TimeSpan.FromMilliseconds(expectedMilliseconds), ReconnectBackoff.Delay(Policy, failures, random: 0));

    [Theory]
    [InlineData(0.5, 150)]
    [InlineData(0.999999, 100)]
    public void Jitter_ShortensTheDelayByUpToItsFraction(double random, int expectedMilliseconds) =>
        Assert.Equal(expectedMilliseconds, ReconnectBackoff.Delay(Policy, 1, random).TotalMilliseconds, precision: 0);

    [Fact]
    public void NoJitter_EveryClientWaitsExactlyTheSame()
    {
        var policy = new TinyProtoReconnectOptions { InitialDelay = TimeSpan.FromMilliseconds(50), Jitter = 0 };
        Assert.Equal(TimeSpan.FromMilliseconds(200), ReconnectBackoff.Delay(policy, 2, random: 0.9));
    }

    [Fact]
    public void MaxAttempts_CountsFailuresInARow()
    {
        Assert.True(ReconnectBackoff.MayRetry(Policy, 2));
        Assert.False(ReconnectBackoff.MayRetry(Policy, 3));
        Assert.True(ReconnectBackoff.MayRetry(new TinyProtoReconnectOptions(), int.MaxValue));
    }

    [Fact]
    public void BadSettings_AreRefusedWhenSet_SayingWhy()
    {
        var options = new TinyProtoReconnectOptions();
        Assert.Contains("between 0 and 1", Assert.Throws<ArgumentOutOfRangeException>(() => options.Jitter = 1.5).Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentOutOfRangeException>(() => options.Jitter = double.NaN);
        Assert.Contains("1 or more", Assert.Throws<ArgumentOutOfRangeException>(() => options.MaxAttempts = 0).Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentOutOfRangeException>(() => options.InitialDelay = TimeSpan.FromMilliseconds(-1));
        Assert.Throws<ArgumentOutOfRangeException>(() => options.MaxDelay = TimeSpan.FromDays(50));
    }
}
