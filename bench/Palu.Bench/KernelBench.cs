using Palu.Kernels.Cpu;
using Palu.Tensors;

namespace Palu.Bench;

/// <summary>
/// <c>kernels [matmul|elementwise|attention ...] [--quick] [--threads N] [--dtypes F32,BF16,F16]</c>: each kernel of
/// <see cref="ReferenceKernels"/> and <see cref="SimdKernels"/> timed side by side in one run, so that ratios are
/// comparable even on a noisy machine. Prints milliseconds per call, GFLOP/s, GB/s and speedups.
/// </summary>
public static class KernelBench
{
    public static int Run(string[] args)
    {
        bool quick = args.Contains("--quick");
        int ti = Array.IndexOf(args, "--threads"), di = Array.IndexOf(args, "--dtypes");
        if (ti >= 0) Parallelism.SetDefaultThreads(int.Parse(args[ti + 1]));
        DType[] dtypes = di >= 0
            ? args[di + 1].Split(',').Select(s => DTypes.TryParse(s.ToUpperInvariant(), out var t) ? t : throw new ArgumentException($"dtype {s}")).ToArray()
            : [DType.F32, DType.BF16];
        var groups = args.Where((a, i) => !a.StartsWith("--") && (ti < 0 || i != ti + 1) && (di < 0 || i != di + 1)).ToList();
        bool All(string g) => groups.Count == 0 || groups.Contains(g);

        Console.WriteLine($"Palu kernels: {Environment.ProcessorCount} cores, Parallelism.Threads = {Parallelism.Threads}, " +
            $"Vector512 accelerated = {System.Runtime.Intrinsics.Vector512.IsHardwareAccelerated}, {(quick ? "quick" : "full")} run");
        Console.WriteLine("times are medians after warm-up; ref = ReferenceKernels, simd = SimdKernels, 1T = SimdKernels on one thread");
        if (All("matmul")) MatMulBench.Run(quick, dtypes);
        if (All("elementwise")) ElementwiseBench.Run(quick);
        if (All("attention")) AttentionBench.Run(quick);
        return 0;
    }

    public static float[] Random(int seed, long count)
    {
        var rng = new Random(seed);
        var a = new float[count];
        for (long i = 0; i < count; i++) a[i] = (float)(rng.NextDouble() * 2 - 1);
        return a;
    }

    /// <summary>W [rows, cols] of random values in <paramref name="dtype"/>; the returned buffer owns it.</summary>
    public static unsafe WeightMatrix Weights(int seed, int rows, int cols, DType dtype, out NativeBuffer owner)
    {
        var f = Random(seed, (long)rows * cols);
        owner = NativeBuffer.Allocate((long)rows * cols * DTypes.Size(dtype));
        switch (dtype)
        {
            case DType.F32: f.CopyTo(owner.AsSpan<float>()); break;
            case DType.BF16: FloatConvert.SingleToBF16(f, owner.AsSpan<ushort>()); break;
            case DType.F16: System.Numerics.Tensors.TensorPrimitives.ConvertToHalf(f, owner.AsSpan<Half>()); break;
            default: throw new ArgumentOutOfRangeException(nameof(dtype));
        }
        return new WeightMatrix(owner.Pointer, dtype, rows, cols, owner);
    }
}
