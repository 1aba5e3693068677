using System.Diagnostics;
using Palu.Cache;
using Palu.Kernels.Cpu;
using Palu.Models;
using Palu.Tensors;

namespace Palu.Bench;

/// <summary>
/// Decode latency of one attention block (q_proj, RoPE, K/V path, attention over the cache, o_proj) for one new token
/// at several context lengths: dense KV cache vs Palu latent cache (values rebuilt, and values fused into o_proj),
/// random weights of a chosen shape (default Llama-2-7B: d 4096, 32 heads × 128), measured side by side in one run.
/// usage: attention-block [--contexts 1024,4096,16384] [--hidden 4096] [--heads 32] [--kv-heads 32] [--head-dim 128]
///        [--keep 0.5] [--group-size 4] [--reps 5]
/// </summary>
public static class AttentionBlockBench
{
    public static int Run(string[] argv)
    {
        var a = new Args(argv);
        int d = a.Int("--hidden", 4096), H = a.Int("--heads", 32), Hkv = a.Int("--kv-heads", H), dh = a.Int("--head-dim", 128);
        int s = a.Int("--group-size", 4), reps = a.Int("--reps", 5);
        double keep = a.Double("--keep", 0.5);
        var contexts = a.Str("--contexts", "1024,4096,16384").Split(',').Select(int.Parse).ToArray();
        int maxS = contexts.Max();
        int width = s * dh, r = Compression.RankAllocation.Round(keep * width, width), groups = Hkv / s;
        var rng = new Palu.LinearAlgebra.Gaussian(7);
        var rope = new RopeTable(dh, maxS, 10000);
        var shape = new AttentionShape(H, Hkv, dh, rope, 1e-6f, null);
        Linear Rand(int rows, int cols) => new DenseLinear(WeightMatrix.FromFloats(rng.Floats(rows * cols, 0.02f), rows, cols));
        var q = Rand(H * dh, d);
        var o = (DenseLinear)Rand(d, H * dh);
        var dense = new DenseAttention(Rand(Hkv * dh, d), Rand(Hkv * dh, d), o, null, shape);
        LatentProjection Lat() => new(s, dh, Rand(groups * r, d), Enumerable.Range(0, groups).Select(_ => rng.Floats(width * r, 0.05f)).ToArray(), new float[]?[groups]);
        var kLat = Lat(); var vLat = Lat();
        var rebuilt = new LatentAttention(kLat, vLat, o, null, shape, fuseValues: false);
        var fused = new LatentAttention(kLat, vLat, o, null, shape, fuseValues: true);

        Console.WriteLine($"attention block decode, d {d}, {H} q / {Hkv} kv heads × {dh}, Palu s={s} keep {keep} → r={r} per group ({groups} groups), f32 cache, threads {Parallelism.Threads}");
        Console.WriteLine($"{"context",8} {"dense ms",10} {"latent ms",10} {"fused ms",10} {"latent/dense",13} {"fused/dense",12} {"dense KV MB",12} {"latent KV MB",13}");
        foreach (int S in contexts)
        {
            using var dc = (DenseLayerCache)dense.CreateCache(S);
            using var lc = (LatentLayerCache)rebuilt.CreateCache(S);
            dc.Write(rng.Floats((S - 1) * Hkv * dh, 1f), rng.Floats((S - 1) * Hkv * dh, 1f), 0, S - 1);
            lc.Write(rng.Floats((S - 1) * kLat.TotalRank, 1f), rng.Floats((S - 1) * vLat.TotalRank, 1f), 0, S - 1);
            var x = rng.Floats(d, 1f);
            var qv = new float[H * dh];
            var y = new float[d];
            void Step(KvAttention m, LayerCache c)
            {
                q.Forward(x, qv, 1);
                SimdKernels.Rope(qv, 1, H, S - 1, rope);
                m.Forward(x, qv, 1, S - 1, c, y, 0, null);
            }
            var t = Time(reps, () => Step(dense, dc), () => Step(rebuilt, lc), () => Step(fused, lc));
            Console.WriteLine($"{S,8} {t[0] * 1e3,10:F2} {t[1] * 1e3,10:F2} {t[2] * 1e3,10:F2} {t[1] / t[0],13:F2} {t[2] / t[0],12:F2} {dc.BytesAllocated / 1e6,12:F1} {lc.BytesAllocated / 1e6,13:F1}");
        }
        return 0;
    }

    /// <summary>Median seconds per call of each variant, run round-robin after a warm-up call of each.</summary>
    static double[] Time(int reps, params Action[] variants)
    {
        foreach (var v in variants) v();
        var samples = variants.Select(_ => new List<double>()).ToArray();
        for (int r = 0; r < reps; r++)
            for (int i = 0; i < variants.Length; i++)
            {
                var sw = Stopwatch.StartNew();
                variants[i]();
                samples[i].Add(sw.Elapsed.TotalSeconds);
            }
        return samples.Select(Harness.Median).ToArray();
    }
}
