using Palu.IO;
using Palu.Models;

namespace Palu.Bench;

/// <summary>
/// How close our logits are to the goldens (transformers, fp32): per model, the largest max|Δ|/max|golden| over every
/// stored position of every golden prompt (the tests only assert ≤ 1e-4; this prints the measured value).
/// usage: golden --model DIR [--model DIR2 ...]
/// </summary>
public static class GoldenBench
{
    public static int Run(string[] argv)
    {
        var a = new Args(argv);
        foreach (var dir in a.All("--model"))
        {
            using var lm = CausalLM.Load(dir);
            using var golden = SafetensorsFile.Open(Path.Combine(dir, "golden", "logits.safetensors"));
            double worst = 0;
            int positions = 0;
            for (int k = 0; golden.Tensors.ContainsKey($"input_ids_{k}"); k++)
            {
                var ids = golden.ReadInt64($"input_ids_{k}").Select(v => (int)v).ToArray();
                int T = ids.Length, V = lm.Vocab;
                var stored = golden.Tensors.ContainsKey($"positions_{k}")
                    ? golden.ReadInt64($"positions_{k}") : Enumerable.Range(0, T).Select(i => (long)i).ToArray();
                var want = golden.ReadFloat32($"logits_{k}");     // [P, V]
                using var seq = lm.NewSequence(T);
                var hidden = new float[T * lm.Hidden];           // [T, d]
                var logits = new float[T * V];                   // [T, V]
                lm.Forward(ids, seq, hidden);
                lm.Logits(hidden, logits, T);
                for (int i = 0; i < stored.Length; i++, positions++)
                {
                    var g = want.AsSpan(i * V, V);
                    var o = logits.AsSpan((int)stored[i] * V, V);
                    float maxAbs = 0, maxDiff = 0;
                    for (int v = 0; v < V; v++) { maxAbs = Math.Max(maxAbs, Math.Abs(g[v])); maxDiff = Math.Max(maxDiff, Math.Abs(o[v] - g[v])); }
                    worst = Math.Max(worst, maxDiff / maxAbs);
                }
            }
            Console.WriteLine($"{Harness.Trim(dir)}: max|Δ|/max|golden| = {worst:0.00E+0} over {positions} positions");
        }
        return 0;
    }
}
