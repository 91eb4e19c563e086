using System.Buffers;
using System.Diagnostics;
using System.Numerics;

namespace TinyProto.Async.Tests.Buffers;

/// <summary>
/// An array pool that catches leaks and use after return. It hands out new arrays only: a returned array is
/// filled with <see cref="Poison"/> and kept out of circulation, so a read after return shows as poison in the
/// data and a write after return as damaged poison, instead of corrupting someone else's message. A second
/// return, or the return of an array it never rented, throws and is recorded (code that swallows the exception
/// still fails <see cref="AssertClean"/>). Thread-safe.
/// </summary>
internal sealed class TestArrayPool : ArrayPool<byte>
{
    /// <summary>What a returned array is filled with.</summary>
    public const byte Poison = 0xDB;

    // All guarded by _gate. Rented arrays map to where they were rented, for the leak report.
    private readonly object _gate = new();
    private readonly Dictionary<byte[], StackTrace> _rented = new(ReferenceEqualityComparer.Instance);
    private readonly HashSet<byte[]> _returned = new(ReferenceEqualityComparer.Instance);
    private readonly List<string> _failures = [];
    private int _rentCount;

    /// <summary>How many arrays were rented so far: lets a test check that the code under test used this pool at all.</summary>
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

    /// <summary>The bytes of every array rented and not yet returned: what the code under test holds now.</summary>
    public long RentedBytes
    {
        get
        {
            lock (_gate)
            {
                return _rented.Keys.Sum(array => (long)array.Length);
            }
        }
    }

    public override byte[] Rent(int minimumLength)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(minimumLength);

        // Rounded up as the shared pool does, so code that must use the length it asked for, not the array's, is tested.
        int length = minimumLength <= 16 ? 16 : minimumLength > 1 << 30 ? minimumLength : (int)BitOperations.RoundUpToPowerOf2((uint)minimumLength);
        byte[] array = new byte[length];
        lock (_gate)
        {
            _rented.Add(array, new StackTrace(1, fNeedFileInfo: false));
            _rentCount++;
        }

        return array;
    }

    public override void Return(byte[] array, bool clearArray = false)
    {
        ArgumentNullException.ThrowIfNull(array);
        string failure;
        lock (_gate)
        {
            if (_rented.Remove(array))
            {
                array.AsSpan().Fill(Poison);
                _returned.Add(array);
                return;
            }

            failure = _returned.Contains(array)
                ? $"An array of {array.Length} bytes was returned twice, the second time at:{Environment.NewLine}{new StackTrace(1, fNeedFileInfo: false)}"
                : $"An array of {array.Length} bytes that this pool never rented was returned at:{Environment.NewLine}{new StackTrace(1, fNeedFileInfo: false)}";
            _failures.Add(failure);
        }

        throw new InvalidOperationException(failure);
    }

    /// <summary>Fails the test if an array is still rented, was returned wrongly, or was written after its return.</summary>
    public void AssertClean()
    {
        var problems = new List<string>();
        lock (_gate)
        {
            problems.AddRange(_failures);
            foreach ((byte[] array, StackTrace rentedAt) in _rented)
            {
                problems.Add($"An array of {array.Length} bytes was never returned; it was rented at:{Environment.NewLine}{rentedAt}");
            }

            foreach (byte[] array in _returned)
            {
                int damaged = array.AsSpan().IndexOfAnyExcept(Poison);
                if (damaged >= 0)
                {
                    problems.Add($"An array of {array.Length} bytes was written after its return (first at index {damaged}).");
                }
            }
        }

        Assert.True(problems.Count == 0, $"{problems.Count} buffer problem(s):{Environment.NewLine}{string.Join(Environment.NewLine, problems)}");
    }
}
