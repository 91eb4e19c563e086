using System.Reflection;

namespace TinyProto.Async;

/// <summary>Tells whether a derived class overrides a hook, so hooks nobody overrides cost nothing (no timer, no dispatch).</summary>
internal static class HookOverrides
{
    public static bool IsOverridden(object instance, Type baseType, string method, params Type[] parameters) =>
        instance.GetType().GetMethod(method, BindingFlags.Instance | BindingFlags.NonPublic, parameters.Length == 0 ? [typeof(CancellationToken)] : parameters)
            ?.DeclaringType is { } declaring
        && declaring != baseType;
}
