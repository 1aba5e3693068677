using System.CommandLine;
using Palu.Compression;
using Palu.IO;
using Palu.Models;
using Palu.Text;
using Spectre.Console;

namespace Palu.Cli.Commands;

/// <summary><c>palu inspect --model DIR [--json]</c>: architecture, parameters, dtypes, KV bytes per token, tokenizer, Palu ranks.</summary>
public static class InspectCommand
{
    public static Command Create()
    {
        var model = new ModelInput("dense or Palu-compressed");
        var json = new Option<bool>("--json") { Description = Cli.JsonHelp };
        var cmd = new Command("inspect", "Show a model's architecture, parameter count, dtypes, KV-cache bytes per token, tokenizer and Palu ranks.") { json };
        model.AddTo(cmd);
        cmd.SetAction(p =>
        {
            var info = Describe(model.Get(p));
            if (p.GetValue(json)) Cli.WriteJson(info);
            else Print(info);
            return 0;
        });
        return cmd;
    }

    public static Dictionary<string, object?> Describe(string dir)
    {
        using var md = ModelDirectory.Open(dir);
        var c = md.Config;
        using var lm = ModelLoader.Load(md, new LoadOptions { CheckWeights = false });   // doctor scans the weights; lm's Dispose disposes md too; ModelDirectory.Dispose is idempotent
        var dtypes = md.TensorNames.Select(md.Info).GroupBy(t => DTypes(t.DType)).ToDictionary(g => g.Key, g => g.Sum(t => t.ElementCount));
        long kvValuesDense = 2L * c.NumLayers * c.KvDim;
        long kvBytes = lm.KvBytesPerToken;
        string? tokKind = null; int tokVocab = 0;
        try { var t = Tokenizer.FromDirectory(dir); tokKind = t.Kind; tokVocab = t.VocabSize; }
        catch (ModelFormatException e) { tokKind = "unavailable: " + e.Message; }

        var o = new Dictionary<string, object?>
        {
            ["model"] = md.Path,
            ["architecture"] = c.Architecture,
            ["family"] = c.Family.ToString(),
            ["hidden_size"] = c.HiddenSize,
            ["num_layers"] = c.NumLayers,
            ["num_heads"] = c.NumHeads,
            ["num_kv_heads"] = c.NumKvHeads,
            ["head_dim"] = c.HeadDim,
            ["intermediate_size"] = c.IntermediateSize,
            ["vocab_size"] = c.VocabSize,
            ["max_position_embeddings"] = c.MaxPositionEmbeddings,
            ["rope_theta"] = c.RopeTheta,
            ["rope_scaling"] = c.RopeScaling?.Type,
            ["qkv_bias"] = c.QkvBias,
            ["qk_norm"] = c.QkNorm,
            ["sliding_window"] = c.SlidingWindow,
            ["tie_word_embeddings"] = c.TieWordEmbeddings,
            ["parameters"] = md.TotalParameters,
            ["dtypes"] = dtypes,
            ["weight_files"] = md.Files.Count,
            ["kv_cache_dtype"] = Tensors.DTypes.Name(lm.DefaultKvDType).ToLowerInvariant(),
            ["kv_values_per_token"] = kvBytes / sizeof(float),
            ["kv_values_per_token_dense"] = kvValuesDense,
            ["kv_bytes_per_token"] = kvBytes,
            ["kv_bytes_per_token_dense"] = kvValuesDense * sizeof(float),
            ["kv_bytes_per_token_dense_fp16"] = kvValuesDense * 2,
            ["tokenizer"] = tokKind,
            ["tokenizer_vocab"] = tokVocab,
            ["bos_token_id"] = c.BosTokenId,
            ["eos_token_ids"] = c.EosTokenIds,
        };
        InspectWeights.Add(o, md, lm);   // parameters (as stored), parameters_dense, weight bytes, per-module detail
        if (lm.Plan is { } m)
        {
            o["plan_version"] = m.Version;
            o["linear_parameters"] = lm.LinearParameters;
            KvAccounting.Add(o, m, kvBytes, kvValuesDense * 2);
            if (m.Kv is { } kv)
                o["palu"] = new Dictionary<string, object?>
                {
                    ["kv_keep"] = kv.KvKeep,
                    ["realized_keep"] = kv.RealizedKeep,
                    ["realized_compression"] = 1 - kv.RealizedKeep,
                    ["group_size"] = kv.GroupSize,
                    ["rank_allocation"] = kv.RankAllocation,
                    ["decomposition"] = kv.Decomposition,
                    ["rank_multiple"] = kv.RankMultiple,
                    ["factor_dtype"] = kv.FactorDType,
                    ["calibration"] = m.Calibration,
                    ["layers"] = Enumerable.Range(0, c.NumLayers).Select(i => m.KvRanks(i))
                        .Select((r, i) => new Dictionary<string, object> { ["layer"] = i, ["k_ranks"] = r.K, ["v_ranks"] = r.V }).ToArray(),
                };
        }
        return o;
    }

    static string DTypes(Tensors.DType t) => Tensors.DTypes.Name(t);

    static void Print(Dictionary<string, object?> info)
    {
        var table = new Table().AddColumn("property").AddColumn("value");
        foreach (var (k, v) in info)
        {
            if (k is "palu" or "modules" or "weights") continue;
            string s = v switch
            {
                null => "-",
                Dictionary<string, long> d => string.Join(", ", d.Select(kv => $"{kv.Key}: {kv.Value:N0}")),
                IEnumerable<int> e => string.Join(", ", e),
                long l => l.ToString("N0"),
                _ => v.ToString() ?? "",
            };
            table.AddRow(Markup.Escape(k), Markup.Escape(s));
        }
        Cli.Out.Write(table);
        if (info.TryGetValue("palu", out var p) && p is Dictionary<string, object?> palu)
        {
            Cli.Out.MarkupLine($"[bold]Palu[/]: kv_keep {palu["kv_keep"]}, realized {palu["realized_keep"]:F4}, group size {palu["group_size"]}, {palu["rank_allocation"]}, {palu["decomposition"]}");
            var ranks = new Table().AddColumn("layer").AddColumn("K ranks per group").AddColumn("V ranks per group");
            foreach (var l in (Dictionary<string, object>[])palu["layers"]!)
                ranks.AddRow(l["layer"].ToString()!, string.Join(" ", (int[])l["k_ranks"]), string.Join(" ", (int[])l["v_ranks"]));
            Cli.Out.Write(ranks);
        }
    }
}
