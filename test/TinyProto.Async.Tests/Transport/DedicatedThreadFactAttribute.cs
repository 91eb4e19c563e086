using TinyProto.Async.Transport;

namespace TinyProto.Async.Tests.Transport;

/// <summary>A fact that needs the dedicated-thread transport, skipped where the platform has none (only Linux and macOS have).</summary>
public sealed class DedicatedThreadFactAttribute : FactAttribute
{
    public DedicatedThreadFactAttribute()
    {
        if (!NonBlockingSend.IsSupported)
        {
            Skip = "Dedicated-thread connections need Linux or macOS.";
        }
    }
}
