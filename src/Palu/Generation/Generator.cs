using Palu.Models;

namespace Palu.Generation;

/// <summary>Why generation stopped.</summary>
public enum FinishReason { Length, EndOfSequence }

/// <summary>
/// The token loop for one sequence: <see cref="AppendTokens"/> (prefill), then <see cref="GenerateNextToken"/> until
/// <see cref="IsDone"/>. Owns its sequence state (cache and buffers) on a model that others may share. Timing of prefill and decode is kept for benchmarks.
/// </summary>
public sealed class Generator : IDisposable
{
    readonly CausalLM _lm;
    readonly Sampler _sampler;
    readonly SequenceState _seq;
    readonly HashSet<int> _eos;
    readonly int _maxNewTokens;
    readonly float[] _hidden, _logits;   // [d], [V]
    readonly List<int> _sequence = new();
    bool _hasLogits;

    public Generator(CausalLM lm, SamplingOptions sampling, int maxNewTokens, IEnumerable<int>? eosTokenIds = null, int? capacity = null,
        Tensors.DType? kvDType = null)
    {
        _lm = lm;
        _sampler = new Sampler(sampling);
        _maxNewTokens = maxNewTokens;
        _eos = new HashSet<int>(eosTokenIds ?? lm.Config.EosTokenIds);
        _seq = lm.NewSequence(capacity, kvDType);
        _hidden = new float[lm.Hidden];
        _logits = new float[lm.Vocab];
    }

    public IReadOnlyList<int> Sequence => _sequence;
    public int NewTokens { get; private set; }
    public FinishReason? FinishReason { get; private set; }
    public bool IsDone => FinishReason != null;
    /// <summary>The sequence: its cache (bytes per token, bytes in use) and position.</summary>
    public SequenceState State => _seq;
    public TimeSpan PrefillTime { get; private set; }
    public TimeSpan DecodeTime { get; private set; }
    public int PrefillTokens { get; private set; }
    /// <summary>Single-token forwards run by GenerateNextToken (the last sampled token is not run).</summary>
    public int DecodeSteps { get; private set; }

    /// <summary>Logits after the last appended token [V].</summary>
    public ReadOnlySpan<float> Logits => _logits;

    public void AppendTokens(ReadOnlySpan<int> tokens)
    {
        if (tokens.Length == 0) return;
        var sw = System.Diagnostics.Stopwatch.StartNew();
        var hidden = new float[tokens.Length * _lm.Hidden];   // [T, d]
        _lm.Forward(tokens, _seq, hidden);
        _lm.Logits(hidden.AsSpan((tokens.Length - 1) * _lm.Hidden, _lm.Hidden), _logits, 1);
        NonFiniteCheck.Logits(_lm, _logits, $"after the prompt ({_seq.Length} tokens)");
        PrefillTime += sw.Elapsed;
        PrefillTokens += tokens.Length;
        foreach (var t in tokens) _sequence.Add(t);
        _hasLogits = true;
    }

    public int GenerateNextToken()
    {
        if (!_hasLogits) throw new InvalidOperationException("append prompt tokens first");
        if (IsDone) throw new InvalidOperationException("generation is done");
        int next = _sampler.Next(_logits, System.Runtime.InteropServices.CollectionsMarshal.AsSpan(_sequence));
        _sequence.Add(next);
        NewTokens++;
        if (_eos.Contains(next)) FinishReason = Generation.FinishReason.EndOfSequence;
        else if (NewTokens >= _maxNewTokens || _seq.Length >= _seq.Capacity) FinishReason = Generation.FinishReason.Length;
        else
        {
            var sw = System.Diagnostics.Stopwatch.StartNew();
            _lm.Forward([next], _seq, _hidden);
            _lm.Logits(_hidden, _logits, 1);
            NonFiniteCheck.Logits(_lm, _logits, $"at generated token {NewTokens}");
            DecodeTime += sw.Elapsed;
            DecodeSteps++;
        }
        return next;
    }

    public void Dispose() => _seq.Dispose();
}
