using Palu.Compression;
using Palu.Compression.Weights;
using Palu.IO;
using Palu.LinearAlgebra;
using Palu.Models;
using Palu.Tensors;

namespace Palu.Bench;

/// <summary>
/// Models for the weight-compression speed table (issue 12), with random factor values: speed does not depend on the
/// values, only on the shapes, which are exactly those the compressor produces for each budget (ranks from
/// <see cref="WeightBudget"/>, Cat groups, identity blocks with a random channel split). The source is a real model
/// (--source DIR) or a random-weight Llama-2-7B-shaped one (--llama7b-layers N: hidden 4096, 32 heads, ffn 11008,
/// BF16, vocab --vocab so that the layers, not the LM head, dominate). Then measure with <c>tokens --model …</c>.
/// usage: weights-synth (--source DIR | --llama7b-layers 2 [--vocab 1024]) --out DIR [--keeps 0.8,0.6,0.4] [--noskip] [--no-dense]
/// writes OUT/dense (when generated), OUT/svdllm-KEEP, OUT/skipcat-KEEP (and with --noskip OUT/skipcat-noskip-KEEP:
/// SkipCat's ranks without the identity blocks); prints the directories.
/// </summary>
public static class WeightsSynthBench
{
    public static int Run(string[] argv)
    {
        var a = new Args(argv);
        string outDir = a.Get("--out") ?? throw new ArgumentException("weights-synth: --out DIR required");
        string source = a.Get("--source") ?? Path.Combine(outDir, "dense");
        if (a.Get("--source") == null && !a.Flag("--no-dense")) WriteLlama7bShape(source, a.Int("--llama7b-layers", 2), a.Int("--vocab", 1024));
        Console.WriteLine(source);
        var keeps = a.Str("--keeps", "0.8,0.6,0.4").Split(',').Select(s => double.Parse(s, System.Globalization.CultureInfo.InvariantCulture));
        foreach (var keep in keeps)
            foreach (var (name, skipcat, skip) in new[] { ("svdllm", false, false), ("skipcat", true, true), ("skipcat-noskip", true, false) })
            {
                if (name == "skipcat-noskip" ? !a.Flag("--noskip") : a.Flag("--only-noskip")) continue;
                string dir = Path.Combine(outDir, $"{name}-{keep}");
                WriteCompressed(source, dir, keep, skipcat, skip);
                Console.WriteLine(dir);
            }
        return 0;
    }

    /// <summary>skipcat with <paramref name="skip"/> false: SkipCat's ranks and shared projections but full A (no
    /// identity block) — the same model without the skipped r×r blocks, to time what skipping them saves.</summary>
    static void WriteCompressed(string source, string dir, double keep, bool skipcat, bool skip)
    {
        using var md = ModelDirectory.Open(source);
        var c = md.Config;
        var dtype = md.Info(LinearKinds.Module(0, LinearKind.Q) + ".weight").DType;
        var groups = WeightGroups.For(c, null, cat: skipcat);
        var rng = new Gaussian(7);
        var factors = new List<GroupFactors>();
        foreach (var g in groups)
        {
            int r = WeightBudget.Rank(g.Out, g.In, keep, skipcat);
            int cols = skip ? g.In - r : g.In;
            int[]? J = null, rest = null;
            if (skip)
            {
                var perm = Enumerable.Range(0, g.In).OrderBy(_ => rng.Next()).ToArray();
                (J, rest) = (perm[..r], perm[r..]);
            }
            factors.Add(new GroupFactors(g, r, rng.Floats(r * cols, 0.02f), cols, g.Outs.Select(o => rng.Floats(o * r, 0.02f)).ToArray(),
                new float[]?[g.Members.Length], J, rest, null));
        }
        long stored = groups.Zip(factors).Sum(x => WeightBudget.Parameters(x.First.Out, x.First.In, x.Second.Rank, skip)), dense = groups.Sum(g => g.DenseParameters);
        var modules = factors.SelectMany(f => f.Modules()).ToArray();
        var plan = new CompressionPlan
        {
            OriginalArchitecture = c.Architecture, OriginalModelType = c.Family.ToString().ToLowerInvariant(),
            Weights = new WeightCompressionInfo
            {
                Method = skipcat ? "skipcat" : "svdllm", WeightsKeep = keep, Cat = skipcat, Skip = skip, Sequential = false,
                ParametersDense = dense, ParametersStored = stored, RealizedKeep = (double)stored / dense, FactorDType = DTypes.Name(dtype),
            },
            Modules = modules,
        };
        CheckpointWriter.Write(md, dir, factors.SelectMany(f => f.Tensors(dtype)), modules.Select(m => m.Name), plan, overwrite: true);
    }

    /// <summary>A random-weight Llama-2-7B-shaped checkpoint (BF16), tensors generated as they are written.</summary>
    static void WriteLlama7bShape(string dir, int layers, int vocab)
    {
        const int d = 4096, ffn = 11008, heads = 32, dh = 128;
        Directory.CreateDirectory(dir);
        var tensors = new List<TensorToWrite>();
        ulong seed = 11;
        void Mat(string name, int rows, int cols, float std = 0.02f, float center = 0)
        {
            ulong s = seed++;
            tensors.Add(new TensorToWrite(name, DType.BF16, rows == 1 ? [cols] : [rows, cols], () =>
            {
                var x = new Gaussian(s).Floats(rows * cols, std);
                if (center != 0) for (int i = 0; i < x.Length; i++) x[i] += center;
                return TensorToWrite.FromFloats(name, x, [x.Length], DType.BF16).Bytes();
            }));
        }
        Mat("model.embed_tokens.weight", vocab, d);
        Mat("lm_head.weight", vocab, d);
        Mat("model.norm.weight", 1, d, 0.05f, 1);
        for (int l = 0; l < layers; l++)
        {
            string p = LinearKinds.LayerPrefix(l);
            Mat(p + "input_layernorm.weight", 1, d, 0.05f, 1);
            Mat(p + "post_attention_layernorm.weight", 1, d, 0.05f, 1);
            foreach (var k in LinearKinds.All)
            {
                int rows = k is LinearKind.Gate or LinearKind.Up ? ffn : d, cols = k == LinearKind.Down ? ffn : d;
                Mat(LinearKinds.Module(l, k) + ".weight", rows, cols);
            }
        }
        SafetensorsWriter.WriteSharded(dir, tensors.OrderBy(t => t.Name, StringComparer.Ordinal).ToList(), 4L << 30, new Dictionary<string, string> { ["format"] = "pt" });
        File.WriteAllText(Path.Combine(dir, "config.json"), $$"""
            {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": {{d}}, "intermediate_size": {{ffn}},
             "num_hidden_layers": {{layers}}, "num_attention_heads": {{heads}}, "num_key_value_heads": {{heads}}, "head_dim": {{dh}},
             "vocab_size": {{vocab}}, "max_position_embeddings": 4096, "rms_norm_eps": 1e-5, "rope_theta": 10000.0, "hidden_act": "silu",
             "tie_word_embeddings": false, "bos_token_id": 1, "eos_token_id": 2, "torch_dtype": "bfloat16"}
            """);
    }
}
