using Xunit.Sdk;

namespace TinyProto.Async.Tests.Buffers;

/// <summary>The checking array pool catches what it is there to catch, so a clean result from it means something.</summary>
public sealed class TestArrayPoolTests
{
    [Fact]
    public void AssertClean_EveryArrayReturned_Passes()
    {
        var pool = new TestArrayPool();
        byte[] array = pool.Rent(100);
        array[0] = 1;
        pool.Return(array);

        pool.AssertClean();
        Assert.Equal(1, pool.RentCount);
        Assert.True(array.Length >= 100);
    }

    [Fact]
    public void AssertClean_ArrayNotReturned_Fails()
    {
        var pool = new TestArrayPool();
        pool.Rent(100);

        var failure = Assert.ThrowsAny<XunitException>(pool.AssertClean);
        Assert.Contains("never returned", failure.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Return_Twice_ThrowsAndAssertCleanFails()
    {
        var pool = new TestArrayPool();
        byte[] array = pool.Rent(100);
        pool.Return(array);

        Assert.Throws<InvalidOperationException>(() => pool.Return(array));
        var failure = Assert.ThrowsAny<XunitException>(pool.AssertClean);
        Assert.Contains("returned twice", failure.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Return_ArrayNeverRented_ThrowsAndAssertCleanFails()
    {
        var pool = new TestArrayPool();

        Assert.Throws<InvalidOperationException>(() => pool.Return(new byte[16]));
        var failure = Assert.ThrowsAny<XunitException>(pool.AssertClean);
        Assert.Contains("never rented", failure.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void AssertClean_WriteAfterReturn_Fails()
    {
        var pool = new TestArrayPool();
        byte[] array = pool.Rent(100);
        pool.Return(array);
        Assert.All(array, b => Assert.Equal(TestArrayPool.Poison, b));

        array[42] = 0;

        var failure = Assert.ThrowsAny<XunitException>(pool.AssertClean);
        Assert.Contains("written after its return (first at index 42)", failure.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Rent_AfterReturn_NeverHandsOutTheReturnedArray()
    {
        var pool = new TestArrayPool();
        byte[] first = pool.Rent(100);
        pool.Return(first);

        byte[] second = pool.Rent(100);

        Assert.NotSame(first, second);
        pool.Return(second);
        pool.AssertClean();
    }
}
