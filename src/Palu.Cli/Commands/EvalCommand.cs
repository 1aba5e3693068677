using System.CommandLine;
using Palu.Evaluation;
using Palu.Models;
using Palu.Text;

namespace Palu.Cli.Commands;

/// <summary><c>palu eval …</c>: perplexity, zero-shot tasks and the comparison suite.</summary>
public static class EvalCommand
{
    public const string ProtocolHelp =
        "bos-windows (the goldens' protocol): the text encoded without special tokens into one stream, cut into " +
        "non-overlapping windows of seq-len − 1 tokens, each prefixed with BOS; every text token is scored (the first one " +
        "from BOS alone); the last, shorter window is included. stride (the papers' protocol, Palu/SVD-LLM run_ppl_eval): " +
        "the text encoded with the tokenizer's special tokens (BOS once at the start), cut into floor(N / seq-len) windows " +
        "of seq-len tokens; the first token of each window is context only; a trailing partial window is dropped.";

    /// <summary>
    /// <c>--protocol</c>: the full description on <c>eval ppl</c> (<paramref name="full"/>), a pointer to it elsewhere, so
    /// that every help page states it once.
    /// </summary>
    public static Option<string> ProtocolOption(bool full)
    {
        var o = new Option<string>("--protocol")
        {
            Description = full ? ProtocolHelp : "perplexity protocol: bos-windows (the goldens') | stride (the papers'); palu eval ppl --help describes both",
            DefaultValueFactory = _ => "bos-windows",
        };
        o.AcceptOnlyFromAmong("bos-windows", "stride");
        return o;
    }

    public static PerplexityProtocol ParseProtocol(string s) => s == "stride" ? PerplexityProtocol.Stride : PerplexityProtocol.BosWindows;

    public static Command Create()
    {
        var eval = new Command("eval", "Evaluate a model (perplexity, zero-shot tasks, before/after report).");
        eval.Subcommands.Add(Ppl());
        eval.Subcommands.Add(ZeroShotCommand.Create());
        eval.Subcommands.Add(SuiteCommand.Create());
        return eval;
    }

    static Command Ppl()
    {
        var model = new ModelInput("dense or Palu-compressed");
        var data = new Option<string?>("--data", "-d") { Description = "UTF-8 text file, read as is " + DataPaths.Help(DataPaths.PerplexityFile), HelpName = "FILE" };
        var seqLen = new Option<int?>("--seq-len") { Description = "window length in positions " + CommonOptions.ContextDefault(1024), HelpName = "N" };
        var maxWindows = new Option<int?>("--max-windows") { Description = "score only the first N windows", HelpName = "N" };
        var protocol = ProtocolOption(full: true);
        var run = new RunOptions();
        var json = new Option<bool>("--json") { Description = Cli.JsonHelp };
        var kvQuant = new Option<string?>("--kv-quant") { Description = "the KIVI baseline on a dense model: kivi2 | kivi4 (keys quantised per channel over blocks of 32 tokens, values per token over groups of 32 channels, f16 scales; simulated in an f32 store, bytes per token as packed)", HelpName = "KIND" };
        var kvResidual = new Option<int>("--kv-residual") { Description = "with --kv-quant: the most recent tokens kept in full precision (a multiple of 32)", DefaultValueFactory = _ => 128, HelpName = "N" };
        var cmd = new Command("ppl", "Perplexity of a model on a text file: exp(mean NLL of the scored tokens); --protocol says which tokens.")
            { data, seqLen, maxWindows, protocol, json, kvQuant, kvResidual };
        model.AddTo(cmd);
        run.AddTo(cmd);
        cmd.SetAction((p, ct) =>
        {
            string dir = model.Get(p);
            string file = DataPaths.FileOrDefault(p.GetValue(data), DataPaths.PerplexityFile, "--data");
            if (p.GetValue(maxWindows) is int w && w < 1) throw new ArgumentException($"--max-windows must be ≥ 1, got {w}");
            var proto = ParseProtocol(p.GetValue(protocol)!);
            if (!File.Exists(file)) throw new IO.ModelFormatException(file, "data file not found");
            int L = CommonOptions.SeqLen(p.GetValue(seqLen), 1024, CommonOptions.Config(dir), "--seq-len");
            var kivi = p.GetValue(kvQuant) is string kq ? Cache.KiviOptions.Parse(kq, p.GetValue(kvResidual)) : null;
            if (kivi != null && CommonOptions.Config(dir).PaluCompressed)
                throw new ArgumentException($"--kv-quant {p.GetValue(kvQuant)} quantises a dense cache, but {dir} is Palu-compressed (its cache holds latents: quantise them with palu compress --kv-bits)");
            using var lm = CausalLM.Load(dir, run.Load(p) with { Kivi = kivi });
            Perplexity.CheckSeqLen(lm, L);
            var tok = Tokenizer.FromDirectory(dir);
            string text = Text.TextInput.Read(file, "--data");
            if (string.IsNullOrWhiteSpace(text)) throw IO.InputError.File(file, "--data is empty: there is no text to score", "give a text file (e.g. WikiText-2's wiki.test.raw)");
            var r = Cli.WithProgress($"ppl {Path.GetFileName(file)}",
                progress => Perplexity.EvaluateText(lm, tok, text, L, proto, p.GetValue(maxWindows), progress, ct));
            var result = new Dictionary<string, object?>
            {
                ["model"] = dir, ["data"] = file, ["seq_len"] = L, ["protocol"] = Perplexity.ProtocolName(proto),
                ["windows"] = r.Windows, ["tokens"] = r.Tokens, ["nll"] = r.Nll, ["ppl"] = r.Ppl,
                ["seconds"] = Math.Round(r.Seconds, 3), ["tokens_per_s"] = Math.Round(r.Tokens / r.Seconds, 1),
                ["kv_cache"] = lm.Config.PaluCompressed ? (lm.Plan?.Modules.Any(m => m.Bits < 16) == true ? "latent-packed" : "latent") : kivi != null ? $"kivi{kivi.Bits} (residual {kivi.Residual})" : "dense", ["kv_bytes_per_token"] = lm.KvBytesPerToken,
                ["kv_dtype"] = Tensors.DTypes.Name(lm.DefaultKvDType).ToLowerInvariant(), ["device"] = lm.Backend.Name,
                ["threads"] = Kernels.Cpu.Parallelism.DefaultThreads,
            };
            if (p.GetValue(json)) Cli.WriteJson(result);
            else Console.Out.WriteLine($"ppl {r.Ppl:F4} (mean NLL {r.Nll:F6}) over {r.Tokens:N0} tokens in {r.Windows} windows of {L} ({Perplexity.ProtocolName(proto)}) of {Path.GetFileName(file)}; {r.Seconds:F1} s");
            return Task.FromResult(0);
        });
        return cmd;
    }
}
