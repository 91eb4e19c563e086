using System.Buffers;
using System.IO.Pipelines;
using Xunit.Sdk;

namespace TinyProto.Async.Tests.Buffers;

/// <summary>The checking memory pool catches what it is there to catch, and pipes give it every block back.</summary>
public sealed class TestMemoryPoolTests : TestBase
{
    [Fact]
    public void AssertClean_EveryBlockDisposed_Passes()
    {
        var pool = new TestMemoryPool();
        IMemoryOwner<byte> block = pool.Rent();
        Assert.True(block.Memory.Length >= 4096);
        block.Memory.Span[0] = 1;
        block.Dispose();

        pool.AssertClean();
        Assert.Equal(1, pool.RentCount);
    }

    [Fact]
    public void AssertClean_BlockNotDisposed_Fails()
    {
        var pool = new TestMemoryPool();
        pool.Rent(100);

        var failure = Assert.ThrowsAny<XunitException>(pool.AssertClean);
        Assert.Contains("never returned", failure.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void MemorySpan_AfterDispose_ThrowsObjectDisposed()
    {
        var pool = new TestMemoryPool();
        IMemoryOwner<byte> block = pool.Rent();
        Memory<byte> memory = block.Memory;
        block.Dispose();

        Assert.Throws<ObjectDisposedException>(() => memory.Span[0] = 1);
        Assert.Throws<ObjectDisposedException>(() => memory.Slice(10).Span.Length);
        pool.AssertClean();
    }

    [Fact]
    public void Pin_AfterDispose_ThrowsObjectDisposed()
    {
        var pool = new TestMemoryPool();
        IMemoryOwner<byte> block = pool.Rent();
        Memory<byte> memory = block.Memory;
        memory.Pin().Dispose();
        block.Dispose();

        Assert.Throws<ObjectDisposedException>(() => memory.Pin());
    }

    [Fact]
    public void Dispose_Twice_ThrowsAndAssertCleanFails()
    {
        var pool = new TestMemoryPool();
        IMemoryOwner<byte> block = pool.Rent();
        block.Dispose();

        Assert.Throws<InvalidOperationException>(block.Dispose);
        var failure = Assert.ThrowsAny<XunitException>(pool.AssertClean);
        Assert.Contains("disposed twice", failure.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void AssertClean_SpanWrittenAfterDispose_Fails()
    {
        var pool = new TestMemoryPool();
        IMemoryOwner<byte> block = pool.Rent();
        Span<byte> span = block.Memory.Span;
        block.Dispose();

        span[7] = 0;

        var failure = Assert.ThrowsAny<XunitException>(pool.AssertClean);
        Assert.Contains("written after its return (first at index 7)", failure.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Pipe_BothEndsCompleted_ReturnsEveryBlock()
    {
        var pool = new TestMemoryPool();
        var pipe = new Pipe(new PipeOptions(pool: pool, useSynchronizationContext: false));
        await pipe.Writer.WriteAsync(new byte[20_000], TimeoutToken);
        ReadResult read = await pipe.Reader.ReadAsync(TimeoutToken);
        pipe.Reader.AdvanceTo(read.Buffer.GetPosition(5_000));

        Assert.True(pool.RentCount > 1);
        Assert.ThrowsAny<XunitException>(pool.AssertClean);
        await pipe.Writer.CompleteAsync();
        await pipe.Reader.CompleteAsync();
        pool.AssertClean();
    }
}
