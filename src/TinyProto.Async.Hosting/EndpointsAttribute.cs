using System.Collections;
using System.ComponentModel.DataAnnotations;

namespace TinyProto.Async.Hosting;

/// <summary>Checks that a string, or every item of a list of strings, is a <c>HOST:PORT</c> endpoint (<see cref="HostEndpoint.TryParse"/>); null passes.</summary>
[AttributeUsage(AttributeTargets.Property)]
internal sealed class EndpointsAttribute : ValidationAttribute
{
    /// <summary>The lowest port allowed: 0 (pick a free one) for a server's, 1 for a client's.</summary>
    public int MinPort { get; set; }

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
            if (!HostEndpoint.TryParse(item as string, out HostEndpoint endpoint, out string? error) || (endpoint.Port < MinPort && (error = $"the port must be {MinPort} or more") is not null))
            {
                return new ValidationResult($"{validationContext.DisplayName}: '{item}' is not HOST:PORT ({error}).", [validationContext.MemberName ?? "Endpoints"]);
            }
        }

        return ValidationResult.Success;
    }
}
