using System.Diagnostics;
using Palu.Models;

namespace Palu.Bench;

/// <summary>
/// End-to-end speed of a model, llama-bench style: prefill of P prompt tokens (pp) and decode of G tokens one at a time
/// (tg), tokens/s, plus the weight bandwidth decode implies (bytes of weights read per token × tokens/s). Several
/// models in one run are measured side by side (e.g. dense vs Palu-compressed).
/// usage: tokens --model DIR [--model DIR2 ...] [--prompt 512] [--gen 128] [--reps 3] [--fuse-values | --compare-fusion]
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
        }
        return 0;
    }

    /// <summary>Seconds of one prefill of <paramref name="prompt"/> and of <paramref name="G"/> greedy decode steps after it.</summary>
    static (double Prefill, double Decode) Measure(CausalLM lm, int[] prompt, int G)
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
        return (tp, sw.Elapsed.TotalSeconds);
    }
}
