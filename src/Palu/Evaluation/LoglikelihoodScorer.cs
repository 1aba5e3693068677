using Palu.Models;

namespace Palu.Evaluation;

/// <summary>
/// log p(continuation | context) summed over the continuation's tokens, for the requests of one multiple-choice item.
/// As lm-eval: the sequence is (context + continuation) cut from the left to max_position_embeddings + 1 tokens, the
/// model runs on all but its last token, and the last len(continuation) predictions are scored.
/// The choices' common token prefix runs once; each choice then rewinds the KV cache to it and runs only its own rest.
/// One scorer per thread (it owns a sequence and scratch buffers); the model may be shared by any number of scorers.
/// </summary>
public sealed class LoglikelihoodScorer(CausalLM lm) : IDisposable
{
    readonly CausalLM _lm = lm;
    SequenceState? _seq;
    float[] _shared = [], _rest = [], _rows = [], _logits = [];

    /// <summary>Longest input the model runs (lm-eval's max_length = max_position_embeddings).</summary>
    public int MaxLength => _lm.Config.MaxPositionEmbeddings;

    /// <summary>The summed continuation log-likelihood of every request, sharing the common prefix.</summary>
    public double[] Score(IReadOnlyList<(int[] Context, int[] Continuation)> requests)
    {
        int n = requests.Count, d = _lm.Hidden;
        var seqs = new int[n][];
        var contLen = new int[n];
        for (int i = 0; i < n; i++) (seqs[i], contLen[i]) = Sequence(requests[i]);

        // common prefix P of the model inputs seq[..^1]
        int P = seqs[0].Length - 1;
        for (int i = 1; i < n; i++) P = Math.Min(P, CommonPrefix(seqs[0], seqs[i], seqs[i].Length - 1));
        int longest = seqs.Max(s => s.Length - 1);
        var cache = Cache(longest);
        cache.RewindTo(0);
        Scratch(ref _shared, P * d);
        if (P > 0) _lm.Forward(seqs[0].AsSpan(0, P), cache, _shared.AsSpan(0, P * d));

        var result = new double[n];
        for (int i = 0; i < n; i++)
        {
            var seq = seqs[i];
            int inputs = seq.Length - 1, rest = inputs - P;
            cache.RewindTo(P);
            Scratch(ref _rest, rest * d);
            if (rest > 0) _lm.Forward(seq.AsSpan(P, rest), cache, _rest.AsSpan(0, rest * d));
            // hidden row p predicts seq[p + 1]; the scored rows are the last contLen inputs
            int first = inputs - contLen[i];
            Scratch(ref _rows, contLen[i] * d);
            for (int r = 0; r < contLen[i]; r++)
            {
                int p = first + r;
                var src = p < P ? _shared.AsSpan(p * d, d) : _rest.AsSpan((p - P) * d, d);
                src.CopyTo(_rows.AsSpan(r * d, d));
            }
            result[i] = SumLogProbs(_rows, seq.AsSpan(first + 1, contLen[i]));
        }
        return result;
    }

    /// <summary>One request on its own, from an empty cache (the reference the shared-prefix path must match).</summary>
    public double ScoreAlone(int[] context, int[] continuation)
    {
        var (seq, m) = Sequence((context, continuation));
        int inputs = seq.Length - 1, d = _lm.Hidden;
        var cache = Cache(inputs);
        cache.RewindTo(0);
        Scratch(ref _rest, inputs * d);
        _lm.Forward(seq.AsSpan(0, inputs), cache, _rest.AsSpan(0, inputs * d));
        return SumLogProbs(_rest.AsSpan((inputs - m) * d, m * d), seq.AsSpan(inputs - m + 1, m));
    }

    /// <summary>(context + continuation) cut from the left to MaxLength + 1 tokens, and the continuation length.</summary>
    (int[] Seq, int ContLen) Sequence((int[] Context, int[] Continuation) r)
    {
        if (r.Context.Length == 0) throw new ArgumentException("empty context (condition on BOS/EOS instead)");
        if (r.Continuation.Length == 0)
            throw new ArgumentException("the continuation encodes to no tokens after the context's (tokenizer merged it into the context)");
        if (r.Continuation.Length > MaxLength)
            throw new ArgumentException($"the continuation has {r.Continuation.Length} tokens, more than max_position_embeddings = {MaxLength}");
        int total = r.Context.Length + r.Continuation.Length, skip = Math.Max(0, total - (MaxLength + 1));
        var seq = new int[total - skip];
        for (int j = skip; j < total; j++)
            seq[j - skip] = j < r.Context.Length ? r.Context[j] : r.Continuation[j - r.Context.Length];
        return (seq, r.Continuation.Length);
    }

    /// <summary>Σ log softmax(LmHead · rows[r])[targets[r]], all rows in one logits call.</summary>
    double SumLogProbs(ReadOnlySpan<float> rows, ReadOnlySpan<int> targets)
    {
        int m = targets.Length;
        Scratch(ref _logits, m * _lm.Vocab);
        return Perplexity.SumLogProbs(_lm, rows, targets, m, _logits);
    }

    static int CommonPrefix(int[] a, int[] b, int limit)
    {
        int n = Math.Min(limit, a.Length), i = 0;
        while (i < n && a[i] == b[i]) i++;
        return i;
    }

    SequenceState Cache(int positions)
    {
        if (_seq is null || _seq.Capacity < positions)
        {
            _seq?.Dispose();
            int cap = Math.Min(_lm.Config.MaxPositionEmbeddings, Math.Max(256, (int)System.Numerics.BitOperations.RoundUpToPowerOf2((uint)positions)));
            _seq = _lm.NewSequence(cap);
        }
        return _seq;
    }

    static void Scratch(ref float[] a, int n) { if (a.Length < n) a = new float[Math.Max(n, a.Length * 2)]; }

    public void Dispose() => _seq?.Dispose();
}
