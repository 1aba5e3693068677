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
        var be = Runtime.Backends.Default;
        var rope = new RopeTable(dh, maxS, 10000);
        var shape = new AttentionShape(H, Hkv, dh, rope, 1e-6f, null);
        float[] Floats(int n, float std) => rng.Floats(n, std);
        Runtime.DeviceWeight W(float[] v, int rows, int cols) => be.Load(WeightMatrix.FromFloats(v, rows, cols));
        Linear Rand(int rows, int cols) => new DenseLinear(W(Floats(rows * cols, 0.02f), rows, cols));
        var q = Rand(H * dh, d);
        var woHost = Floats(d * H * dh, 0.02f);                                  // [d, H·d_h]
        var o = new DenseLinear(W(woHost, d, H * dh));
        var dense = new DenseAttention(Rand(Hkv * dh, d), Rand(Hkv * dh, d), o, default, shape);
        var groupHeads = Compression.PaluPlan.ConsecutiveGroups(Hkv, s);
        (LatentProjection P, float[][] Ups) Lat()
        {
            var ups = Enumerable.Range(0, groups).Select(_ => Floats(width * r, 0.05f)).ToArray();   // [n_g][s·d_h, r]
            return (new LatentProjection(dh, Hkv, groupHeads, Rand(groups * r, d), ups.Select(u => W(u, width, r)).ToArray(), new Runtime.Buf[groups]), ups);
        }
        var (kLat, _) = Lat();
        var (vLat, vUps) = Lat();
        var rebuilt = new LatentAttention(kLat, vLat, o, default, shape);
        var (fw, _) = FusedOutput.Compute(woHost, null, d, shape, LatentAttention.ZOffsets(vLat, shape),
            kh => (vUps[vLat.GroupOf(kh)].AsMemory(vLat.SlotOf(kh) * dh * r, dh * r), default));
        var fused = new LatentAttention(kLat, vLat, o, default, shape, new DenseLinear(W(fw, d, fw.Length / d)));

        Console.WriteLine($"attention block decode, d {d}, {H} q / {Hkv} kv heads × {dh}, Palu s={s} keep {keep} → r={r} per group ({groups} groups), f32 cache, threads {Parallelism.Threads}");
        Console.WriteLine($"{"context",8} {"dense ms",10} {"latent ms",10} {"fused ms",10} {"latent/dense",13} {"fused/dense",12} {"dense KV MB",12} {"latent KV MB",13}");
        var options = new CacheOptions(DType.F32);
        using var ws = new Workspace(be);
        foreach (int S in contexts)
        {
            using var dc = dense.CreateCache(be, S, options);
            using var lc = rebuilt.CreateCache(be, S, options);
            // Random cache contents for positions [0, S − 1); the step appends position S − 1.
            var fills = new[] { Floats((S - 1) * Hkv * dh, 1f), Floats((S - 1) * Hkv * dh, 1f), Floats((S - 1) * kLat.TotalRank, 1f), Floats((S - 1) * vLat.TotalRank, 1f) }
                .Select(v => be.Load(v)).ToArray();
            ((IDenseKvCache)dc).Append(be, fills[0], fills[1], 0, S - 1);
            ((ILatentKvCache)lc).Append(be, fills[2], fills[3], 0, S - 1);
            foreach (var f in fills) f.Memory.Dispose();
            var x = Load(be, Floats(d, 1f));
            var qv = Load(be, new float[H * dh]);
            var y = Load(be, new float[d]);
            void Step(KvAttention m, Cache.LayerCache c)
            {
                q.Forward(be, x, qv, 1, ws);
                be.Rope(qv, 1, H, S - 1, rope);
                m.Forward(be, x, qv, [new StepRows(0, 1, S - 1, c)], y, 0, ws, null);
            }
            var t = Harness.RoundRobin(reps, () => Step(dense, dc), () => Step(rebuilt, lc), () => Step(fused, lc));
            Console.WriteLine($"{S,8} {t[0] * 1e3,10:F2} {t[1] * 1e3,10:F2} {t[2] * 1e3,10:F2} {t[1] / t[0],13:F2} {t[2] / t[0],12:F2} {dc.BytesAllocated / 1e6,12:F1} {lc.BytesAllocated / 1e6,13:F1}");
        }
        return 0;
    }

    static Runtime.Buf Load(Runtime.Backend be, float[] v) => be.Load(v);
}
