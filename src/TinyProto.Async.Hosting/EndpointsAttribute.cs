using System.Collections;
using System.ComponentModel.DataAnnotations;

namespace TinyProto.Async.Hosting;

/// <summary>Checks that a string, or every item of a list of strings, is a <c>HOST:PORT</c> endpoint (<see cref="HostEndpoint.TryParse"/>); null passes.</summary>
[AttributeUsage(AttributeTargets.Property)]
internal sealed class EndpointsAttribute : ValidationAttribute
{
    protected override ValidationResult? IsValid(object? value, ValidationContext validationContext)
    {
        if (value is string single)
        {
            value = new[] { single };
        }

        if (value is not IEnumerable items)
        {
            return ValidationResult.Success;
        }

        foreach (object? item in items)
        {
            if (!HostEndpoint.TryParse(item as string, out _, out string? error))
            {
                return new ValidationResult($"{validationContext.DisplayName}: '{item}' is not HOST:PORT ({error}).", [validationContext.MemberName ?? "Endpoints"]);
            }
        }

        return ValidationResult.Success;
    }
}
