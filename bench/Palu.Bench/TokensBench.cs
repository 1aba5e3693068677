using System.Diagnostics;
using Palu.Models;

namespace Palu.Bench;

/// <summary>
/// End-to-end speed of a model, llama-bench style: prefill of P prompt tokens (pp) and decode of G tokens one at a time
/// (tg), tokens/s, plus the weight bandwidth decode implies (bytes of weights read per token × tokens/s). Several
/// models in one run are measured side by side (e.g. dense vs Palu-compressed).
<<<<<<< HEAD
/// usage: tokens --model DIR [--model DIR2 ...] [--prompt 512] [--gen 128] [--reps 3] [--fuse-values | --compare-fusion]
=======
/// usage: tokens --model DIR [--model DIR2 ...] [--prompt 512] [--gen 128] [--reps 3] [--fuse-values] [--interleave]
/// (--interleave: all models loaded, measured in turn in every repetition — robust to a load that drifts)
>>>>>>> weights
/// </summary>
public static class TokensBench
{
    public static int Run(string[] argv)
    {
        var a = new Args(argv);
        var models = a.All("--model");
        if (models.Count == 0) { Console.Error.WriteLine("tokens: --model DIR required"); return 2; }
        int P = a.Int("--prompt", 512), G = a.Int("--gen", 128), reps = a.Int("--reps", 3);
        Console.WriteLine($"threads {Kernels.Cpu.Parallelism.Threads}, prompt {P}, generate {G}, median of {reps} after one warm-up run");
        Console.WriteLine($"{"model",-40} {"pp tok/s",10} {"tg tok/s",10} {"tg ms/tok",10} {"weights MB/tok",15} {"GB/s",7} {"KV B/tok",10}");
<<<<<<< HEAD
        // --compare-fusion: each latent model loaded twice (values rebuilt / fused into o_proj), runs interleaved per rep
        bool[] paths = a.Flag("--compare-fusion") ? [false, true] : [a.Flag("--fuse-values")];
        foreach (var dir in models)
        {
            var lms = paths.Select(f => CausalLM.Load(dir, new LoadOptions { FuseValues = f })).ToArray();
            try
            {
                var rng = new Random(1);
                var prompt = Enumerable.Range(0, P).Select(_ => rng.Next(2, lms[0].Vocab)).ToArray();
                var pp = paths.Select(_ => new List<double>()).ToArray();
                var tg = paths.Select(_ => new List<double>()).ToArray();
                for (int r = 0; r <= reps; r++)
                    for (int i = 0; i < lms.Length; i++)
                    {
                        var (tp, tt) = Measure(lms[i], prompt, G);
                        if (r > 0) { pp[i].Add(P / tp); tg[i].Add(G / tt); }
                    }
                for (int i = 0; i < lms.Length; i++)
                {
                    double ppm = Harness.Median(pp[i]), tgm = Harness.Median(tg[i]);
                    double mb = lms[i].DecodeWeightBytes / 1e6;
                    string label = Harness.Trim(dir) + (paths.Length > 1 ? (paths[i] ? " fused" : " unfused") : "");
                    Console.WriteLine($"{label,-40} {ppm,10:F1} {tgm,10:F1} {1000 / tgm,10:F2} {mb,15:F2} {mb * tgm / 1000,7:F2} {lms[i].KvBytesPerToken,10}");
                }
            }
            finally { foreach (var lm in lms) lm.Dispose(); }
=======
        if (a.Flag("--interleave")) return Interleaved(models, P, G, reps);
        foreach (var dir in models)
        {
            using var lm = CausalLM.Load(dir, new LoadOptions { FuseValues = a.Flag("--fuse-values") });
            var prompt = Prompt(lm, P);
            var pp = new List<double>(); var tg = new List<double>();
            long kvPerTok = 0;
            for (int r = 0; r <= reps; r++)
            {
                var (tp, tt, kv) = Measure(lm, prompt, G);
                kvPerTok = kv;
                if (r > 0) { pp.Add(P / tp); tg.Add(G / tt); }
            }
            Row(dir, lm, Harness.Median(pp), Harness.Median(tg), kvPerTok);
>>>>>>> weights
        }
        return 0;
    }

<<<<<<< HEAD
    /// <summary>Seconds of one prefill of <paramref name="prompt"/> and of <paramref name="G"/> greedy decode steps after it.</summary>
    static (double Prefill, double Decode) Measure(CausalLM lm, int[] prompt, int G)
=======
    /// <summary>All models loaded at once and measured in turn within each repetition, so that a load that changes
    /// over minutes (a shared machine) weighs on every model alike.</summary>
    static int Interleaved(List<string> models, int P, int G, int reps)
    {
        var lms = models.Select(d => CausalLM.Load(d)).ToList();
        try
        {
            var pp = lms.Select(_ => new List<double>()).ToList();
            var tg = lms.Select(_ => new List<double>()).ToList();
            var kv = new long[lms.Count];
            for (int r = 0; r <= reps; r++)
                for (int i = 0; i < lms.Count; i++)
                {
                    var (tp, tt, k) = Measure(lms[i], Prompt(lms[i], P), G);
                    kv[i] = k;
                    if (r > 0) { pp[i].Add(P / tp); tg[i].Add(G / tt); }
                }
            for (int i = 0; i < lms.Count; i++) Row(models[i], lms[i], Harness.Median(pp[i]), Harness.Median(tg[i]), kv[i]);
        }
        finally { foreach (var lm in lms) lm.Dispose(); }
        return 0;
    }

    static int[] Prompt(CausalLM lm, int P)
    {
        var rng = new Random(1);
        return Enumerable.Range(0, P).Select(_ => rng.Next(2, lm.Vocab)).ToArray();
    }

    /// <summary>Seconds of a P-token prefill and of G greedy decode steps, and the cache bytes per token.</summary>
    static (double Prefill, double Decode, long KvPerToken) Measure(CausalLM lm, int[] prompt, int G)
>>>>>>> weights
    {
        int P = prompt.Length;
        using var cache = lm.NewSequence(P + G);
        var hidden = new float[P * lm.Hidden];
        var logits = new float[lm.Vocab];
        var sw = Stopwatch.StartNew();
        lm.Forward(prompt, cache, hidden);
        lm.Logits(hidden.AsSpan((P - 1) * lm.Hidden, lm.Hidden), logits, 1);
        double tp = sw.Elapsed.TotalSeconds;
        var h1 = new float[lm.Hidden];
        sw.Restart();
        for (int g = 0; g < G; g++)
        {
            int next = Generation.Sampler.ArgMax(logits);
            lm.Forward([next], cache, h1);
            lm.Logits(h1, logits, 1);
        }
<<<<<<< HEAD
        return (tp, sw.Elapsed.TotalSeconds);
=======
        return (tp, sw.Elapsed.TotalSeconds, cache.BytesPerToken);
    }

    static void Row(string dir, CausalLM lm, double ppm, double tgm, long kvPerTok)
    {
        double mb = lm.DecodeWeightBytes / 1e6;
        Console.WriteLine($"{Harness.Trim(dir),-40} {ppm,10:F1} {tgm,10:F1} {1000 / tgm,10:F2} {mb,15:F2} {mb * tgm / 1000,7:F2} {kvPerTok,10}");
>>>>>>> weights
    }
}
