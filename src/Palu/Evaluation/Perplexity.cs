using Palu.Models;
using Palu.Text;

namespace Palu.Evaluation;

/// <summary>How a token stream is cut into windows and scored.</summary>
public enum PerplexityProtocol
{
    /// <summary>
    /// The goldens' protocol (default): text encoded without special tokens into one stream; non-overlapping windows of
    /// seq_len − 1 text tokens, each prefixed with BOS; every text token scored (the first from BOS alone); the last,
    /// shorter window included.
    /// </summary>
    BosWindows,
    /// <summary>
    /// The papers' protocol (Palu/SVD-LLM run_ppl_eval): the stream (text encoded with the tokenizer's default special
    /// tokens, so BOS once at the start for Llama-style tokenizers) cut into floor(N / seq_len) windows of seq_len tokens;
    /// the first token of each window is context only; a trailing partial window is dropped.
    /// </summary>
    Stride,
}

/// <summary>A perplexity run: <c>Nll</c> is the mean NLL per scored token, <c>Ppl</c> = exp(Nll).</summary>
public sealed record PerplexityResult(int Windows, long Tokens, double Nll, double Ppl, double Seconds);

/// <summary>Perplexity = exp(mean next-token negative log-likelihood) over the scored tokens.</summary>
public static class Perplexity
{
    /// <summary>The protocol's name on the command line and in results.json: bos-windows or stride.</summary>
    public static string ProtocolName(PerplexityProtocol p) => p == PerplexityProtocol.Stride ? "stride" : "bos-windows";

    /// <summary>
    /// Throws unless 2 ≤ <paramref name="seqLen"/> ≤ max_position_embeddings of <paramref name="lm"/> (the
    /// <c>--seq-len</c> option); <paramref name="whose"/>, when given, names the model in the message.
    /// </summary>
    public static void CheckSeqLen(CausalLM lm, int seqLen, string? whose = null)
    {
        int max = lm.Config.MaxPositionEmbeddings;
        if (seqLen < 2 || seqLen > max)
            throw new ArgumentException($"--seq-len must be in [2, {max}] (max_position_embeddings{(whose is null ? "" : " of " + whose)}), got {seqLen}");
    }

    /// <summary>
    /// Cuts <paramref name="stream"/> into windows per <paramref name="protocol"/>: each window is the token sequence to
    /// run and the index of its first scored target (targets are window[i] predicted from window[..i]).
    /// </summary>
    public static List<(int[] Tokens, int FirstScored)> Windows(IReadOnlyList<int> stream, int seqLen, PerplexityProtocol protocol, int? bos, int? maxWindows = null)
    {
        if (seqLen < 2) throw new ArgumentException($"seq-len must be ≥ 2, got {seqLen}");
        var windows = new List<(int[], int)>();
        if (protocol == PerplexityProtocol.BosWindows)
        {
            if (bos is not int b) throw new ArgumentException("the BOS-window protocol needs a BOS token; this tokenizer has none (use --protocol stride)");
            int step = seqLen - 1;
            for (int s = 0; s < stream.Count && (maxWindows is null || windows.Count < maxWindows); s += step)
            {
                int n = Math.Min(step, stream.Count - s);
                var w = new int[n + 1];
                w[0] = b;
                for (int i = 0; i < n; i++) w[i + 1] = stream[s + i];
                windows.Add((w, 1));
            }
        }
        else
        {
            for (int s = 0; s + seqLen <= stream.Count && (maxWindows is null || windows.Count < maxWindows); s += seqLen)
            {
                var w = new int[seqLen];
                for (int i = 0; i < seqLen; i++) w[i] = stream[s + i];
                windows.Add((w, 1));
            }
        }
        return windows;
    }

    /// <summary>Scores every window and returns the total NLL over all scored tokens. One cache and one set of buffers serve all windows.</summary>
    public static PerplexityResult Evaluate(CausalLM lm, IReadOnlyList<(int[] Tokens, int FirstScored)> windows,
        IProgress<double>? progress = null, CancellationToken ct = default)
    {
        var sw = System.Diagnostics.Stopwatch.StartNew();
        double nll = 0; long count = 0;
        int longest = windows.Count == 0 ? 1 : windows.Max(w => w.Tokens.Length);
        using var scratch = new WindowScratch(lm, longest);
        for (int w = 0; w < windows.Count; w++)
        {
            ct.ThrowIfCancellationRequested();
            var (tokens, first) = windows[w];
            var (s, n) = WindowNll(lm, tokens, first, scratch);
            nll += s; count += n;
            progress?.Report((w + 1.0) / windows.Count);
        }
        if (count == 0) throw new ArgumentException("no tokens to score: the text is empty or shorter than one window");
        double mean = nll / count;
        return new PerplexityResult(windows.Count, count, mean, Math.Exp(mean), sw.Elapsed.TotalSeconds);
    }

    /// <summary>
    /// Perplexity of one text under <paramref name="protocol"/>: encoded as the protocol says (special tokens only for
    /// Stride), cut into windows, scored. What <c>palu eval ppl</c> and <c>palu eval suite</c> run for every text.
    /// </summary>
    public static PerplexityResult EvaluateText(CausalLM lm, Tokenizer tokenizer, string text, int seqLen, PerplexityProtocol protocol,
        int? maxWindows = null, IProgress<double>? progress = null, CancellationToken ct = default)
    {
        var stream = tokenizer.Encode(text, addSpecialTokens: protocol == PerplexityProtocol.Stride);
        var windows = Windows(stream, seqLen, protocol, tokenizer.BosTokenId ?? lm.Config.BosTokenId, maxWindows);
        return Evaluate(lm, windows, progress, ct);
    }

    /// <summary>A sequence and the hidden/logit buffers for windows of up to <c>capacity</c> tokens.</summary>
    public sealed class WindowScratch(CausalLM lm, int capacity) : IDisposable
    {
        public readonly SequenceState Sequence = lm.NewSequence(capacity);
        public readonly float[] Hidden = new float[capacity * lm.Hidden];       // [T, d]
        public readonly float[] Logits = new float[LogitRows * lm.Vocab];       // [rows, V]
        public void Dispose() => Sequence.Dispose();
    }

    const int LogitRows = 64;

    /// <summary>Sum of −log p(tokens[i] | tokens[..i]) for i ≥ firstScored, and how many terms.</summary>
    public static (double Sum, int Count) WindowNll(CausalLM lm, ReadOnlySpan<int> tokens, int firstScored, WindowScratch? scratch = null)
    {
        int T = tokens.Length, d = lm.Hidden;
        using var own = scratch == null ? new WindowScratch(lm, T) : null;
        var sc = scratch ?? own!;
        sc.Sequence.RewindTo(0);
        var hidden = sc.Hidden.AsSpan(0, T * d);           // [T, d]
        lm.Forward(tokens, sc.Sequence, hidden);
        // hidden row i predicts token i + 1
        int count = Math.Max(0, T - firstScored);
        double sum = count == 0 ? 0 : SumLogProbs(lm, hidden[((firstScored - 1) * d)..], tokens.Slice(firstScored, count), LogitRows, sc.Logits);
        return (0.0 - sum, count);   // the same bits as subtracting each term from 0 (never −0)
    }

    /// <summary>
    /// Σ log softmax(LmHead · rows[r])[targets[r]] over targets.Length rows of <paramref name="rows"/> ([rows, d]), the
    /// logits computed <paramref name="maxRows"/> rows at a time into <paramref name="logits"/> ([maxRows, V] or more).
    /// The rows per call matter to the last bit (MatMul takes a GEMV path for few rows), so callers keep theirs.
    /// </summary>
    internal static double SumLogProbs(CausalLM lm, ReadOnlySpan<float> rows, ReadOnlySpan<int> targets, int maxRows, Span<float> logits)
    {
        int m = targets.Length, d = lm.Hidden;
        Span<double> lp = maxRows <= 512 ? stackalloc double[maxRows] : new double[maxRows];   // [maxRows]
        double sum = 0;
        for (int r0 = 0; r0 < m; r0 += maxRows)
        {
            int n = Math.Min(maxRows, m - r0);
            RowLogProbs(lm, rows.Slice(r0 * d, n * d), targets.Slice(r0, n), n, logits, lp, $"at scored rows {r0}..{r0 + n - 1}");
            for (int i = 0; i < n; i++) sum += lp[i];
        }
        return sum;
    }

    /// <summary>
    /// logProbs [n] = log softmax(LmHead · rows[r])[targets[r]] of n rows ([n, d]): made by the backend where it keeps
    /// the logits (the GPU: n numbers come back), else from the logits made into <paramref name="logits"/> ([n, V] or
    /// more). <paramref name="where"/> names the rows in the error about non-finite values.
    /// </summary>
    internal static void RowLogProbs(CausalLM lm, ReadOnlySpan<float> rows, ReadOnlySpan<int> targets, int n, Span<float> logits, Span<double> logProbs, string where)
    {
        if (lm.TargetLogProbs(rows, targets, logits, n))
        {
            NonFiniteCheck.Logits(lm, logits[..n], where + " (their log-probabilities)");
            for (int i = 0; i < n; i++) logProbs[i] = logits[i];
            return;
        }
        int V = lm.Vocab;
        lm.Logits(rows, logits, n);
        NonFiniteCheck.Logits(lm, logits[..(n * V)], where);
        for (int i = 0; i < n; i++) logProbs[i] = LogSoftmaxAt(logits.Slice(i * V, V), targets[i]);
    }

    /// <summary>log softmax(logits)[target] = logits[target] − log Σ exp(logits).</summary>
    public static double LogSoftmaxAt(ReadOnlySpan<float> logits, int target) =>
        logits[target] - Kernels.Cpu.SimdKernels.LogSumExp(logits);
}
