using Palu.IO;
using Palu.Tensors;

namespace Palu.Text;

/// <summary>
/// Calibration sequences drawn from a text file as Palu/ReCalKV do (ALGORITHMS.md §1.1): per sample a uniform random
/// character offset, a substring of 10·seq_len characters, tokenized with the tokenizer's special tokens (BOS first),
/// the first seq_len ids kept. [inferred] Offsets are drawn in [0, len − 10·seq_len] so every sample is full length
/// (the reference can draw short tail samples), and the generator is our <see cref="SeededRandom"/> (SplitMix64), not
/// Python's Mersenne Twister: statistically equivalent, not bit-identical, and the same on every .NET version.
/// </summary>
public static class CalibrationData
{
    public static List<int[]> Sample(string path, Tokenizer tokenizer, int samples, int seqLen, int seed)
    {
        if (samples <= 0) throw new ArgumentException($"--calib-samples must be positive, got {samples}");
        if (seqLen < 2) throw new ArgumentException($"--calib-seq-len must be at least 2, got {seqLen}");
        if (!File.Exists(path)) throw new ModelFormatException(path, "calibration text not found");
        string text = TextInput.Read(path, "calibration text");
        int span = 10 * seqLen;
        if (text.Length <= span)
            throw new ModelFormatException(path, $"calibration text too short: {text.Length:N0} characters, need more than 10 × seq_len = {span:N0} (use a longer text or a smaller --calib-seq-len)");
        var rng = new SeededRandom((ulong)seed);
        var result = new List<int[]>(samples);
        for (int s = 0; s < samples; s++)
        {
            int start = rng.Next(0, text.Length - span + 1);
            var ids = tokenizer.Encode(text.Substring(start, span), addSpecialTokens: true);
            if (ids.Length < seqLen)
                throw new ModelFormatException(path, $"calibration sample {s} has only {ids.Length} tokens from {span} characters, fewer than seq_len {seqLen}: the text is not ordinary prose");
            result.Add(ids[..seqLen]);
        }
        return result;
    }

    /// <summary>
    /// The second sampler of §1.1 (ReCalKV's value calibration data): the whole text tokenized once (no special tokens),
    /// cut into non-overlapping windows of seq_len − 1 tokens, <paramref name="samples"/> of them drawn without
    /// replacement (seeded), each prefixed with BOS when the tokenizer has one. Throws, naming
    /// <paramref name="option"/>, when the text holds fewer windows than asked for.
    /// </summary>
    public static List<int[]> TokenWindows(string path, Tokenizer tokenizer, int samples, int seqLen, int seed, string option)
    {
        if (samples <= 0) throw new ArgumentException($"{option} must be positive, got {samples}");
        if (seqLen < 2) throw new ArgumentException($"the sequence length must be at least 2, got {seqLen}");
        if (!File.Exists(path)) throw new ModelFormatException(path, "calibration text not found");
        var ids = tokenizer.Encode(File.ReadAllText(path), addSpecialTokens: false);
        int body = seqLen - 1, available = ids.Length / body;
        if (samples > available)
            throw new ArgumentException($"{option} {samples} is beyond the calibration text: {Path.GetFileName(path)} has {ids.Length:N0} tokens, " +
                $"enough for {available} windows of {seqLen} tokens; ask for at most {available}, use a shorter sequence length or a longer text");
        var order = Enumerable.Range(0, available).ToArray();
        var rng = new SeededRandom((ulong)seed);
        for (int i = 0; i < samples; i++)   // partial Fisher–Yates: the first `samples` entries are the draw
        {
            int j = rng.Next(i, available);
            (order[i], order[j]) = (order[j], order[i]);
        }
        int? bos = tokenizer.BosTokenId;
        return order.Take(samples).Select(w =>
        {
            var window = ids.AsSpan(w * body, body);
            return bos is int b ? [b, .. window] : window.ToArray();
        }).ToList();
    }
}
