using BenchmarkDotNet.Running;

namespace Palu.Bench;

/// <summary>
/// <c>dotnet run -c Release --project bench/Palu.Bench -- &lt;command&gt; [options]</c>. One static class per command,
/// each in its own file; add a command by adding a case here and a line to <see cref="Usage"/>.
/// </summary>
public static class Program
{
    public static int Main(string[] args)
    {
        string command = args.Length > 0 ? args[0] : "help";
        string[] rest = args.Length > 0 ? args[1..] : [];
        switch (command)
        {
            case "kernels": return KernelBench.Run(rest);
            case "tokens": return TokensBench.Run(rest);
            case "weights-synth": return WeightsSynthBench.Run(rest);
            case "attention-block": return AttentionBlockBench.Run(rest);
            case "kv-memory": return KvMemoryBench.Run(rest);
            case "latent-quant": return LatentQuantBench.Run(rest);
            case "linalg": return LinalgBench.Run(rest);
            case "fingerprint": return FingerprintBench.Run(rest);
            case "golden": return GoldenBench.Run(rest);
            case "weight-scan": return WeightScanBench.Run(rest);
            case "batch": return BatchBench.Run(rest);
            case "sequences-memory": return SequencesMemoryBench.Run(rest);
            case "bdn": BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(rest); return 0;
            case "help" or "-h" or "--help": Usage(); return 0;
            default: Console.Error.WriteLine($"unknown command '{command}'"); Usage(); return 2;
        }
    }

    static void Usage() => Console.WriteLine("""
        usage: dotnet run -c Release --project bench/Palu.Bench -- <command> [options]
          kernels [matmul|elementwise|attention ...] [--quick] [--threads N] [--dtypes F32,BF16,F16]
                  Stopwatch harness: reference vs SIMD kernels side by side (GFLOP/s, GB/s, speedup).
          tokens --model DIR [--model DIR2 ...] [--prompt 512] [--gen 128] [--reps 3] [--fuse-values | --compare-fusion]
                  End-to-end prefill and decode tokens/s (llama-bench pp/tg) and implied weight bandwidth.
          weights-synth (--source DIR | --llama7b-layers 2 [--vocab 1024]) --out DIR [--keeps 0.8,0.6,0.4]
                  SVD-LLM and SkipCat models of the shapes the compressor makes per budget, random factor values (for tokens).
          attention-block [--contexts 1024,4096,16384] [--hidden 4096] [--heads 32] [--kv-heads 32] [--head-dim 128] [--keep 0.5] [--group-size 4]
                  Decode latency of one attention block: dense KV cache vs Palu latent cache (rebuilt / fused values).
          kv-memory --model DIR [--model DIR2 ...] [--tokens 1024]
          latent-quant [--contexts 1024,4096,16384] [--keep 0.5] [--group-size 4] [--reps 3] [--prefill 4096]   (issue 10: dense f32/bf16 vs latent f32/4/3/2-bit decode, rate vs measured peaks, cache bytes)
                  KV-cache bytes held after an N-token prefill (buffer bytes and resident-set growth).
          linalg [--sizes 512,1024,2048] [--with-4096] [--providers managed,lapack] [--ops chol,trinv,eig,svd,rsvd,gemm32,gemm64] [--accuracy]
                  Dense linear algebra: managed vs LAPACK/OpenBLAS timings side by side, randomized-SVD accuracy.
          batch --model DIR [--model DIR2 ...] [--batch 8] [--prompt 512] [--gen 64] [--reps 3]
                  Aggregate decode tok/s of B sequences on one model: one after another vs batched steps.
          sequences-memory --model DIR [--model DIR2 ...] [--count 8] [--prompt 512]
                  Memory of N sequences on one model vs N model copies (VmRSS, RssAnon, RssFile, Pss), fresh processes.
          fingerprint --model DIR [--model DIR2 ...] [--prompt 300] [--gen 40] [--ppl FILE] [--windows 8] [--fuse-values]
                  SHA-256 of prefill and greedy-decode logits and the perplexity NLL bits: checks a change is bit-identical.
          weight-scan --model DIR [--model DIR2 ...] [--reps 5]
                  Cost of the load-time NaN/Inf and dtype-label scan of every weight next to a load without it.
          golden --model DIR [--model DIR2 ...]
                  Largest max|Δ|/max|golden| of our logits vs the transformers goldens in DIR/golden/logits.safetensors.
          bdn [BenchmarkDotNet options, e.g. --filter *MatMul*]
                  BenchmarkDotNet classes for the same kernels.
        """);
}
