using Palu.Kernels.Cpu;
using Palu.Tensors;
using static Palu.Bench.Harness;

namespace Palu.Bench;

/// <summary>MatMul y [T, m] = x [T, n] · W [m, n]ᵀ at decode (T = 1) and prefill (T = 64, 512) shapes.</summary>
public static class MatMulBench
{
    static readonly int[] Ts = [1, 64, 512];
    static readonly (int m, int n)[] Shapes = [(192, 192), (512, 192), (4096, 192), (1024, 1024), (4096, 4096)];

    public static void Run(bool quick, DType[] dtypes)
    {
        // The reference runs at ~1 GFLOP/s: time it once (after one warm-up call) and skip it above this many MACs.
        long refLimit = quick ? 1L << 27 : 1L << 31;
        Console.WriteLine();
        Console.WriteLine("MatMul (GFLOP/s = 2·T·m·n / time; GB/s = (W + x + y bytes) / time)");
        Console.WriteLine($"{"T",5} {"m",5} {"n",5} {"W",5} | {"ref ms",9} {"simd 1T ms",10} {"simd ms",9} | {"ref GF/s",8} {"1T GF/s",8} {"simd GF/s",9} {"simd GB/s",9} | {"vs ref",7} {"vs 1T",6}");
        foreach (int T in Ts)
            foreach (var (m, n) in Shapes)
                foreach (var dt in dtypes)
                {
                    if (quick && (long)T * m * n > 1L << 30) continue;
                    Row(T, m, n, dt, refLimit);
                }
    }

    static void Row(int T, int m, int n, DType dt, long refLimit)
    {
        var x = KernelBench.Random(1, (long)T * n);     // [T, n]
        var y = new float[(long)T * m];                  // [T, m]
        var w = KernelBench.Weights(2, m, n, dt, out var owner);
        using (owner)
        {
            long macs = (long)T * m * n;
            double flops = 2.0 * macs, bytes = w.Bytes + 4.0 * (x.Length + y.Length);
            double budget = macs > 1L << 30 ? 2.0 : 0.6;
            bool refInLoop = macs <= 1L << 22;
            var t = CompareThreads(budget, () => SimdKernels.MatMul(x, w, y, T), refInLoop ? () => ReferenceKernels.MatMul(x, w, y, T) : () => { });
            double simd = t[0], one = t[1];
            double reference = refInLoop ? t[2] : macs <= refLimit ? TimeOnce(() => ReferenceKernels.MatMul(x, w, y, T)) : double.NaN;
            Console.WriteLine($"{T,5} {m,5} {n,5} {DTypes.Name(dt),5} | {Ms(reference),9} {Ms(one),10} {Ms(simd),9} | " +
                $"{Rate(flops, reference),8} {Rate(flops, one),8} {Rate(flops, simd),9} {Rate(bytes, simd),9} | {Ratio(reference, simd),7} {Ratio(one, simd),6}");
        }
    }
}
