using System.ComponentModel.DataAnnotations;
using System.Globalization;

namespace TinyProto.Async.Hosting;

/// <summary>
/// A time span between two bounds (<c>[d.]hh:mm:ss[.fff]</c>), null passing: <c>[Range(typeof(TimeSpan), ...)]</c>
/// without its type converter, which trimming and native AOT cannot keep.
/// </summary>
[AttributeUsage(AttributeTargets.Property)]
internal sealed class TimeSpanRangeAttribute(string minimum, string maximum) : ValidationAttribute
{
    private readonly TimeSpan _minimum = TimeSpan.Parse(minimum, CultureInfo.InvariantCulture);
    private readonly TimeSpan _maximum = TimeSpan.Parse(maximum, CultureInfo.InvariantCulture);

    protected override ValidationResult? IsValid(object? value, ValidationContext validationContext) =>
        value is not TimeSpan span || (span >= _minimum && span <= _maximum)
            ? ValidationResult.Success
            : new ValidationResult($"The field {validationContext.DisplayName} must be between {_minimum} and {_maximum}, not {span}.", [validationContext.MemberName ?? validationContext.DisplayName]);
}
