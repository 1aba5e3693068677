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
    readonly List<SequenceState?> _batchSeqs = [];
    Workspace? _batchWorkspace;
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

    /// <summary>The rows an item's requests take in <see cref="ScoreBatch"/> (each its whole input); checks every request.</summary>
    public int BatchRows(IReadOnlyList<(int[] Context, int[] Continuation)> requests)
    {
        int rows = 0;
        foreach (var r in requests) rows += Sequence(r).Seq.Length - 1;
        return rows;
    }

    /// <summary>
    /// The summed continuation log-likelihoods of several items' requests, in batched steps: every request runs as its
    /// own sequence (its prefix recomputed, not shared), as many whole items per step as fit in
    /// <paramref name="maxRows"/> rows (at most a batched step's: the backend's prefill chunk, 512 on the CPU, 4096 on
    /// CUDA); an item larger than that is scored alone
    /// by <see cref="Score"/>. The same sums as <see cref="Score"/> up to float rounding; fewer, larger steps, which is
    /// what a GPU needs (one step of many rows costs about what one of a few rows does).
    /// </summary>
    public double[][] ScoreBatch(IReadOnlyList<IReadOnlyList<(int[] Context, int[] Continuation)>> items, int maxRows)
    {
        if (maxRows < 1) throw new ArgumentOutOfRangeException(nameof(maxRows), "at least one row per step");
        maxRows = Math.Min(maxRows, _lm.Backend.PrefillChunk);
        var result = new double[items.Count][];
        var pack = new List<int>();
        int packRows = 0;
        for (int i = 0; i <= items.Count; i++)
        {
            int rows = i < items.Count ? BatchRows(items[i]) : 0;
            if (i == items.Count || (packRows + rows > maxRows && pack.Count > 0))
            {
                if (pack.Count > 0) ScorePack(items, pack, packRows, result);
                pack.Clear();
                packRows = 0;
            }
            if (i == items.Count) break;
            if (rows > maxRows) result[i] = Score(items[i]);
            else { pack.Add(i); packRows += rows; }
        }
        return result;
    }

    void ScorePack(IReadOnlyList<IReadOnlyList<(int[] Context, int[] Continuation)>> items, List<int> pack, int rows, double[][] result)
    {
        int d = _lm.Hidden, V = _lm.Vocab;
        var steps = new List<SequenceStep>();
        var seqs = new List<(int Item, int Choice, int[] Seq, int ContLen, int Offset)>();
        int offset = 0;
        foreach (int i in pack)
        {
            result[i] = new double[items[i].Count];
            for (int c = 0; c < items[i].Count; c++)
            {
                var (seq, contLen) = Sequence(items[i][c]);
                int inputs = seq.Length - 1;
                var state = BatchSequence(steps.Count, inputs);
                state.RewindTo(0);
                steps.Add(new SequenceStep(state, seq.AsMemory(0, inputs)));
                seqs.Add((i, c, seq, contLen, offset));
                offset += inputs;
            }
        }
        Scratch(ref _rest, rows * d);
        _lm.Forward(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(steps), _rest.AsSpan(0, rows * d), _batchWorkspace ??= _lm.NewWorkspace());
        // the scored rows of every request, one logits call per chunk of them
        int scored = seqs.Sum(s => s.ContLen);
        Scratch(ref _rows, scored * d);
        var targets = new int[scored];
        var owner = new int[scored];
        int k = 0;
        for (int q = 0; q < seqs.Count; q++)
        {
            var (_, _, seq, contLen, off) = seqs[q];
            int first = seq.Length - 1 - contLen;   // hidden row p predicts seq[p + 1]
            _rest.AsSpan((off + first) * d, contLen * d).CopyTo(_rows.AsSpan(k * d, contLen * d));
            for (int r = 0; r < contLen; r++, k++) { targets[k] = seq[first + 1 + r]; owner[k] = q; }
        }
        const int Chunk = 256;
        Scratch(ref _logits, Math.Min(Chunk, scored) * V);
        Span<double> lp = stackalloc double[Chunk];   // [Chunk]
        for (int r0 = 0; r0 < scored; r0 += Chunk)
        {
            int n = Math.Min(Chunk, scored - r0);
            Perplexity.RowLogProbs(_lm, _rows.AsSpan(r0 * d, n * d), targets.AsSpan(r0, n), n, _logits, lp, $"at scored rows {r0}..{r0 + n - 1} of a batch");
            for (int r = 0; r < n; r++)
            {
                var s = seqs[owner[r0 + r]];
                result[s.Item][s.Choice] += lp[r];
            }
        }
    }

    /// <summary>Batch slot <paramref name="slot"/>'s sequence, with room for <paramref name="positions"/>.</summary>
    SequenceState BatchSequence(int slot, int positions)
    {
        while (_batchSeqs.Count <= slot) _batchSeqs.Add(null);
        if (_batchSeqs[slot] is not { } s || s.Capacity < positions)
        {
            _batchSeqs[slot]?.Dispose();
            int cap = Math.Min(_lm.Config.MaxPositionEmbeddings, Math.Max(256, (int)System.Numerics.BitOperations.RoundUpToPowerOf2((uint)positions)));
            _batchSeqs[slot] = s = _lm.NewSequence(cap);
        }
        return s;
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

    public void Dispose()
    {
        _seq?.Dispose();
        foreach (var s in _batchSeqs) s?.Dispose();
        _batchWorkspace?.Dispose();
    }
}
