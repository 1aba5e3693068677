using System.Diagnostics;
using Palu.Generation;
using Palu.Models;

namespace Palu.Bench;

/// <summary>
/// Aggregate decode speed of B sequences on one loaded model: decoded one after another (B × G single-token steps)
/// against batched (G steps of <see cref="CausalLM.DecodeBatch"/>, each weight read once per step for all B). Each
/// sequence holds its own random P-token prompt; every repetition rewinds the caches to the prompt, so both variants
/// decode over the same contexts. Variants alternate, median of the repetitions.
/// usage: batch --model DIR [--model DIR2 ...] [--batch 8] [--prompt 512] [--gen 64] [--reps 3]
/// </summary>
public static class BatchBench
{
    public static int Run(string[] argv)
    {
        var a = new Args(argv);
        int B = a.Int("--batch", 8), P = a.Int("--prompt", 512), G = a.Int("--gen", 64), reps = a.Int("--reps", 3);
        Console.WriteLine($"threads {Kernels.Cpu.Parallelism.Threads}, {B} sequences × (prompt {P}, decode {G}), median of {reps} after a warm-up run");
        Console.WriteLine($"{"model",-40} {"sequential tok/s",17} {"batched tok/s",14} {"batched/seq",12} {"weights MB/step",16}");
        foreach (var dir in a.All("--model"))
        {
            using var lm = CausalLM.Load(dir);
            var rng = new Random(1);
            var seqs = Enumerable.Range(0, B).Select(_ => lm.NewSequence(P + G + 1)).ToArray();
            var first = new int[B];
            var hidden = new float[P * lm.Hidden];
            var logits = new float[B * lm.Vocab];   // [B, V]
            for (int b = 0; b < B; b++)
            {
                var prompt = Enumerable.Range(0, P).Select(_ => rng.Next(2, lm.Vocab)).ToArray();
                lm.Forward(prompt, seqs[b], hidden);
                lm.Logits(hidden.AsSpan((P - 1) * lm.Hidden, lm.Hidden), logits.AsSpan(0, lm.Vocab), 1);
                first[b] = Sampler.ArgMax(logits.AsSpan(0, lm.Vocab));
            }
            using var ws = lm.NewWorkspace();
            var h = new float[B * lm.Hidden];
            double Sequential()
            {
                var sw = Stopwatch.StartNew();
                for (int b = 0; b < B; b++)
                {
                    seqs[b].RewindTo(P);
                    int next = first[b];
                    for (int g = 0; g < G; g++)
                    {
                        lm.Forward([next], seqs[b], h.AsSpan(0, lm.Hidden));
                        lm.Logits(h.AsSpan(0, lm.Hidden), logits.AsSpan(0, lm.Vocab), 1);
                        next = Sampler.ArgMax(logits.AsSpan(0, lm.Vocab));
                    }
                }
                return B * G / sw.Elapsed.TotalSeconds;
            }
            double Batched()
            {
                var sw = Stopwatch.StartNew();
                foreach (var s in seqs) s.RewindTo(P);
                var next = first.ToArray();
                for (int g = 0; g < G; g++)
                {
                    lm.DecodeBatch(next, seqs, h, ws);
                    lm.Logits(h, logits, B);
                    for (int b = 0; b < B; b++) next[b] = Sampler.ArgMax(logits.AsSpan(b * lm.Vocab, lm.Vocab));
                }
                return B * G / sw.Elapsed.TotalSeconds;
            }
            Sequential(); Batched();   // warm-up
            var seq = new List<double>(); var bat = new List<double>();
            for (int r = 0; r < reps; r++) { seq.Add(Sequential()); bat.Add(Batched()); }
            double s1 = Harness.Median(seq), b1 = Harness.Median(bat);
            Console.WriteLine($"{Harness.Trim(dir),-40} {s1,17:F1} {b1,14:F1} {b1 / s1,12:F2} {lm.DecodeWeightBytes / 1e6,16:F2}");
            foreach (var s in seqs) s.Dispose();
        }
        return 0;
    }
}
