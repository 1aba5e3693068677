using System.Security.Cryptography;
using Palu.Models;

namespace Palu.Bench;

/// <summary>
/// Bit-exact fingerprints of a model's outputs, to check that a change of code leaves results unchanged: SHA-256 of
/// the raw f32 bits of every prefill logit row ([T, V]) of a fixed pseudo-random prompt, of the logits of each greedy
/// decode step after it, the greedy tokens, and the WikiText-2 mean NLL as the hex of its double bits.
/// usage: fingerprint --model DIR [--model DIR2 ...] [--prompt 300] [--gen 40] [--ppl FILE] [--windows 8] [--fuse-values]
/// </summary>
public static class FingerprintBench
{
    public static int Run(string[] argv)
    {
        var a = new Args(argv);
        int P = a.Int("--prompt", 300), G = a.Int("--gen", 40), windows = a.Int("--windows", 8);
        string? ppl = a.Get("--ppl");
        foreach (var dir in a.All("--model"))
        {
            using var lm = CausalLM.Load(dir, new LoadOptions { FuseValues = a.Flag("--fuse-values") });
            var rng = new Random(7);
            var prompt = Enumerable.Range(0, Math.Min(P, lm.Config.MaxPositionEmbeddings - G - 1)).Select(_ => rng.Next(2, lm.Vocab)).ToArray();
            int T = prompt.Length, d = lm.Hidden, V = lm.Vocab;
            using var cache = lm.NewSequence(T + G + 1);
            var hidden = new float[T * d];                // [T, d]
            var logits = new float[T * V];                // [T, V]
            lm.Forward(prompt, cache, hidden);
            lm.Logits(hidden, logits, T);
            using var prefill = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            prefill.AppendData(System.Runtime.InteropServices.MemoryMarshal.AsBytes(logits.AsSpan()));
            using var decode = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            var last = logits.AsSpan((T - 1) * V, V).ToArray();   // [V]
            var h1 = new float[d];
            var tokens = new List<int>();
            for (int g = 0; g < G; g++)
            {
                int next = Generation.Sampler.ArgMax(last);
                tokens.Add(next);
                lm.Forward([next], cache, h1);
                lm.Logits(h1, last, 1);
                decode.AppendData(System.Runtime.InteropServices.MemoryMarshal.AsBytes(last.AsSpan()));
            }
            string nll = "-";
            if (ppl != null)
            {
                var tok = Text.Tokenizer.FromDirectory(dir);
                var r = Evaluation.Perplexity.EvaluateText(lm, tok, File.ReadAllText(ppl), Math.Min(1024, lm.Config.MaxPositionEmbeddings),
                    Evaluation.PerplexityProtocol.BosWindows, windows);
                nll = $"{BitConverter.DoubleToInt64Bits(r.Nll):x16} ({r.Ppl:F6}, {r.Tokens} tokens)";
            }
            Console.WriteLine($"{Harness.Trim(dir)}");
            Console.WriteLine($"  prefill {Hex(prefill)}");
            Console.WriteLine($"  decode  {Hex(decode)}");
            Console.WriteLine($"  tokens  {string.Join(' ', tokens)}");
            Console.WriteLine($"  nll     {nll}");
        }
        return 0;
    }

    static string Hex(IncrementalHash h) => Convert.ToHexString(h.GetHashAndReset()).ToLowerInvariant()[..16];
}
