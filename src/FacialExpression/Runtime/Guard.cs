using System.Globalization;

namespace FacialExpression;

/// <summary>Argument checks that name the offending property and value.</summary>
internal static class Guard
{
    public static void InRange(int value, int min, int max, string name)
    {
        if (value < min || value > max)
            throw new ArgumentOutOfRangeException(name, value, string.Create(CultureInfo.InvariantCulture, $"{name} must be between {min} and {max}; it was {value}."));
    }

    /// <summary>Checks <c>min ≤ value ≤ max</c>; a <paramref name="min"/> of <see cref="double.Epsilon"/> means "greater than 0".</summary>
    public static void InRange(double value, double min, double max, string name)
    {
        if (double.IsNaN(value) || value < min || value > max)
            throw new ArgumentOutOfRangeException(name, value, min == double.Epsilon
                ? string.Create(CultureInfo.InvariantCulture, $"{name} must be greater than 0 and at most {max}; it was {value}.")
                : string.Create(CultureInfo.InvariantCulture, $"{name} must be between {min} and {max}; it was {value}."));
    }

    public static void Defined<T>(T value, string name) where T : struct, Enum
    {
        if (!Enum.IsDefined(value))
            throw new ArgumentOutOfRangeException(name, value, $"{name} must be one of {string.Join(", ", Enum.GetNames<T>())}; it was {value}.");
    }

    public static void NotNullOrEmpty(string? value, string name)
    {
        ArgumentNullException.ThrowIfNull(value, name);
        if (value.Length == 0) throw new ArgumentException($"{name} must not be empty.", name);
    }
}
