using System.Diagnostics.CodeAnalysis;
using System.Reflection;

namespace TinyProto.Async;

/// <summary>Tells whether a derived class overrides a hook, so hooks nobody overrides cost nothing (no timer, no dispatch).</summary>
/// <remarks>
/// Callers pass <c>GetType()</c> of a <see cref="TinyProtoConnection"/>, <see cref="TinyProtoServer"/> or <see cref="TinyProtoClient"/>: each carries
/// <see cref="DynamicallyAccessedMembersAttribute"/> for non-public methods, which the trimmer applies to every derived
/// class, so the hooks looked up here survive trimming and native AOT.
/// </remarks>
internal static class HookOverrides
{
    public static bool IsOverridden(
        [DynamicallyAccessedMembers(DynamicallyAccessedMemberTypes.NonPublicMethods)] Type type, Type baseType, string method, params Type[] parameters) =>
        type.GetMethod(method, BindingFlags.Instance | BindingFlags.NonPublic, parameters.Length == 0 ? [typeof(CancellationToken)] : parameters)
            ?.DeclaringType is { } declaring
        && declaring != baseType;
}
