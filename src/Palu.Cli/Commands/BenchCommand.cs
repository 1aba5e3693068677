using System.CommandLine;
using System.Diagnostics;
using Palu.Generation;
using Palu.Models;

namespace Palu.Cli.Commands;

/// <summary>
/// <c>palu bench decode|prefill</c>: end-to-end speed of a model on a device. Decode at context C: each sequence's
/// cache counts C positions as filled (zeros: the speed of attention does not depend on the values) and then G tokens
/// are decoded one step at a time, B sequences per step; prefill: N tokens in one sequence. Random token ids; the
/// first steps are a warm-up. Reports tok/s, ms/token, and the bytes of weights one step reads.
/// </summary>
public static class BenchCommand
{
    public static Command Create()
    {
        var bench = new Command("bench", "Measure decode and prefill speed of a model on a device (tok/s, ms per token).");
        bench.Subcommands.Add(Decode());
        bench.Subcommands.Add(Prefill());
        return bench;
    }

    static int[] Ints(string s, string option)
    {
        try { return s.Split(',', StringSplitOptions.RemoveEmptyEntries).Select(v => int.Parse(v.Trim())).ToArray(); }
        catch (FormatException) { throw new ArgumentException($"{option} takes comma-separated integers, e.g. 1024,16384; got '{s}'"); }
    }

    static Command Decode()
    {
        var model = new ModelInput("dense or Palu-compressed");
        var contexts = new Option<string>("--context") { Description = "cached positions before the timed steps, comma-separated", DefaultValueFactory = _ => "1024" };
        var batches = new Option<string>("--batch") { Description = "sequences decoded together per step, comma-separated", DefaultValueFactory = _ => "1" };
        var steps = new Option<int>("--steps") { Description = "timed decode steps per row (after 3 warm-up steps)", DefaultValueFactory = _ => 32 };
        var run = new RunOptions();
        var json = new Option<bool>("--json") { Description = "print one JSON object on stdout" };
        var cmd = new Command("decode", "Decode speed at given context lengths and batch sizes.") { contexts, batches, steps, json };
        model.AddTo(cmd);
        run.AddTo(cmd);
        cmd.SetAction((p, ct) =>
        {
            using var lm = CausalLM.Load(model.Get(p), run.Load(p));
            int G = p.GetValue(steps);
            if (G < 1) throw new ArgumentException($"--steps must be ≥ 1, got {G}");
            var rows = new List<Dictionary<string, object?>>();
            foreach (int C in Ints(p.GetValue(contexts)!, "--context"))
                foreach (int B in Ints(p.GetValue(batches)!, "--batch"))
                {
                    ct.ThrowIfCancellationRequested();
                    rows.Add(DecodeRow(lm, C, B, G));
                    var r = rows[^1];
                    Console.Error.WriteLine(r.GetValueOrDefault("error") is string e ? $"context {C}, batch {B}: {e}"
                        : $"context {C,6}, batch {B}: {r["tokens_per_s"],10:F1} tok/s, {r["ms_per_step"],8:F3} ms/step, KV {r["kv_bytes"]:N0} B");
                }
            Profile(lm);
            if (p.GetValue(json)) Cli.WriteJson(Result(lm, "decode", rows));
            return Task.FromResult(0);
        });
        return cmd;
    }

    static Dictionary<string, object?> DecodeRow(CausalLM lm, int C, int B, int G)
    {
        var row = new Dictionary<string, object?> { ["context"] = C, ["batch"] = B, ["steps"] = G };
        const int warm = 3;
        if (C + warm + G > lm.Config.MaxPositionEmbeddings)
        {
            row["error"] = $"context {C} + {warm + G} steps exceeds max_position_embeddings {lm.Config.MaxPositionEmbeddings}";
            return row;
        }
        var seqs = new List<SequenceState>();
        try
        {
            for (int b = 0; b < B; b++) { var s = lm.NewSequence(C + warm + G); seqs.Add(s); s.SkipTo(C); }
            using var ws = lm.NewWorkspace();
            var rng = new Random(C + B);
            var ids = new int[B];
            var hidden = new float[B * lm.Hidden];
            var logits = new float[B * lm.Vocab];
            void Step()
            {
                for (int b = 0; b < B; b++) ids[b] = rng.Next(2, lm.Vocab);
                if (B == 1) lm.Forward(ids, seqs[0], hidden);
                else lm.DecodeBatch(ids, seqs, hidden, ws);
                lm.Logits(hidden, logits, B);
            }
            for (int i = 0; i < warm; i++) Step();
            var sw = Stopwatch.StartNew();
            for (int i = 0; i < G; i++) Step();
            double s1 = sw.Elapsed.TotalSeconds;
            row["ms_per_step"] = Math.Round(s1 * 1000 / G, 4);
            row["tokens_per_s"] = Math.Round(B * G / s1, 2);
            row["kv_bytes"] = seqs.Sum(s => s.BytesInUse);
            row["weight_bytes_per_step"] = lm.DecodeWeightBytes;
            row["weight_gb_per_s"] = Math.Round(lm.DecodeWeightBytes * G / s1 / 1e9, 1);
        }
        catch (InsufficientMemoryException e) { row["error"] = "does not fit: " + e.Message; }
        finally { foreach (var s in seqs) s.Dispose(); }
        return row;
    }

    static Command Prefill()
    {
        var model = new ModelInput("dense or Palu-compressed");
        var tokens = new Option<string>("--tokens") { Description = "prompt lengths, comma-separated", DefaultValueFactory = _ => "512" };
        var reps = new Option<int>("--reps") { Description = "timed runs per length (after one warm-up run); the median is reported", DefaultValueFactory = _ => 3 };
        var run = new RunOptions();
        var json = new Option<bool>("--json") { Description = "print one JSON object on stdout" };
        var cmd = new Command("prefill", "Prefill speed at given prompt lengths.") { tokens, reps, json };
        model.AddTo(cmd);
        run.AddTo(cmd);
        cmd.SetAction((p, ct) =>
        {
            using var lm = CausalLM.Load(model.Get(p), run.Load(p));
            var rows = new List<Dictionary<string, object?>>();
            foreach (int N in Ints(p.GetValue(tokens)!, "--tokens"))
            {
                ct.ThrowIfCancellationRequested();
                var rng = new Random(N);
                var ids = Enumerable.Range(0, N).Select(_ => rng.Next(2, lm.Vocab)).ToArray();
                var hidden = new float[N * lm.Hidden];
                var logits = new float[lm.Vocab];
                var times = new List<double>();
                for (int r = 0; r <= p.GetValue(reps); r++)
                {
                    using var seq = lm.NewSequence(N);
                    var sw = Stopwatch.StartNew();
                    lm.Forward(ids, seq, hidden);
                    lm.Logits(hidden.AsSpan((N - 1) * lm.Hidden, lm.Hidden), logits, 1);
                    if (r > 0) times.Add(sw.Elapsed.TotalSeconds);
                }
                times.Sort();
                double t = times[times.Count / 2];
                // multiply-adds of the linears (2 flops each) per token, plus attention's q·k and p·v over the causal half
                double linear = 2.0 * lm.LinearParameters, attn = 2.0 * 2 * lm.Config.NumLayers * lm.Config.QDim * (N + 1) / 2.0;
                var row = new Dictionary<string, object?>
                {
                    ["tokens"] = N, ["seconds"] = Math.Round(t, 4), ["tokens_per_s"] = Math.Round(N / t, 1),
                    ["tflop_per_s"] = Math.Round((linear + attn) * N / t / 1e12, 2),
                };
                rows.Add(row);
                Console.Error.WriteLine($"prefill {N,6}: {row["tokens_per_s"],10:F1} tok/s, {t * 1000:F1} ms, {row["tflop_per_s"]} TFLOP/s");
            }
            Profile(lm);
            if (p.GetValue(json)) Cli.WriteJson(Result(lm, "prefill", rows));
            return Task.FromResult(0);
        });
        return cmd;
    }

    /// <summary>The CUDA backend's per-kernel times when PALU_CUDA_PROFILE=1, on stderr.</summary>
    static void Profile(CausalLM lm)
    {
        if (lm.Backend is Runtime.Cuda.CudaBackend g)
            foreach (var line in g.ProfileReport()) Console.Error.WriteLine("profile " + line);
    }

    static Dictionary<string, object?> Result(CausalLM lm, string what, List<Dictionary<string, object?>> rows) => new()
    {
        ["bench"] = what, ["model"] = lm.Path, ["device"] = lm.Backend.Name,
        ["device_name"] = lm.Backend is Runtime.Cuda.CudaBackend g ? g.DeviceName : Environment.ProcessorCount + " CPU threads",
        ["kv_dtype"] = Tensors.DTypes.Name(lm.DefaultKvDType).ToLowerInvariant(), ["linear_parameters"] = lm.LinearParameters,
        ["weight_bytes_per_step"] = lm.DecodeWeightBytes, ["rows"] = rows,
    };
}
