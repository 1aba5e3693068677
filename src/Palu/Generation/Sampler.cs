namespace Palu.Generation;

/// <summary>Sampling settings. Temperature 0 = greedy. TopK 0 and TopP 1 disable those filters.</summary>
public sealed record SamplingOptions(float Temperature = 0f, int TopK = 0, float TopP = 1f, int? Seed = null)
{
    public void Validate()
    {
        if (Temperature < 0 || float.IsNaN(Temperature)) throw new ArgumentException($"temperature must be ≥ 0, got {Temperature}");
        if (TopK < 0) throw new ArgumentException($"top-k must be ≥ 0, got {TopK}");
        if (!(TopP > 0 && TopP <= 1)) throw new ArgumentException($"top-p must be in (0, 1], got {TopP}");
    }
}

/// <summary>
/// Picks the next token from logits the way transformers' sampling does: logits / temperature, keep the top-k,
/// keep the smallest set of most likely tokens whose probability reaches top-p (at least one), renormalise, draw.
/// Seeded runs are reproducible.
/// </summary>
public sealed class Sampler
{
    readonly SamplingOptions _o;
    readonly Tensors.SeededRandom _rng;
    readonly Comparison<int> _byKey;
    int[] _order = [];
    float[] _keys = [], _probs = [];   // [V] logits / temperature; [V] kept probabilities in sorted order

    public Sampler(SamplingOptions options)
    {
        options.Validate();
        _o = options;
        _rng = options.Seed is int s ? new Tensors.SeededRandom((ulong)s) : Tensors.SeededRandom.FromEntropy();
        _byKey = ByKey;
    }

    /// <summary>Descending by key, ties by id (a total order: the sort is deterministic).</summary>
    int ByKey(int a, int b) => _keys[a] != _keys[b] ? _keys[b].CompareTo(_keys[a]) : a.CompareTo(b);

    public int Next(ReadOnlySpan<float> logits)
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
