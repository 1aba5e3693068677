using Palu.Kernels.Cpu;
using Palu.LinearAlgebra;
using Palu.Runtime;
using Palu.Tensors;

namespace Palu.Tests.Runtime;

/// <summary>One op case of the backend op table: a name, its shape, and how to run it on a backend (returns the output).</summary>
public sealed record OpCase(string Op, string Shape, Func<Backend, float[]> Run);

/// <summary>
/// The backend op table's cases (llama.cpp's test-backend-ops in spirit): every op over shapes that include odd sizes,
/// GQA ratios, head_dim 32/64/128, short and long T, every weight and cache dtype. Shared by the CPU test
/// (<c>BackendOpTests</c>) and the GPU test project, which run them on their backends against the reference.
/// </summary>
public static class OpCases
{
    internal static float[] Rand(int n, ulong seed, float std = 1f) => new Gaussian(seed).Floats(n, std);

    /// <summary>Uploads, runs, downloads: the result of <paramref name="body"/>'s output buffer.</summary>
    internal static float[] Result(Backend be, Buf y)
    {
        var r = new float[y.Length];
        be.Download(y, r);
        return r;
    }

    static WeightMatrix Weight(int rows, int cols, DType dtype, ulong seed)
    {
        var f = Rand(rows * cols, seed, 0.2f);
        if (dtype == DType.F32) return WeightMatrix.FromFloats(f, rows, cols);
        var buf = NativeBuffer.Allocate((long)rows * cols * 2);
        unsafe
        {
            if (dtype == DType.BF16) FloatConvert.SingleToBF16(f, buf.AsSpan<ushort>());
            else System.Numerics.Tensors.TensorPrimitives.ConvertToHalf(f, buf.AsSpan<Half>());
            return new WeightMatrix(buf.Pointer, dtype, rows, cols, buf);
        }
    }

    public static IEnumerable<OpCase> All()
    {
        foreach (var dt in new[] { DType.F32, DType.BF16, DType.F16 })
            foreach (var (T, n, m) in new[] { (1, 17, 5), (3, 64, 33), (13, 130, 96), (40, 64, 7), (5, 256, 128), (1, 128, 40), (8, 192, 70) })
                yield return new("MatMul", $"{DTypes.Name(dt)} T={T} [{m}, {n}]", be =>
                {
                    var w = be.Load(Weight(m, n, dt, (ulong)(n * m)));
                    var x = be.Load(Rand(T * n, 1));
                    var y = be.Load(new float[T * m]);
                    be.MatMul(x, w, y, T);
                    return Result(be, y);
                });
        yield return new("MatMul (host)", "BF16 T=4 [300, 48]", be =>
        {
            var w = be.Load(Weight(300, 48, DType.BF16, 9));
            var y = new float[4 * 300];
            be.MatMul(Rand(4 * 48, 2), w, y, 4);
            return y;
        });
        yield return new("MatMul (column prefix)", "F32 T=3 [20, 9 of 16]", be =>
        {
            var w = be.Load(Weight(20, 16, DType.F32, 4)).ColumnPrefix(9);
            var x = be.Load(Rand(3 * 9, 3));
            var y = be.Load(new float[3 * 20]);
            be.MatMul(x, w, y, 3);
            return Result(be, y);
        });
        foreach (var dt in new[] { DType.F32, DType.BF16 })
            yield return new("Embed", $"{DTypes.Name(dt)} [50, 24] × 7 ids", be =>
            {
                var x = be.Load(new float[7 * 24]);
                be.Embed(be.Load(Weight(50, 24, dt, 5)), [3, 0, 49, 3, 17, 8, 22], x);
                return Result(be, x);
            });
        yield return new("AddBias", "T=5 m=37", be =>
        {
            var y = be.Load(Rand(5 * 37, 6));
            be.AddBias(y, be.Load(Rand(37, 7)), 5);
            return Result(be, y);
        });
        yield return new("Add", "n=1001", be =>
        {
            var x = be.Load(Rand(1001, 8));
            be.Add(x, be.Load(Rand(1001, 9)));
            return Result(be, x);
        });
        foreach (var (rows, n) in new[] { (1, 64), (7, 33), (12, 192), (3, 4096) })
            yield return new("RmsNorm", $"rows={rows} n={n}", be =>
            {
                var x = be.Load(Rand(rows * n, 10, 3f));
                var y = be.Load(new float[rows * n]);
                be.RmsNorm(x, be.Load(Rand(n, 11)), y, rows, 1e-5f);
                return Result(be, y);
            });
        foreach (var (T, heads, d, start) in new[] { (1, 4, 32, 700), (5, 3, 64, 0), (9, 2, 128, 31) })
            yield return new("Rope", $"T={T} heads={heads} d_h={d} start={start}", be =>
            {
                var x = be.Load(Rand(T * heads * d, 12));
                be.Rope(x, T, heads, start, new RopeTable(d, 1024, 10000));
                return Result(be, x);
            });
        yield return new("SwiGlu", "n=1537", be =>
        {
            var g = be.Load(Rand(1537, 13, 3f));
            be.SwiGlu(g, be.Load(Rand(1537, 14)));
            return Result(be, g);
        });
        // chains as a decode step or a prefill makes them (a backend may hold an op back and fuse it with the next: the
        // CUDA one adds inside the norm and makes the SwiGLU inside the product that reads it); every buffer the chain
        // writes is compared
        foreach (var (n, add, m) in new[] { (1024, true, new[] { 37, 16, 16 }), (520, false, new[] { 33 }), (3000, true, new[] { 700, 9, 300 }) })
            yield return new($"{(add ? "Add → " : "")}RmsNorm → MatMul ×{m.Length}", $"one row n={n} → [{string.Join(", ", m)}]", be =>
            {
                var h = be.Load(Rand(n, 80, 2f));
                var xn = be.Load(new float[n]);
                if (add) be.Add(h, be.Load(Rand(n, 81)));
                be.RmsNorm(h, be.Load(Rand(n, 82)), xn, 1, 1e-5f);
                var ys = m.Select((rows, i) =>
                {
                    var y = be.Load(new float[rows]);
                    be.MatMul(xn, be.Load(Weight(rows, n, DType.BF16, (ulong)(83 + i))), y, 1);
                    return y;
                }).ToArray();
                return ys.SelectMany(y => Result(be, y)).Concat(Result(be, h)).Concat(Result(be, xn)).ToArray();
            });
        // a one-row product, the residual add of its output and the norm of the sum, read by the next product (the
        // attention's output projection or the MLP's down projection, then the next norm): the CUDA backend makes the
        // add and norm in the product's last block
        foreach (var (n, m, swiglu) in new[] { (1024, 1024, false), (1536, 520, true), (520, 36, false), (264, 33, true) })
            yield return new($"{(swiglu ? "SwiGlu → " : "")}MatMul → Add → RmsNorm → MatMul", $"one row n={n} → [{m}] → [17]", be =>
            {
                var x = be.Load(Rand(n, 93, 2f));
                var h = be.Load(Rand(m, 94, 3f));
                var y = be.Load(new float[m]);
                var xn = be.Load(new float[m]);
                var z = be.Load(new float[17]);
                if (swiglu) be.SwiGlu(x, be.Load(Rand(n, 95)));
                be.MatMul(x, be.Load(Weight(m, n, DType.BF16, 96)), y, 1);
                be.Add(h, y);
                be.RmsNorm(h, be.Load(Rand(m, 97)), xn, 1, 1e-5f);
                be.MatMul(xn, be.Load(Weight(17, m, DType.BF16, 98)), z, 1);
                return Result(be, y).Concat(Result(be, h)).Concat(Result(be, xn)).Concat(Result(be, z)).ToArray();
            });
        // the attention's start for one row, in the model's order (Q, its RoPE, K, V, the K RoPE, both stores) or with the
        // three products first (the CUDA backend queues the products, ropes and stores and runs them as two launches);
        // the caches are checked through the attention that reads them
        foreach (var (H, Hkv, dh, start, dt, modelOrder) in new[]
        {
            (4, 2, 64, 37, DType.BF16, true), (8, 8, 128, 300, DType.BF16, false), (4, 4, 32, 5, DType.F32, true), (6, 2, 64, 20, DType.F16, false),
        })
            yield return new("MatMul ×3 → Rope ×2 → Store ×2 → Attention", $"one row n=192 H={H}/{Hkv} d_h={dh} start={start} {DTypes.Name(dt)} cache{(modelOrder ? "" : ", products first")}", be =>
            {
                int n = 192, cap = start + 5;
                var rope = new RopeTable(dh, 1024, 10000);
                var x = be.Load(Rand(n, 110, 2f));
                var q = be.Load(new float[H * dh]);
                var k = be.Load(new float[Hkv * dh]);
                var v = be.Load(new float[Hkv * dh]);
                using var kc = new KvStore(be, dt, Hkv, cap, dh);
                using var vc = new KvStore(be, dt, Hkv, cap, dh);
                be.Store(be.Load(Rand(start * Hkv * dh, 111)), Hkv * dh, 0, kc, 0, start);   // the positions cached before
                be.Store(be.Load(Rand(start * Hkv * dh, 112)), Hkv * dh, 0, vc, 0, start);
                be.MatMul(x, be.Load(Weight(H * dh, n, DType.BF16, 113)), q, 1);
                if (modelOrder) be.Rope(q, 1, H, start, rope);
                be.MatMul(x, be.Load(Weight(Hkv * dh, n, DType.BF16, 114)), k, 1);
                be.MatMul(x, be.Load(Weight(Hkv * dh, n, DType.BF16, 115)), v, 1);
                if (!modelOrder) be.Rope(q, 1, H, start, rope);
                be.Rope(k, 1, Hkv, start, rope);
                be.Store(k, Hkv * dh, 0, kc, start, 1);
                be.Store(v, Hkv * dh, 0, vc, start, 1);
                var o = be.Load(new float[H * dh]);
                be.Attention(q, kc, vc, o, new AttentionCall(1, start, H, Hkv, dh, null));
                return Result(be, q).Concat(Result(be, k)).Concat(Result(be, v)).Concat(Result(be, o)).ToArray();
            });
        // the MLP of one or a few rows: gate and up products of one x, the SwiGLU, the down product (the CUDA backend
        // makes the first three in one launch when the rows allow)
        foreach (var (T, n, m) in new[] { (1, 520, 1408), (1, 264, 37), (1, 1024, 6), (8, 1024, 1408), (3, 640, 37) })
            yield return new("MatMul ×2 → SwiGlu → MatMul", $"{(T == 1 ? "one row" : $"T={T}")} n={n} → [{m}] ×2 → [24]", be =>
            {
                var x = be.Load(Rand(T * n, 99, 2f));
                var g = be.Load(new float[T * m]);
                var u = be.Load(new float[T * m]);
                var y = be.Load(new float[T * 24]);
                be.MatMul(x, be.Load(Weight(m, n, DType.BF16, 100)), g, T);
                be.MatMul(x, be.Load(Weight(m, n, DType.BF16, 101)), u, T);
                be.SwiGlu(g, u);
                be.MatMul(g, be.Load(Weight(24, m, DType.BF16, 102)), y, T);
                // the gate buffer itself is left out: a backend whose product makes the SwiGLU as it reads the gate
                // may keep the gate there (the CUDA one does on its held-back path)
                return Result(be, u).Concat(Result(be, y)).ToArray();
            });
        // products of a few rows of one x (Q, K, V of a batched decode step; the CUDA backend makes them in one launch)
        foreach (var (T, n, m) in new[] { (8, 1600, new[] { 300, 36, 36 }), (5, 1024, new[] { 40, 8, 8 }), (2, 4096, new[] { 1100, 70 }) })
            yield return new($"MatMul ×{m.Length}", $"T={T} n={n} → [{string.Join(", ", m)}]", be =>
            {
                var x = be.Load(Rand(T * n, 86));
                var ys = m.Select((rows, i) =>
                {
                    var y = be.Load(new float[T * rows]);
                    be.MatMul(x, be.Load(Weight(rows, n, DType.BF16, (ulong)(87 + i))), y, T);
                    return y;
                }).ToArray();
                return ys.SelectMany(y => Result(be, y)).ToArray();
            });
        foreach (var (T, n, m) in new[] { (1, 1536, 21), (12, 1536, 21), (1, 2600, 300), (8, 1600, 40), (3, 1024, 300) })
            yield return new("SwiGlu → MatMul", $"T={T} n={n} → [{m}]", be =>
            {
                var g = be.Load(Rand(T * n, 90, 2f));
                var y = be.Load(new float[T * m]);
                be.SwiGlu(g, be.Load(Rand(T * n, 91)));
                be.MatMul(g, be.Load(Weight(m, n, DType.BF16, 92)), y, T);
                return Result(be, y);
            });
        yield return new("Gather", "T=4 n=10 → 6", be =>
        {
            var y = be.Load(new float[4 * 6]);
            be.Gather(be.Load(Rand(40, 15)), be.Load([9, 0, 3, 3, 7, 1]), y, 4);
            return Result(be, y);
        });
        yield return new("GatherAdd", "T=4 n=10 → 3", be =>
        {
            var y = be.Load(Rand(4 * 3, 16));
            be.GatherAdd(be.Load(Rand(40, 17)), be.Load([2, 8, 5]), y, 4);
            return Result(be, y);
        });
        yield return new("CopyBlock", "rows=5 [11] → [7]", be =>
        {
            var y = be.Load(Rand(5 * 7, 18));
            be.CopyBlock(be.Load(Rand(5 * 11, 19)), 11, 4, y, 7, 2, 5, 5);
            return Result(be, y);
        });
        // dense attention: (H, Hkv, d_h, T, startPos, window, cache dtype)
        foreach (var (H, Hkv, dh, T, start, window, dt) in new[]
        {
            (4, 4, 32, 1, 9, 0, DType.F32), (8, 2, 64, 1, 700, 0, DType.F32), (8, 2, 64, 1, 700, 0, DType.BF16),
            (6, 3, 128, 3, 20, 0, DType.F16), (4, 1, 64, 40, 0, 0, DType.F32), (8, 4, 32, 70, 30, 16, DType.BF16),
            (12, 4, 64, 33, 600, 0, DType.F32), (2, 2, 128, 1, 900, 300, DType.F16),
            // bf16 caches of head width 64/128 take the GPU's fast kernels: tensor-core prefill (several 64-row tiles,
            // GQA, a window) and the 16-byte decode kernel (many splits, two rows, a window)
            (8, 2, 128, 150, 70, 0, DType.BF16), (4, 4, 64, 96, 0, 40, DType.BF16),
            (4, 4, 128, 1, 2500, 0, DType.BF16), (4, 2, 64, 2, 1300, 700, DType.BF16),
        })
            yield return new("Attention", $"H={H}/{Hkv} d_h={dh} T={T} start={start}{(window > 0 ? $" window={window}" : "")} {DTypes.Name(dt)} cache", be =>
            {
                int S = start + T, cap = S + 5;
                using var k = new KvStore(be, dt, Hkv, cap, dh);
                using var v = new KvStore(be, dt, Hkv, cap, dh);
                be.Store(be.Load(Rand(S * Hkv * dh, 20)), Hkv * dh, 0, k, 0, S);
                be.Store(be.Load(Rand(S * Hkv * dh, 21)), Hkv * dh, 0, v, 0, S);
                var o = be.Load(new float[T * H * dh]);
                be.Attention(be.Load(Rand(T * H * dh, 22)), k, v, o, new AttentionCall(T, start, H, Hkv, dh, window > 0 ? window : null));
                return Result(be, o);
            });
        // latent attention: (H, Hkv, d_h, key group size, value group size, T, startPos, window, bias, k-norm)
        foreach (var (H, Hkv, dh, sk, sv, T, start, window, bias, knorm) in new[]
        {
            (4, 4, 32, 1, 1, 1, 9, 0, false, false), (8, 2, 64, 2, 1, 1, 700, 0, true, false), (6, 2, 128, 1, 2, 5, 40, 0, false, true),
            (4, 4, 64, 2, 4, 40, 0, 0, true, true), (12, 4, 32, 4, 2, 33, 17, 9, false, false),
        })
            yield return new("LatentAttention", $"H={H}/{Hkv} d_h={dh} groups K {Hkv / sk}, V {Hkv / sv} T={T} start={start}{(window > 0 ? $" window={window}" : "")}{(bias ? " bias" : "")}{(knorm ? " k-norm" : "")}", be =>
            {
                int S = start + T, cap = S + 3;
                int[] kr = Enumerable.Range(0, Hkv / sk).Select(g => 5 + 3 * g).ToArray(), vr = Enumerable.Range(0, Hkv / sv).Select(g => 7 + g).ToArray();
                var kStores = kr.Select(r => new KvStore(be, DType.F32, 1, cap, r)).ToArray();
                var vStores = vr.Select(r => new KvStore(be, DType.F32, 1, cap, r)).ToArray();
                for (int g = 0; g < kr.Length; g++) be.Store(be.Load(Rand(S * kr[g], (ulong)(30 + g))), kr[g], 0, kStores[g], 0, S);
                for (int g = 0; g < vr.Length; g++) be.Store(be.Load(Rand(S * vr[g], (ulong)(40 + g))), vr[g], 0, vStores[g], 0, S);
                var heads = Enumerable.Range(0, Hkv).Select(h => new LatentHead(kStores[h / sk],
                    be.Load(Weight(dh, kr[h / sk], DType.F32, (ulong)(50 + h))), bias ? be.Load(Rand(dh, (ulong)(60 + h), 0.5f)) : default,
                    vStores[h / sv])).ToArray();
                var zOff = LatentAttentionKernels.ZOffsets(Enumerable.Range(0, Hkv).Select(h => vr[h / sv]).ToArray(), H);
                var z = be.Load(new float[T * zOff[H]]);
                var kNorm = knorm ? be.Load(Rand(dh, 70).Select(x => 1 + 0.3f * x).ToArray()) : default;
                be.LatentAttention(be.Load(Rand(T * H * dh, 71)), heads, kNorm, 1e-6f, new RopeTable(dh, 1024, 10000), zOff, z,
                    new AttentionCall(T, start, H, Hkv, dh, window > 0 ? window : null));
                foreach (var st in kStores.Concat(vStores)) st.Dispose();
                return Result(be, z);
            });
    }

    public static double Nmse(float[] y, float[] reference)
    {
        if (y.Length != reference.Length) return double.PositiveInfinity;
        double num = 0, den = 0;
        for (int i = 0; i < y.Length; i++)
        {
            double e = (double)y[i] - reference[i];
            num += e * e;
            den += (double)reference[i] * reference[i];
        }
        return den == 0 ? (num == 0 ? 0 : double.PositiveInfinity) : num / den;
    }

}
