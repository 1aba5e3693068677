namespace Palu.Generation;

/// <summary>
/// Sampling settings. Temperature 0 = greedy. TopK 0 and TopP 1 disable those filters. The penalties change the logits
/// before any of them (so greedy decoding is penalised too); 1 / 0 / 0 disable them.
/// </summary>
public sealed record SamplingOptions(float Temperature = 0f, int TopK = 0, float TopP = 1f, int? Seed = null)
{
    /// <summary>
    /// transformers' repetition_penalty (CTRL): the logit of every token already in the context (prompt and generated)
    /// is divided by it when positive, multiplied when negative. &gt; 1 discourages repeats; 1 = off.
    /// </summary>
    public float RepetitionPenalty { get; init; } = 1f;

    /// <summary>OpenAI's frequency_penalty: subtracted from a token's logit once per time it was generated so far, in [−2, 2].</summary>
    public float FrequencyPenalty { get; init; }

    /// <summary>OpenAI's presence_penalty: subtracted from the logit of every token generated so far, in [−2, 2].</summary>
    public float PresencePenalty { get; init; }

    public bool HasPenalties => RepetitionPenalty != 1f || FrequencyPenalty != 0f || PresencePenalty != 0f;

    public void Validate()
    {
        if (Temperature < 0 || float.IsNaN(Temperature)) throw new ArgumentException($"--temperature must be ≥ 0, got {Temperature}");
        if (TopK < 0) throw new ArgumentException($"--top-k must be ≥ 0, got {TopK}");
        if (!(TopP > 0 && TopP <= 1)) throw new ArgumentException($"--top-p must be in (0, 1], got {TopP}");
        if (!(RepetitionPenalty > 0) || float.IsInfinity(RepetitionPenalty))
            throw new ArgumentException($"--repetition-penalty must be > 0 (1 = off), got {RepetitionPenalty}");
        if (!(FrequencyPenalty >= -2 && FrequencyPenalty <= 2)) throw new ArgumentException($"--frequency-penalty must be in [-2, 2], got {FrequencyPenalty}");
        if (!(PresencePenalty >= -2 && PresencePenalty <= 2)) throw new ArgumentException($"--presence-penalty must be in [-2, 2], got {PresencePenalty}");
    }
}

/// <summary>
/// Picks the next token from logits the way transformers' sampling does: logits / temperature, keep the top-k,
/// keep the smallest set of most likely tokens whose probability reaches top-p (at least one), renormalise, draw.
/// Seeded runs are reproducible. Penalties (<see cref="SamplingOptions.RepetitionPenalty"/> over the context passed in,
/// frequency/presence over the tokens this sampler has returned) are applied to a copy of the logits first.
/// </summary>
public sealed class Sampler
{
    readonly SamplingOptions _o;
    readonly Tensors.SeededRandom _rng;
    readonly Comparison<int> _byKey;
    int[] _order = [];
    float[] _keys = [], _probs = [];   // [V] logits / temperature; [V] kept probabilities in sorted order
    float[] _penalized = [];            // [V] logits after the penalties
    int[] _seen = [];                   // [V] stamp of the last call that saw the token in the context
    int _stamp;
    readonly Dictionary<int, int> _generated = new();   // token → times returned (frequency/presence penalties)

    public Sampler(SamplingOptions options)
    {
        options.Validate();
        _o = options;
        _rng = options.Seed is int s ? new Tensors.SeededRandom((ulong)s) : Tensors.SeededRandom.FromEntropy();
        _byKey = ByKey;
    }

    /// <summary>Descending by key, ties by id (a total order: the sort is deterministic).</summary>
    int ByKey(int a, int b) => _keys[a] != _keys[b] ? _keys[b].CompareTo(_keys[a]) : a.CompareTo(b);

    /// <summary>The next token; <paramref name="context"/> (prompt and generated tokens) feeds the repetition penalty.</summary>
    public int Next(ReadOnlySpan<float> logits, ReadOnlySpan<int> context)
    {
        if (!_o.HasPenalties) return Pick(logits);
        int next = Pick(Penalize(logits, context));
        _generated[next] = _generated.GetValueOrDefault(next) + 1;
        return next;
    }

    public int Next(ReadOnlySpan<float> logits) => Next(logits, []);

    ReadOnlySpan<float> Penalize(ReadOnlySpan<float> logits, ReadOnlySpan<int> context)
    {
        int V = logits.Length;
        if (_penalized.Length < V) { _penalized = new float[V]; _seen = new int[V]; }
        var p = _penalized.AsSpan(0, V);
        logits.CopyTo(p);
        if (_o.RepetitionPenalty != 1f)
        {
            if (++_stamp == int.MaxValue) { Array.Clear(_seen); _stamp = 1; }
            foreach (int t in context)
            {
                if ((uint)t >= (uint)V || _seen[t] == _stamp) continue;
                _seen[t] = _stamp;
                p[t] = p[t] < 0 ? p[t] * _o.RepetitionPenalty : p[t] / _o.RepetitionPenalty;
            }
        }
        foreach (var (t, n) in _generated)
            if ((uint)t < (uint)V) p[t] -= n * _o.FrequencyPenalty + _o.PresencePenalty;
        return p;
    }

    int Pick(ReadOnlySpan<float> logits)
    {
        if (_o.Temperature == 0) return ArgMax(logits);
        int V = logits.Length;
        if (_order.Length < V) { _order = new int[V]; _keys = new float[V]; _probs = new float[V]; }
        var order = _order.AsSpan(0, V);
        var keys = _keys.AsSpan(0, V);
        var probs = _probs.AsSpan(0, V);
        for (int i = 0; i < V; i++) { order[i] = i; keys[i] = logits[i] / _o.Temperature; }
        // descending by logit, ties by id (stable and deterministic)
        order.Sort(_byKey);
        int n = _o.TopK > 0 ? Math.Min(_o.TopK, V) : V;
        // softmax over the kept candidates, in sorted order
        float max = keys[order[0]];
        double sum = 0;
        for (int i = 0; i < n; i++) { probs[i] = MathF.Exp(keys[order[i]] - max); sum += probs[i]; }
        if (_o.TopP < 1)
        {
            double cum = 0; int keep = 0;
            while (keep < n) { cum += probs[keep] / sum; keep++; if (cum >= _o.TopP) break; }
            n = keep;
            sum = 0;
            for (int i = 0; i < n; i++) sum += probs[i];
        }
        double u = _rng.NextDouble() * sum, acc = 0;
        for (int i = 0; i < n; i++) { acc += probs[i]; if (u < acc) return order[i]; }
        return order[n - 1];
    }

    public static int ArgMax(ReadOnlySpan<float> a)
    {
        int best = 0;
        for (int i = 1; i < a.Length; i++) if (a[i] > a[best]) best = i;
        return best;
    }
}
