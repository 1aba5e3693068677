using System.CommandLine;
using Palu.Generation;
using Palu.Models;
using Palu.Tensors;
using Palu.Text;

namespace Palu.Cli.Commands;

/// <summary><c>palu generate --model DIR --prompt TEXT</c>: streams a continuation to stdout; speed to stderr.</summary>
public static class GenerateCommand
{
    public static Command Create()
    {
        var model = new Option<string>("--model", "-m") { Description = "model directory (dense or Palu-compressed)", Required = true };
        var prompt = new Option<string>("--prompt", "-p") { Description = "prompt text (BOS is prepended when the tokenizer has one)", Required = true };
        var maxTokens = new Option<int>("--max-tokens", "-n") { Description = "new tokens to generate at most", DefaultValueFactory = _ => 64 };
        var temperature = new Option<float>("--temperature", "-t") { Description = "0 = greedy (default); > 0 samples", DefaultValueFactory = _ => 0f };
        var topP = new Option<float>("--top-p") { Description = "nucleus sampling: keep the most likely tokens up to this probability mass (1 = off)", DefaultValueFactory = _ => 1f };
        var topK = new Option<int>("--top-k") { Description = "keep only the k most likely tokens (0 = off)", DefaultValueFactory = _ => 0 };
        var seed = new Option<int?>("--seed") { Description = "random seed for sampling (reproducible output)" };
        var run = new RunOptions();
        var json = new Option<bool>("--json") { Description = "print one JSON object on stdout instead of streaming text" };
        var cmd = new Command("generate", "Generate text from a prompt.") { model, prompt, maxTokens, temperature, topP, topK, seed, json };
        run.AddTo(cmd);
        cmd.SetAction((p, ct) =>
        {
            string dir = p.GetValue(model)!;
            var sampling = new SamplingOptions(p.GetValue(temperature), p.GetValue(topK), p.GetValue(topP), p.GetValue(seed));
            sampling.Validate();
            int max = p.GetValue(maxTokens);
            if (max < 1) throw new ArgumentException($"--max-tokens must be ≥ 1, got {max}");
            using var lm = CausalLM.Load(dir, run.Load(p));
            var tok = Tokenizer.FromDirectory(dir);
            var ids = tok.Encode(p.GetValue(prompt)!, addSpecialTokens: true);
            if (ids.Length == 0) throw new ArgumentException("the prompt is empty and the tokenizer adds no BOS: nothing to condition on");
            if (ids.Length + max > lm.Config.MaxPositionEmbeddings)
                throw new ArgumentException($"prompt ({ids.Length} tokens) + --max-tokens ({max}) exceeds the model's context of {lm.Config.MaxPositionEmbeddings} tokens; shorten the prompt or lower --max-tokens");
            var eos = tok.EosTokenIds.Count > 0 ? tok.EosTokenIds : lm.Config.EosTokenIds;
            using var gen = new Generator(lm, sampling, max, eos, ids.Length + max);
            bool asJson = p.GetValue(json);
            var stream = tok.CreateStreamingDecoder(skipSpecialTokens: true);
            var text = new System.Text.StringBuilder();
            gen.AppendTokens(ids);
            if (!asJson) Console.Out.Write(p.GetValue(prompt));
            while (!gen.IsDone)
            {
                ct.ThrowIfCancellationRequested();
                string piece = stream.Append(gen.GenerateNextToken());
                text.Append(piece);
                if (!asJson) { Console.Out.Write(piece); Console.Out.Flush(); }
            }
            string tail = stream.Flush();
            text.Append(tail);
            double prefillTps = gen.PrefillTokens / gen.PrefillTime.TotalSeconds;
            double decodeTps = gen.DecodeSteps > 0 ? gen.DecodeSteps / gen.DecodeTime.TotalSeconds : 0;
            if (asJson)
            {
                Cli.WriteJson(new Dictionary<string, object?>
                {
                    ["model"] = dir, ["prompt"] = p.GetValue(prompt), ["completion"] = text.ToString(),
                    ["prompt_tokens"] = ids.Length, ["completion_tokens"] = gen.NewTokens,
                    ["finish_reason"] = gen.FinishReason == FinishReason.EndOfSequence ? "stop" : "length",
                    ["prefill_tokens_per_s"] = Math.Round(prefillTps, 2), ["decode_tokens_per_s"] = Math.Round(decodeTps, 2),
                    ["kv_cache_bytes"] = gen.State.BytesInUse, ["kv_bytes_per_token"] = gen.State.BytesPerToken,
                    ["kv_dtype"] = DTypes.Name(lm.DefaultKvDType).ToLowerInvariant(), ["device"] = lm.Backend.Name,
                });
            }
            else
            {
                Console.Out.WriteLine(tail);
                Console.Out.Flush();
                Console.Error.WriteLine($"[{ids.Length} prompt tokens, {gen.NewTokens} generated ({(gen.FinishReason == FinishReason.EndOfSequence ? "eos" : "length")}); prefill {prefillTps:F1} tok/s, decode {decodeTps:F1} tok/s; KV cache {gen.State.BytesInUse:N0} B]");
            }
            return Task.FromResult(0);
        });
        return cmd;
    }
}
