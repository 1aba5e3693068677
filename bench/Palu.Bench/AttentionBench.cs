using Palu.Kernels.Cpu;
using static Palu.Bench.Harness;

namespace Palu.Bench;

/// <summary>
/// Attention at decode (T = 1 deep into the cache) and prefill (T rows from position 0) shapes.
/// GFLOP/s counts 4·d per visible (query, key) pair (q·k and p·v); GB/s counts the K and V rows read once.
/// </summary>
public static class AttentionBench
{
    public static void Run(bool quick)
    {
        double budget = quick ? 0.2 : 0.6;
        Console.WriteLine();
        Console.WriteLine("Attention (GFLOP/s = 4·d·visible pairs·H / time; GB/s = K and V rows read once / time)");
        Console.WriteLine($"{"T",5} {"pos",5} {"H",3} {"Hkv",3} {"d",4} | {"ref ms",9} {"simd 1T ms",10} {"simd ms",9} | {"GF/s",6} {"GB/s",6} | {"vs ref",7} {"vs 1T",6}");
        foreach (var (T, pos, H, Hkv, d) in new[]
        {
            (1, 1023, 3, 3, 64), (1, 1023, 32, 8, 128), (1, 4095, 32, 8, 128), (1, 511, 8, 4, 8),
            (128, 0, 32, 8, 128), (1024, 0, 3, 3, 64),
        })
        {
            if (quick && (long)T * (pos + T) * H * d > 1L << 26) continue;
            int maxSeq = pos + T;
            var q = KernelBench.Random(1, T * H * d);              // [T, H, d]
            var k = KernelBench.Random(2, Hkv * maxSeq * d);       // [Hkv, maxSeq, d]
            var v = KernelBench.Random(3, Hkv * maxSeq * d);       // [Hkv, maxSeq, d]
            var o = new float[T * H * d];                          // [T, H, d]
            double pairs = (double)T * pos + (double)T * (T + 1) / 2;
            double flops = 4.0 * d * pairs * H, bytes = 8.0 * Hkv * maxSeq * d;
            bool refInLoop = pairs * H * d <= 1 << 22;
            var t = CompareThreads(budget, () => SimdKernels.Attention(q, k, v, o, T, pos, H, Hkv, d, maxSeq),
                refInLoop ? () => ReferenceKernels.Attention(q, k, v, o, T, pos, H, Hkv, d, maxSeq) : () => { });
            double reference = refInLoop ? t[2] : TimeOnce(() => ReferenceKernels.Attention(q, k, v, o, T, pos, H, Hkv, d, maxSeq));
            Console.WriteLine($"{T,5} {pos,5} {H,3} {Hkv,3} {d,4} | {Ms(reference),9} {Ms(t[1]),10} {Ms(t[0]),9} | {Rate(flops, t[0]),6} {Rate(bytes, t[0]),6} | {Ratio(reference, t[0]),7} {Ratio(t[1], t[0]),6}");
        }
    }
}
