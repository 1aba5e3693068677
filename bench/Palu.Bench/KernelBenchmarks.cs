using BenchmarkDotNet.Attributes;
using Palu.Kernels.Cpu;
using Palu.Tensors;

namespace Palu.Bench;

// BenchmarkDotNet versions of the `kernels` harness: `dotnet run -c Release --project bench/Palu.Bench -- bdn --filter *`.
// Each class times the reference (baseline) and the SIMD kernel on the same inputs; BDN reports the ratio.

/// <summary>MatMul y [T, m] = x [T, n] · W [m, n]ᵀ at decode and prefill shapes of the test models.</summary>
[MemoryDiagnoser]
public class MatMulBenchmarks
{
    [Params(1, 64)] public int T;
    [Params("192x192", "4096x192", "1024x1024")] public string Shape = "";
    [Params(DType.F32, DType.BF16)] public DType Type;

    float[] _x = [], _y = [];   // [T, n], [T, m]
    WeightMatrix _w;
    NativeBuffer? _owner;

    [GlobalSetup]
    public void Setup()
    {
        var mn = Shape.Split('x');
        int m = int.Parse(mn[0]), n = int.Parse(mn[1]);
        _x = KernelBench.Random(1, (long)T * n);
        _y = new float[(long)T * m];
        _w = KernelBench.Weights(2, m, n, Type, out _owner);
    }

    [GlobalCleanup] public void Cleanup() => _owner?.Dispose();

    [Benchmark(Baseline = true)] public void Reference() => ReferenceKernels.MatMul(_x, _w, _y, T);
    [Benchmark] public void Simd() => SimdKernels.MatMul(_x, _w, _y, T);
}

/// <summary>RmsNorm, Softmax, SwiGlu, AddBias and Rope on one row block of a 4096-wide model.</summary>
[MemoryDiagnoser]
public class ElementwiseBenchmarks
{
    [Params(1, 64)] public int T;
    const int N = 4096, Heads = 32, D = 128;

    float[] _x = [], _w = [], _y = [], _g0 = [], _g = [], _u = [], _row = [], _q = [];   // [T, N], [N], [T, N], [T, N] ×3, [N], [T, Heads, D]
    RopeTable _rope = null!;

    [GlobalSetup]
    public void Setup()
    {
        _x = KernelBench.Random(1, T * N); _w = KernelBench.Random(2, N); _y = new float[T * N];
        _g0 = KernelBench.Random(3, T * N); _g = new float[T * N]; _u = KernelBench.Random(4, T * N); _row = KernelBench.Random(5, N);
        _q = KernelBench.Random(6, T * Heads * D);
        _rope = new RopeTable(D, 4096, 10000.0);
    }

    [Benchmark] public void RmsNormReference() => ReferenceKernels.RmsNorm(_x, _w, _y, T, 1e-5f);
    [Benchmark] public void RmsNormSimd() => SimdKernels.RmsNorm(_x, _w, _y, T, 1e-5f);
    // Softmax works in place (a softmax of a softmax stays a normal row); SwiGlu restarts from a copy (repeated
    // silu(g)·u would sink into subnormals), so both of its variants include the same copy.
    [Benchmark] public void SoftmaxReference() => ReferenceKernels.Softmax(_row);
    [Benchmark] public void SoftmaxSimd() => SimdKernels.Softmax(_row);
    [Benchmark] public void SwiGluReference() { _g0.CopyTo(_g, 0); ReferenceKernels.SwiGlu(_g, _u); }
    [Benchmark] public void SwiGluSimd() { _g0.CopyTo(_g, 0); SimdKernels.SwiGlu(_g, _u); }
    [Benchmark] public void AddBiasReference() => ReferenceKernels.AddBias(_y, _w, T);
    [Benchmark] public void AddBiasSimd() => SimdKernels.AddBias(_y, _w, T);
    [Benchmark] public void RopeReference() => ReferenceKernels.Rope(_q, T, Heads, 100, _rope);
    [Benchmark] public void RopeSimd() => SimdKernels.Rope(_q, T, Heads, 100, _rope);
}

/// <summary>Decode attention (T = 1 at position Pos) with 32 query / 8 KV heads of 128.</summary>
[MemoryDiagnoser]
public class AttentionBenchmarks
{
    [Params(255, 1023)] public int Pos;
    const int H = 32, Hkv = 8, D = 128;

    float[] _q = [], _k = [], _v = [], _o = [];   // [1, H, D], [Hkv, Pos + 1, D] ×2, [1, H, D]

    [GlobalSetup]
    public void Setup()
    {
        _q = KernelBench.Random(1, H * D);
        _k = KernelBench.Random(2, Hkv * (Pos + 1) * D);
        _v = KernelBench.Random(3, Hkv * (Pos + 1) * D);
        _o = new float[H * D];
    }

    [Benchmark(Baseline = true)] public void Reference() => ReferenceKernels.Attention(_q, _k, _v, _o, 1, Pos, H, Hkv, D, Pos + 1);
    [Benchmark] public void Simd() => SimdKernels.Attention(_q, _k, _v, _o, 1, Pos, H, Hkv, D, Pos + 1);
}
