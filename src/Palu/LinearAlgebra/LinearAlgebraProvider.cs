namespace Palu.LinearAlgebra;

/// <summary>
/// Chooses the linear algebra provider at run time. <see cref="Default"/> is LAPACK when LAPACKE can be loaded,
/// else managed; the environment variable <c>PALU_LINALG</c> (<c>managed</c> | <c>lapack</c> | <c>auto</c>) forces a choice.
/// </summary>
public static class LinearAlgebraProvider
{
    public const string EnvironmentVariable = "PALU_LINALG";

    /// <summary>The Debian/Ubuntu packages that provide LAPACKE and an optimised BLAS.</summary>
    public const string InstallHint = "apt-get install -y libopenblas0-pthread liblapacke";

    static readonly Lazy<ILinearAlgebra> s_default = new(() => Create(Environment.GetEnvironmentVariable(EnvironmentVariable)));

    /// <summary>The provider selected by <c>PALU_LINALG</c> (read once), LAPACK-if-available when unset.</summary>
    public static ILinearAlgebra Default => s_default.Value;

    /// <summary>The pure C# provider (always available).</summary>
    public static ManagedLinearAlgebra Managed { get; } = new();

    /// <summary>True when LAPACKE could be loaded (independent of <c>PALU_LINALG</c>).</summary>
    public static bool IsLapackAvailable => NativeLapack.TryGet(out _) is not null;

    /// <summary>Why LAPACK is unavailable ("" when it is available).</summary>
    public static string LapackUnavailableReason
    {
        get { NativeLapack.TryGet(out var error); return error; }
    }

    /// <summary>The native provider; throws <see cref="DllNotFoundException"/> naming the packages to install when missing.</summary>
    public static LapackLinearAlgebra Lapack
        => LapackLinearAlgebra.TryCreate(out var error) ?? throw new DllNotFoundException($"LAPACK provider requested but unavailable: {error}");

    /// <summary>Provider for a <c>PALU_LINALG</c>-style choice: null/""/"auto", "managed" or "lapack".</summary>
    public static ILinearAlgebra Create(string? choice) => choice?.Trim().ToLowerInvariant() switch
    {
        null or "" or "auto" => (ILinearAlgebra?)LapackLinearAlgebra.TryCreate(out _) ?? Managed,
        "managed" => Managed,
        "lapack" => Lapack,
        _ => throw new ArgumentException($"{EnvironmentVariable}='{choice}' is not one of: managed, lapack, auto"),
    };
}
