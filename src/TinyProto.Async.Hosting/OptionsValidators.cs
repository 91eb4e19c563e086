using Microsoft.Extensions.Options;

namespace TinyProto.Async.Hosting;

/// <summary>Checks <see cref="TinyProtoServerOptions"/> by their attributes; generated at compile time (no reflection, safe for AOT).</summary>
[OptionsValidator]
internal sealed partial class TinyProtoServerOptionsValidator : IValidateOptions<TinyProtoServerOptions>
{
}

/// <summary>Checks <see cref="TinyProtoClientOptions"/> by their attributes; generated at compile time.</summary>
[OptionsValidator]
internal sealed partial class TinyProtoClientOptionsValidator : IValidateOptions<TinyProtoClientOptions>
{
}
