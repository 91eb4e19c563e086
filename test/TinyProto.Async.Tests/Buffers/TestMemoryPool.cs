using System.Buffers;
using System.Diagnostics;

namespace TinyProto.Async.Tests.Buffers;

/// <summary>
/// A memory pool for test pipes that catches leaks and use after return, as the one in dotnet/runtime's
/// System.IO.Pipelines tests does. Each block is a <see cref="MemoryManager{T}"/> over a new array: a
/// <see cref="Memory{T}"/> of it asks the block for its span on every access, so once the block is returned any
/// access through it (<c>Span</c>, <c>Pin</c>) throws <see cref="ObjectDisposedException"/>. A returned block is
/// filled with <see cref="Poison"/>, which <see cref="AssertClean"/> checks, for a span taken before the return and
/// written after it. A second dispose of a block throws and is recorded. Thread-safe.
/// </summary>
internal sealed class TestMemoryPool : MemoryPool<byte>
{
    /// <summary>What a returned block is filled with.</summary>
    public const byte Poison = 0xDD;

    private const int DefaultBlockSize = 4096;

    // All guarded by _gate.
    private readonly object _gate = new();
    private readonly HashSet<Block> _rented = [];
    private readonly List<Block> _returned = [];
    private readonly List<string> _failures = [];
    private readonly bool _keepReturned;
    private int _rentCount;
    private bool _disposed;

    /// <param name="keepReturned">
    /// Keep returned blocks, so <see cref="AssertClean"/> can find one written after its return. Without, a returned
    /// block is only poisoned and its access throws; the memory goes back to the GC (for tests that move a lot of data).
    /// </param>
    public TestMemoryPool(bool keepReturned = true)
    {
        _keepReturned = keepReturned;
    }

    /// <summary>Every request is served here, none by the pipe's fallback to the shared array pool.</summary>
    public override int MaxBufferSize => Array.MaxLength;

    /// <summary>How many blocks were rented so far: lets a test check that the pipes used this pool at all.</summary>
    public int RentCount
    {
        get
        {
            lock (_gate)
            {
                return _rentCount;
            }
        }
    }

    public override IMemoryOwner<byte> Rent(int minBufferSize = -1)
    {
        byte[] array = new byte[minBufferSize < 0 ? DefaultBlockSize : minBufferSize];
        Block block;
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            block = new Block(this, array, ++_rentCount);
            _rented.Add(block);
        }

        return block;
    }

    /// <summary>Fails the test if a block is still rented, was disposed twice, or was written after its return.</summary>
    public void AssertClean()
    {
        var problems = new List<string>();
        lock (_gate)
        {
            problems.AddRange(_failures);
            foreach (Block block in _rented)
            {
                problems.Add($"Block {block.Ordinal} ({block.Length} bytes) was never returned.");
            }

            foreach (Block block in _returned)
            {
                int damaged = block.DamagedAt();
                if (damaged >= 0)
                {
                    problems.Add($"Block {block.Ordinal} ({block.Length} bytes) was written after its return (first at index {damaged}).");
                }
            }
        }

        Assert.True(problems.Count == 0, $"{problems.Count} pipe block problem(s):{Environment.NewLine}{string.Join(Environment.NewLine, problems)}");
    }

    protected override void Dispose(bool disposing)
    {
        lock (_gate)
        {
            _disposed = true;
        }
    }

    private void Return(Block block)
    {
        string failure;
        lock (_gate)
        {
            if (_rented.Remove(block))
            {
                block.Retire();
                if (_keepReturned)
                {
                    _returned.Add(block);
                }

                return;
            }

            failure = $"Block {block.Ordinal} ({block.Length} bytes) was disposed twice, the second time at:{Environment.NewLine}{new StackTrace(1, fNeedFileInfo: false)}";
            _failures.Add(failure);
        }

        throw new InvalidOperationException(failure);
    }

    /// <summary>
    /// One block. It records no stack trace where it was rented, unlike the array pool's arrays: pipes rent a block
    /// per few KiB, and that trace would always show the pipe.
    /// </summary>
    private sealed class Block(TestMemoryPool pool, byte[] array, int ordinal) : MemoryManager<byte>
    {
        // Set once, under the pool's lock, before the poison goes in; read without the lock by the access checks.
        private volatile bool _returned;

        public int Length => array.Length;

        /// <summary>1 for the pool's first block, 2 for the next, ...</summary>
        public int Ordinal => ordinal;

        public override Span<byte> GetSpan()
        {
            ThrowIfReturned();
            return array;
        }

        public override MemoryHandle Pin(int elementIndex = 0)
        {
            ThrowIfReturned();

            // The array's own handle pins it; this block has nothing to unpin.
            return array.AsMemory(elementIndex).Pin();
        }

        public override void Unpin()
        {
        }

        /// <summary>The first byte that is not poison, or -1.</summary>
        public int DamagedAt() => array.AsSpan().IndexOfAnyExcept(Poison);

        /// <summary>Takes the block out of use for good; called by the pool, under its lock, on the first dispose.</summary>
        public void Retire()
        {
            _returned = true;
            array.AsSpan().Fill(Poison);
        }

        protected override void Dispose(bool disposing) => pool.Return(this);

        private void ThrowIfReturned() => ObjectDisposedException.ThrowIf(_returned, this);
    }
}
