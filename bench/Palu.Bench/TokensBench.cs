using System.Diagnostics;
using Palu.Models;

namespace Palu.Bench;

/// <summary>
/// End-to-end speed of a model, llama-bench style: prefill of P prompt tokens (pp) and decode of G tokens one at a time
/// (tg), tokens/s, plus the weight bandwidth decode implies (bytes of weights read per token × tokens/s). Several
/// models in one run are measured side by side (e.g. dense vs Palu-compressed).
/// usage: tokens --model DIR [--model DIR2 ...] [--prompt 512] [--gen 128] [--reps 3] [--fuse-values | --compare-fusion] [--interleave]
/// (--compare-fusion: each latent model loaded twice, values rebuilt and fused into o_proj; --interleave: all models
/// loaded at once; in both cases the configurations are measured in turn in every repetition, robust to a load that drifts)
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
        bool[] paths = a.Flag("--compare-fusion") ? [false, true] : [a.Flag("--fuse-values")];
        var configs = models.SelectMany(d => paths.Select(f => (Dir: d, Fuse: f))).ToList();
        // one group = configurations measured in turn: all of them with --interleave, else each model's fusion variants
        List<List<(string Dir, bool Fuse)>> groups = a.Flag("--interleave") ? [configs] : configs.GroupBy(c => c.Dir).Select(g => g.ToList()).ToList();
        foreach (var group in groups) Interleaved(group, P, G, reps, paths.Length > 1);
        return 0;
    }

    /// <summary>The configurations loaded at once and measured in turn within each repetition, so that a load that
    /// changes over minutes (a shared machine) weighs on every one alike.</summary>
    static void Interleaved(List<(string Dir, bool Fuse)> configs, int P, int G, int reps, bool labelFusion)
    {
        var lms = configs.Select(c => CausalLM.Load(c.Dir, new LoadOptions { FuseValues = c.Fuse })).ToList();
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
            for (int i = 0; i < lms.Count; i++)
            {
                string label = Harness.Trim(configs[i].Dir) + (labelFusion ? (configs[i].Fuse ? " fused" : " unfused") : "");
                Row(label, lms[i], Harness.Median(pp[i]), Harness.Median(tg[i]), kv[i]);
            }
        }
        finally { foreach (var lm in lms) lm.Dispose(); }
    }

    static int[] Prompt(CausalLM lm, int P)
    {
        var rng = new Random(1);
        return Enumerable.Range(0, P).Select(_ => rng.Next(2, lm.Vocab)).ToArray();
    }

    /// <summary>Seconds of a P-token prefill and of G greedy decode steps, and the cache bytes per token.</summary>
    static (double Prefill, double Decode, long KvPerToken) Measure(CausalLM lm, int[] prompt, int G)
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
        return (tp, sw.Elapsed.TotalSeconds, cache.BytesPerToken);
    }

    static void Row(string label, CausalLM lm, double ppm, double tgm, long kvPerTok)
    {
        double mb = lm.DecodeWeightBytes / 1e6;
        Console.WriteLine($"{label,-40} {ppm,10:F1} {tgm,10:F1} {1000 / tgm,10:F2} {mb,15:F2} {mb * tgm / 1000,7:F2} {kvPerTok,10}");
    }
}
