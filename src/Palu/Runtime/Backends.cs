using Palu.Runtime.Cpu;

namespace Palu.Runtime;

/// <summary>The backends by their <c>--device</c> name.</summary>
public static class Backends
{
    /// <summary>Names accepted by <see cref="Get"/>, the default first.</summary>
    public static readonly string[] Names = ["cpu", "cpu-reference", "cuda"];

    public static Backend Default => SimdBackend.Instance;

    /// <summary>The backend called <paramref name="name"/>, or a clear error naming the choices.</summary>
    public static Backend Get(string? name) => (name ?? "cpu").ToLowerInvariant() switch
    {
        "cpu" => SimdBackend.Instance,
        "cpu-reference" => ReferenceBackend.Instance,
        "cuda" => throw new NotSupportedException("--device cuda: the CUDA backend is not built yet; use --device cpu"),
        var other => throw new ArgumentException($"--device '{other}' is not a backend; choose one of {string.Join(", ", Names)}"),
    };
}
