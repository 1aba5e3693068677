using System.CommandLine;
using System.Diagnostics;
using Palu.Generation;
using Palu.Models;
using Palu.Text;

namespace Palu.Cli.Commands;

/// <summary><c>palu generate MODEL --prompt TEXT</c>: streams a continuation to stdout; speed to stderr.</summary>
public static class GenerateCommand
{
    /// <summary>Prompt tokens of the warm-up run (the timed run's kernels are then compiled).</summary>
    const int WarmupTokens = 32;

    public static Command Create()
    {
        var model = new ModelInput("dense or Palu-compressed");
        var prompt = new Option<string?>("--prompt", "-p") { Description = "prompt text (BOS is prepended when the tokenizer has one); or --prompt-file, or the prompt on stdin", HelpName = "TEXT" };
        var promptFile = new Option<string?>("--prompt-file", "-f") { Description = "read the prompt from FILE (- = stdin); one trailing newline is dropped", HelpName = "FILE" };
        var maxTokens = new Option<int>("--max-tokens", "-n") { Description = "new tokens to generate at most", DefaultValueFactory = _ => 64, HelpName = "N" };
        var temperature = new Option<float>("--temperature", "--temp") { Description = "0 = greedy; > 0 samples", DefaultValueFactory = _ => 0f, HelpName = "T" };
        var topP = new Option<float>("--top-p") { Description = "nucleus sampling: keep the most likely tokens up to this probability mass (1 = off)", DefaultValueFactory = _ => 1f, HelpName = "P" };
        var topK = new Option<int>("--top-k") { Description = "keep only the k most likely tokens (0 = off)", DefaultValueFactory = _ => 0, HelpName = "K" };
        var repetition = new Option<float>("--repetition-penalty") { Description = "divide the logit of every token already in the prompt or the output by this (multiply when negative), as transformers does; 1 = off, 1.1–1.3 typical", DefaultValueFactory = _ => 1f, HelpName = "X" };
        var frequency = new Option<float>("--frequency-penalty") { Description = "subtract X × (times generated so far) from a token's logit, as OpenAI's API does; in [-2, 2], 0 = off", DefaultValueFactory = _ => 0f, HelpName = "X" };
        var presence = new Option<float>("--presence-penalty") { Description = "subtract X from the logit of every token generated so far, as OpenAI's API does; in [-2, 2], 0 = off", DefaultValueFactory = _ => 0f, HelpName = "X" };
        var stop = new Option<string[]>("--stop") { Description = "stop before this text appears in the output (not printed); repeat for several", AllowMultipleArgumentsPerToken = false, HelpName = "TEXT" };
        var seed = new Option<int?>("--seed") { Description = "random seed for sampling (reproducible output)", HelpName = "N" };
        var run = new RunOptions();
        var noWarmup = new Option<bool>("--no-warmup") { Description = $"skip the warm-up run (the first {WarmupTokens} prompt tokens and one step, untimed) that keeps JIT compilation out of the printed speeds" };
        var json = new Option<bool>("--json") { Description = "print one JSON object on stdout instead of streaming the text" };
        var cmd = new Command("generate", "Generate text from a prompt; the speeds on stderr exclude a warm-up run.")
            { prompt, promptFile, maxTokens, temperature, topP, topK, repetition, frequency, presence, stop, seed, noWarmup, json };
        model.AddTo(cmd);
        run.AddTo(cmd);
        cmd.SetAction((p, ct) =>
        {
            string dir = model.Get(p);
            var sampling = new SamplingOptions(p.GetValue(temperature), p.GetValue(topK), p.GetValue(topP), p.GetValue(seed))
            {
                RepetitionPenalty = p.GetValue(repetition), FrequencyPenalty = p.GetValue(frequency), PresencePenalty = p.GetValue(presence),
            };
            sampling.Validate();
            int max = p.GetValue(maxTokens);
            if (max < 1) throw new ArgumentException($"--max-tokens must be ≥ 1, got {max}");
            var stops = new StopStrings(p.GetValue(stop) ?? []);
            string text = PromptText(p.GetValue(prompt), p.GetValue(promptFile));
            using var lm = CausalLM.Load(dir, run.Load(p));
            var tok = Tokenizer.FromDirectory(dir);
            var ids = tok.Encode(text, addSpecialTokens: true);
            if (ids.Length == 0) throw new ArgumentException("the prompt is empty and the tokenizer adds no BOS: nothing to condition on");
            if (ids.Length + max > lm.Config.MaxPositionEmbeddings)
                throw new ArgumentException($"prompt ({ids.Length} tokens) + --max-tokens ({max}) exceeds the model's context of {lm.Config.MaxPositionEmbeddings} tokens; shorten the prompt or lower --max-tokens");
            var eos = tok.EosTokenIds.Count > 0 ? tok.EosTokenIds : lm.Config.EosTokenIds;
            double warmup = p.GetValue(noWarmup) ? 0 : WarmUp(lm, ids);
            using var gen = new Generator(lm, sampling, max, eos, ids.Length + max);
            bool asJson = p.GetValue(json);
            var stream = tok.CreateStreamingDecoder(skipSpecialTokens: true);
            var completion = new System.Text.StringBuilder();
            void Emit(string s)
            {
                completion.Append(s);
                if (!asJson && s.Length > 0) { Console.Out.Write(s); Console.Out.Flush(); }
            }
            gen.AppendTokens(ids);
            if (!asJson) Console.Out.Write(text);
            while (!gen.IsDone && !stops.Stopped)
            {
                ct.ThrowIfCancellationRequested();
                Emit(stops.Push(stream.Append(gen.GenerateNextToken())));
            }
            if (!stops.Stopped) Emit(stops.Push(stream.Flush()) + stops.Flush());
            string finish = stops.Stopped ? "stop" : gen.FinishReason == FinishReason.EndOfSequence ? "eos" : "length";
            double prefillTps = gen.PrefillTokens / gen.PrefillTime.TotalSeconds;
            double decodeTps = gen.DecodeSteps > 0 ? gen.DecodeSteps / gen.DecodeTime.TotalSeconds : 0;
            if (asJson)
            {
                Cli.WriteJson(new Dictionary<string, object?>
                {
                    ["model"] = dir, ["prompt"] = text, ["completion"] = completion.ToString(),
                    ["prompt_tokens"] = ids.Length, ["completion_tokens"] = gen.NewTokens,
                    ["finish_reason"] = finish == "length" ? "length" : "stop", ["stopped_by"] = finish == "stop" ? stops.Matched : finish == "eos" ? "eos" : null,
                    ["prefill_tokens_per_s"] = Math.Round(prefillTps, 2), ["decode_tokens_per_s"] = Math.Round(decodeTps, 2),
                    ["warmup_seconds"] = Math.Round(warmup, 3), ["kv_cache_bytes"] = gen.State.BytesInUse, ["kv_bytes_per_token"] = gen.State.BytesPerToken,
                    ["kv_dtype"] = Tensors.DTypes.Name(lm.DefaultKvDType).ToLowerInvariant(), ["device"] = lm.Backend.Name,
                    ["threads"] = Kernels.Cpu.Parallelism.DefaultThreads,
                });
            }
            else
            {
                Console.Out.WriteLine();
                Console.Out.Flush();
                string why = finish == "stop" ? $"stop string {System.Text.Json.JsonSerializer.Serialize(stops.Matched)}" : finish;
                Console.Error.WriteLine($"[{ids.Length} prompt tokens, {gen.NewTokens} generated ({why}); prefill {prefillTps:F1} tok/s, decode {decodeTps:F1} tok/s " +
                    $"({(warmup > 0 ? $"after a {warmup:F2} s warm-up" : "no warm-up: includes JIT compilation")}); KV cache {gen.State.BytesInUse:N0} B]");
            }
            return Task.FromResult(0);
        });
        return cmd;
    }

    /// <summary>The prompt from --prompt, --prompt-file (- = stdin) or stdin when it is not a terminal; one of them.</summary>
    static string PromptText(string? prompt, string? file)
    {
        if (prompt is not null && file is not null) throw new ArgumentException("give the prompt once: --prompt TEXT or --prompt-file FILE, not both");
        if (prompt is not null) return prompt;
        string text;
        if (file is not null && file != "-")
        {
            if (!File.Exists(file)) throw new IO.ModelFormatException(file, "prompt file not found (--prompt-file)");
            text = Text.TextInput.Read(file, "--prompt-file");
        }
        else if (file == "-" || Console.IsInputRedirected) text = Console.In.ReadToEnd();
        else throw new ArgumentException("no prompt: give --prompt TEXT, --prompt-file FILE, or pipe it on stdin (palu generate MODEL < prompt.txt)");
        if (text.EndsWith("\r\n", StringComparison.Ordinal)) text = text[..^2];
        else if (text.EndsWith('\n')) text = text[..^1];
        return text;
    }

    /// <summary>
    /// Runs the first <see cref="WarmupTokens"/> prompt tokens and one decode step on a throw-away cache, so that the
    /// timed run measures compiled kernels rather than the JIT; returns its seconds.
    /// </summary>
    static double WarmUp(CausalLM lm, int[] ids)
    {
        var sw = Stopwatch.StartNew();
        int n = Math.Min(ids.Length, WarmupTokens);
        using var g = new Generator(lm, new SamplingOptions(), 2, [], n + 2);
        g.AppendTokens(ids.AsSpan(0, n));
        g.GenerateNextToken();
        return sw.Elapsed.TotalSeconds;
    }
}
