using System.Diagnostics;
using Palu.Cache;
using Palu.Kernels.Cpu;
using Palu.Models;
using Palu.Tensors;

namespace Palu.Bench;

/// <summary>
/// Issue 10's benchmark, one attention layer of a chosen shape (default Llama-2-7B: d 4096, 32 heads × 128; Palu
/// s = 4, keep 0.5 → r = 256 per group), random weights, all in one run:
/// (1) decode step of the attention block at each context: dense f32 KV, dense bf16 KV, latent f32, latent 4-bit and
/// 2-bit (packed), median of --reps, measured round-robin; (2) the key reconstruction's arithmetic rate in the packed
/// path (2·S·r·d_h·H_kv flops per step over its step time) beside the machine's measured f32 FMA and int8 VNNI peaks
/// (<see cref="DotPeakBench"/>, one core, × threads); (3) cache bytes after a --prefill-token fill, measured in a fresh
/// child process per kind: the buffers' bytes and the resident-set growth (VmRSS) when the cache is created.
/// usage: latent-quant [--contexts 1024,4096,16384] [--hidden 4096] [--heads 32] [--head-dim 128] [--keep 0.5]
///        [--group-size 4] [--reps 3] [--prefill 4096]
/// </summary>
public static class LatentQuantBench
{
    static readonly string[] Kinds = ["dense-f32", "dense-bf16", "latent-f32", "latent-4bit", "latent-3bit", "latent-2bit"];

    sealed record Block(AttentionShape Shape, Linear Q, DenseAttention Dense, LatentAttention[] Latent, int Rank, int Groups);

    static Block Build(Args a, int maxS)
    {
        int d = a.Int("--hidden", 4096), H = a.Int("--heads", 32), Hkv = a.Int("--kv-heads", H), dh = a.Int("--head-dim", 128);
        int s = a.Int("--group-size", 4);
        double keep = a.Double("--keep", 0.5);
        int width = s * dh, r = Compression.RankAllocation.Round(keep * width, width), groups = Hkv / s;
        var rng = new Palu.LinearAlgebra.Gaussian(7);
        var be = Runtime.Backends.Default;
        var shape = new AttentionShape(H, Hkv, dh, new RopeTable(dh, maxS, 10000), 1e-6f, null);
        Runtime.DeviceWeight W(int rows, int cols, float std) => be.Load(WeightMatrix.FromFloats(rng.Floats(rows * cols, std), rows, cols));
        Linear Rand(int rows, int cols) => new DenseLinear(W(rows, cols, 0.02f));
        var o = Rand(d, H * dh);
        var heads = Compression.PaluPlan.ConsecutiveGroups(Hkv, s);
        var kDown = Rand(groups * r, d); var vDown = Rand(groups * r, d);
        var kUp = Enumerable.Range(0, groups).Select(_ => W(width, r, 0.05f)).ToArray();
        var vUp = Enumerable.Range(0, groups).Select(_ => W(width, r, 0.05f)).ToArray();
        LatentAttention Lat(int bits) => new(new LatentProjection(dh, Hkv, heads, kDown, kUp, new Runtime.Buf[groups]) { Bits = bits },
            new LatentProjection(dh, Hkv, heads, vDown, vUp, new Runtime.Buf[groups]) { Bits = bits }, o, default, shape);
        return new Block(shape, Rand(H * dh, d), new DenseAttention(Rand(Hkv * dh, d), Rand(Hkv * dh, d), o, default, shape),
            [Lat(16), Lat(4), Lat(3), Lat(2)], r, groups);
    }

    static (KvAttention, CacheOptions) Kind(Block b, string kind) => kind switch
    {
        "dense-f32" => (b.Dense, new CacheOptions(DType.F32)),
        "dense-bf16" => (b.Dense, new CacheOptions(DType.BF16)),
        "latent-f32" => (b.Latent[0], new CacheOptions(DType.F32)),
        "latent-4bit" => (b.Latent[1], new CacheOptions(DType.F32)),
        "latent-3bit" => (b.Latent[2], new CacheOptions(DType.F32)),
        _ => (b.Latent[3], new CacheOptions(DType.F32)),
    };

    /// <summary>Fills positions [0, n) with random keys/values or latents (through the cache's own append).</summary>
    static void Fill(Block b, KvAttention m, LayerCache c, int n, Palu.LinearAlgebra.Gaussian rng)
    {
        var be = Runtime.Backends.Default;
        const int chunk = 1024;
        for (int at = 0; at < n; at += chunk)
        {
            int T = Math.Min(chunk, n - at);
            if (c is IDenseKvCache dc)
            {
                int w = b.Shape.KvHeads * b.Shape.HeadDim;
                var k = be.Load(rng.Floats(T * w, 1f)); var v = be.Load(rng.Floats(T * w, 1f));
                dc.Append(be, k, v, at, T);
                k.Memory.Dispose(); v.Memory.Dispose();
            }
            else
            {
                var la = (LatentAttention)m;
                var hk = be.Load(rng.Floats(T * la.K.TotalRank, 1f)); var hv = be.Load(rng.Floats(T * la.V.TotalRank, 1f));
                ((ILatentKvCache)c).Append(be, hk, hv, at, T);
                hk.Memory.Dispose(); hv.Memory.Dispose();
            }
        }
    }

    public static int Run(string[] argv)
    {
        var a = new Args(argv);
        int prefill = a.Int("--prefill", 4096);
        if (a.Get("--memory-child") is string child) return MemoryChild(a, child, prefill);
        int reps = a.Int("--reps", 3);
        var contexts = a.Str("--contexts", "1024,4096,16384").Split(',').Select(int.Parse).ToArray();
        var b = Build(a, contexts.Max());
        var be = Runtime.Backends.Default;
        var sh = b.Shape;
        int d = b.Q.In, H = sh.Heads, dh = sh.HeadDim;
        var rng = new Palu.LinearAlgebra.Gaussian(11);
        var (f32Peak, int8Peak) = DotPeakBench.Measure();
        int threads = Parallelism.Threads;
        Console.WriteLine($"issue 10: attention block decode, d {d}, {H} q / {sh.KvHeads} kv heads × {dh}, Palu r = {b.Rank} per group ({b.Groups} groups), threads {threads}");
        Console.WriteLine("peaks: one core's best measured f32 FMA (zmm) and int8 VNNI (vpdpbusd ymm) rates so far, × threads (re-measured after each row)");
        Console.WriteLine($"| context | {string.Join(" | ", Kinds.Select(k => k + " ms"))} | 4-bit / dense-f32 | 2-bit / dense-f32 | 4-bit / latent-f32 | key rebuild GFLOP/s (4-bit) | % of f32 peak | % of int8 peak |");
        Console.WriteLine("|---" + string.Concat(Enumerable.Repeat("|---", Kinds.Length + 6)) + "|");
        using var ws = new Workspace(be);
        foreach (int S in contexts)
        {
            var caches = Kinds.Select(k => { var (m, o) = Kind(b, k); var c = m.CreateCache(be, S, o); Fill(b, m, c, S - 1, rng); return (m, c); }).ToArray();
            var x = be.Load(rng.Floats(d, 1f));
            var qv = be.Load(new float[H * dh]);
            var y = be.Load(new float[d]);
            void Step(KvAttention m, LayerCache c)
            {
                b.Q.Forward(be, x, qv, 1, ws);
                be.Rope(qv, 1, H, S - 1, sh.Rope);
                m.Forward(be, x, qv, [new StepRows(0, 1, S - 1, c)], y, 0, ws, null);
            }
            var t = Harness.RoundRobin(reps, caches.Select(mc => (Action)(() => Step(mc.m, mc.c))).ToArray());
            var (f2, i2) = DotPeakBench.Measure(2);   // again beside each row: on a shared machine the best seen is the peak
            (f32Peak, int8Peak) = (Math.Max(f32Peak, f2), Math.Max(int8Peak, i2));
            double flops = 2.0 * S * b.Rank * dh * sh.KvHeads, rate = flops / t[3] / 1e9;
            Console.WriteLine($"| {S} | {string.Join(" | ", t.Select(v => (v * 1e3).ToString("F2")))} | {t[3] / t[0]:F2} | {t[5] / t[0]:F2} | {t[3] / t[2]:F2} | {rate:F1} | {rate / (f32Peak * threads):P0} of {f32Peak * threads:F0} | {rate / (int8Peak * threads):P0} of {int8Peak * threads:F0} |");
            foreach (var (_, c) in caches) c.Dispose();
        }
        Memory(prefill, argv);
        return 0;
    }

    /// <summary>Each kind's cache in a fresh child process: created for, and filled with, <paramref name="n"/> positions.</summary>
    static void Memory(int n, string[] argv)
    {
        Console.WriteLine($"\ncache of one layer after a {n}-token fill, each kind in a fresh process (measured: the buffers' bytes, and VmRSS growth when the cache is created, its zero-filled buffers touching every page)");
        Console.WriteLine("| kind | buffers bytes | bytes/token | VmRSS growth | vs dense-f32 (buffers) |\n|---|---|---|---|---|");
        string self = Environment.ProcessPath!, dll = typeof(LatentQuantBench).Assembly.Location;
        long dense = 0;
        foreach (var kind in Kinds)
        {
            var psi = new ProcessStartInfo(self) { RedirectStandardOutput = true };
            if (!self.EndsWith("Palu.Bench")) psi.ArgumentList.Add(dll);
            foreach (var s in new[] { "latent-quant", "--memory-child", kind }.Concat(argv)) psi.ArgumentList.Add(s);
            using var p = Process.Start(psi)!;
            var f = p.StandardOutput.ReadToEnd().Trim().Split(' ');
            p.WaitForExit();
            long bytes = long.Parse(f[0]);
            if (kind == "dense-f32") dense = bytes;
            Console.WriteLine($"| {kind} | {bytes:N0} | {long.Parse(f[1]):N0} | {long.Parse(f[2]):N0} | {(double)bytes / dense:P1} |");
        }
    }

    static int MemoryChild(Args a, string kind, int n)
    {
        var b = Build(a, n);
        var (m, o) = Kind(b, kind);
        GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true);
        long r0 = Harness.Rss();
        using var c = m.CreateCache(Runtime.Backends.Default, n, o);   // buffers zero-filled: every page touched
        long grown = Harness.Rss() - r0;
        Fill(b, m, c, n, new Palu.LinearAlgebra.Gaussian(3));
        Console.WriteLine($"{c.BytesAllocated} {c.BytesPerToken} {grown}");
        return 0;
    }
}
