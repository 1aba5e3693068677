using Palu.IO;
using Palu.Kernels.Cpu;
using Palu.Runtime;
using Palu.Tensors;

namespace Palu.Models;

/// <summary>One sequence's part of a batched step: its state and the tokens it advances by.</summary>
public readonly record struct SequenceStep(SequenceState State, ReadOnlyMemory<int> Tokens);

/// <summary>
/// A Llama-family decoder-only model (Llama, Mistral, Qwen2, Qwen3 as config switches) on a compute
/// <see cref="Backend"/>, f32 compute over F32/F16/BF16 weights. The whole forward pass is <see cref="ForwardRows"/>,
/// top to bottom. A loaded model is immutable and may be shared by any number of threads; everything that belongs to
/// one sequence (cache, position, activation buffers) lives in its <see cref="SequenceState"/>.
/// </summary>
public sealed class CausalLM : IDisposable
{
    /// <summary>Longest chunk of tokens processed in one prefill step (bounds activation memory).</summary>
    public const int PrefillChunk = 512;

    public ModelConfig Config { get; }
    public string Path { get; }
    public Backend Backend { get; }
    /// <summary>palu.json of a compressed model, or null.</summary>
    public CompressionPlan? Plan { get; }
    public DeviceWeight Embed { get; }            // model.embed_tokens.weight [V, d]
    public DecoderLayer[] Layers { get; }
    public Buf FinalNorm { get; }                 // model.norm.weight [d]
    public DeviceWeight LmHead { get; }           // lm_head.weight [V, d] (= Embed when tied)
    public RopeTable Rope { get; }
    public AttentionShape AttentionShape { get; }
    /// <summary>Dense KV storage of sequences made without an explicit dtype.</summary>
    public DType DefaultKvDType { get; }
    /// <summary>The KIVI baseline's quantised dense cache for every new sequence (<c>--kv-quant</c>), or null.</summary>
    public Cache.KiviOptions? Kivi { get; init; }
    /// <summary>The memory-mapped checkpoint the model was loaded from (the CPU training passes read weights there).</summary>
    public ModelDirectory Checkpoint { get; }

    /// <summary>Steps of more rows than this (prefill chunks) run in a workspace lent by <see cref="_prefillBuffers"/>
    /// instead of the sequence's own, so that a sequence keeps only decode-sized buffers between steps.</summary>
    public const int SequenceBufferRows = 16;
    /// <summary>Activation buffers for prefill chunks, lent to one forward at a time (thread-safe; not model state).</summary>
    readonly System.Collections.Concurrent.ConcurrentBag<Workspace> _prefillBuffers = [];

    internal CausalLM(ModelConfig config, string path, Backend backend, CompressionPlan? plan, DeviceWeight embed, DecoderLayer[] layers,
        Buf finalNorm, DeviceWeight lmHead, AttentionShape shape, DType defaultKvDType, ModelDirectory checkpoint, object owner)
    {
        Config = config; Path = path; Backend = backend; Plan = plan; Embed = embed; Layers = layers; FinalNorm = finalNorm;
        LmHead = lmHead; AttentionShape = shape; Rope = shape.Rope; DefaultKvDType = defaultKvDType; Checkpoint = checkpoint;
        _owner = owner;
    }

    readonly object _owner;   // tags the backend memory the loader allocated for this model

    /// <summary>Loads an HF model directory onto a backend (default: the CPU; weights stay memory-mapped there).</summary>
    public static CausalLM Load(string dir, LoadOptions? options = null)
    {
        var md = ModelDirectory.Open(dir);
        try { return ModelLoader.Load(md, options); }
        catch { md.Dispose(); throw; }
    }

    public int Vocab => Config.VocabSize;
    public int Hidden => Config.HiddenSize;

    /// <summary>
    /// A new sequence of up to <paramref name="capacity"/> positions (default max_position_embeddings) with its cache;
    /// dense keys and values stored in <paramref name="kvDType"/> (default <see cref="DefaultKvDType"/>).
    /// </summary>
    public SequenceState NewSequence(int? capacity = null, DType? kvDType = null)
    {
        int cap = capacity ?? Config.MaxPositionEmbeddings;
        if (cap <= 0) throw new ArgumentOutOfRangeException(nameof(capacity), $"capacity must be ≥ 1, got {cap}");
        var options = new CacheOptions(kvDType ?? DefaultKvDType, Kivi);
        var caches = new List<Cache.LayerCache>();
        try
        {
            foreach (var l in Layers) caches.Add(l.Attention.CreateCache(Backend, cap, options));
            return new SequenceState(caches.ToArray(), cap, new Workspace(Backend));
        }
        catch { foreach (var c in caches) c.Dispose(); throw; }
    }

    /// <summary>Activation buffers for batched steps (<see cref="Forward(ReadOnlySpan{SequenceStep}, Span{float}, Workspace, IActivationObserver?)"/>).</summary>
    public Workspace NewWorkspace() => new(Backend);

    /// <summary>KV-cache bytes per token as this model caches them by default.</summary>
    public long KvBytesPerToken
    {
        get
        {
            using var s = NewSequence(1);
            return s.BytesPerToken;
        }
    }

    /// <summary>Bytes of weights one decode step reads (all linears, embeddings row excluded, LM head included).</summary>
    public long DecodeWeightBytes =>
        Layers.Sum(l => l.Q.WeightBytes + l.Attention.WeightBytes + l.Gate.WeightBytes + l.Up.WeightBytes + l.Down.WeightBytes)
        + LmHead.Bytes;

    /// <summary>Parameters of the linear layers as stored (factors counted, not the dense matrices they replace).</summary>
    public long LinearParameters => Layers.Sum(l => l.Q.Parameters + l.Attention.Parameters + l.Gate.Parameters + l.Up.Parameters + l.Down.Parameters);

    /// <summary>
    /// Runs <paramref name="tokens"/> at positions [seq.Length, seq.Length + T) and appends them to the sequence's
    /// cache, in chunks of the backend's <see cref="Backend.PrefillChunk"/> rows. hidden [T, d] receives the final-normed hidden states (feed them
    /// to <see cref="Logits"/>).
    /// </summary>
    public void Forward(ReadOnlySpan<int> tokens, SequenceState seq, Span<float> hidden, IActivationObserver? observer = null)
    {
        int T = tokens.Length, d = Hidden;
        if (hidden.Length < T * d) throw new ArgumentException($"hidden needs [{T}, {d}]");
        Check(seq, tokens);
        var buffer = tokens.ToArray();
        Workspace? lent = null;
        try
        {
            int chunk = Backend.PrefillChunk;
            for (int s = 0; s < T; s += chunk)
            {
                int n = Math.Min(chunk, T - s);
                var ws = n <= SequenceBufferRows ? seq.Workspace : (lent ??= _prefillBuffers.TryTake(out var w) ? w : NewWorkspace());
                ForwardRows([new SequenceStep(seq, buffer.AsMemory(s, n))], hidden.Slice(s * d, n * d), ws, observer);
            }
        }
        finally { if (lent != null) _prefillBuffers.Add(lent); }
    }

    /// <summary>Frees the prefill buffers kept for reuse (they are made again when needed).</summary>
    public void TrimBuffers()
    {
        while (_prefillBuffers.TryTake(out var w)) w.Dispose();
    }

    /// <summary>
    /// Advances several sequences in one step: all their rows go through every linear layer together (each weight is
    /// read once per step, not once per sequence), attention runs per sequence over its own cache. hidden [Σ T, d]
    /// receives the rows in step order. Each sequence gets exactly the results it would get alone. At most the
    /// backend's <see cref="Backend.PrefillChunk"/> rows in all (512 on the CPU, 4096 on CUDA); a sequence may appear once.
    /// </summary>
    public void Forward(ReadOnlySpan<SequenceStep> steps, Span<float> hidden, Workspace workspace, IActivationObserver? observer = null)
    {
        int rows = 0;
        var seen = new HashSet<SequenceState>(ReferenceEqualityComparer.Instance);
        foreach (var s in steps)
        {
            if (!seen.Add(s.State)) throw new ArgumentException("a sequence appears twice in one batched step");
            Check(s.State, s.Tokens.Span);
            rows += s.Tokens.Length;
        }
        if (rows > Backend.PrefillChunk) throw new ArgumentException($"a batched step holds at most {Backend.PrefillChunk} rows on the {Backend.Name} backend, got {rows}");
        if (hidden.Length < rows * Hidden) throw new ArgumentException($"hidden needs [{rows}, {Hidden}]");
        if (rows > 0) ForwardRows(steps, hidden[..(rows * Hidden)], workspace, observer);
    }

    /// <summary>One decode step of B sequences: token b advances sequence b. hidden [B, d].</summary>
    public void DecodeBatch(ReadOnlySpan<int> tokens, IReadOnlyList<SequenceState> seqs, Span<float> hidden, Workspace workspace)
    {
        if (tokens.Length != seqs.Count) throw new ArgumentException($"{tokens.Length} tokens for {seqs.Count} sequences");
        var steps = new SequenceStep[seqs.Count];
        var ids = tokens.ToArray();
        for (int b = 0; b < steps.Length; b++) steps[b] = new SequenceStep(seqs[b], ids.AsMemory(b, 1));
        Forward(steps, hidden, workspace);
    }

    void Check(SequenceState seq, ReadOnlySpan<int> tokens)
    {
        if (seq.Layers.Length != Layers.Length) throw new ArgumentException("the sequence was made by another model");
        if (seq.Length + tokens.Length > seq.Capacity)
            throw new InvalidOperationException($"sequence too long: {seq.Length + tokens.Length} positions exceed the cache capacity of {seq.Capacity} (max_position_embeddings = {Config.MaxPositionEmbeddings}); shorten the prompt or --max-tokens");
        foreach (int id in tokens)
            if ((uint)id >= (uint)Vocab) throw new ArgumentOutOfRangeException(nameof(tokens), $"token id {id} outside the vocabulary [0, {Vocab})");
    }

    /// <summary>The forward pass over the rows of one (batched) step; each step's tokens start at its sequence's length.</summary>
    void ForwardRows(ReadOnlySpan<SequenceStep> batch, Span<float> hidden, Workspace ws, IActivationObserver? observer)
    {
        var be = Backend;
        int d = Hidden, qDim = Config.QDim, ffn = Config.IntermediateSize, H = Config.NumHeads;
        float eps = (float)Config.RmsNormEps;
        var steps = new StepRows[batch.Length];
        var ids = new int[hidden.Length / d];
        int N = 0;
        for (int i = 0; i < batch.Length; i++)
        {
            var tok = batch[i].Tokens.Span;
            tok.CopyTo(ids.AsSpan(N));
            steps[i] = new StepRows(N, tok.Length, batch[i].State.Length, null!);
            N += tok.Length;
        }
        var x = ws.Get(Slot.X, N * d);            // [N, d] residual stream
        var xn = ws.Get(Slot.Xn, N * d);          // [N, d] normed
        var y = ws.Get(Slot.Y, N * d);            // [N, d] block output
        var q = ws.Get(Slot.Q, N * qDim);         // [N, H·d_h]
        var gate = ws.Get(Slot.Gate, N * ffn);    // [N, ffn]
        var up = ws.Get(Slot.Up, N * ffn);        // [N, ffn]

        var states = new SequenceState[batch.Length];
        for (int i = 0; i < batch.Length; i++) states[i] = batch[i].State;
        // one token per sequence and nothing to observe: a decode step, which a backend may record and replay
        if (observer == null && N <= SequenceBufferRows && steps.All(s => s.T == 1))
        {
            var positions = states.Select(s => s.Length).ToArray();
            be.DecodeStep([this, ws, .. states], ids.AsSpan(0, N), positions, Device);
        }
        else Device();
        be.Download(xn, hidden[..(N * d)]);
        foreach (var s in batch) s.State.Advance(s.Tokens.Length);

        void Device()
        {
            be.Embed(Embed, ids.AsSpan(0, N), x);
            for (int l = 0; l < Layers.Length; l++)
            {
                var L = Layers[l];
                for (int i = 0; i < steps.Length; i++) steps[i] = steps[i] with { Cache = states[i].Layers[l] };
                // attention block
                be.RmsNorm(x, L.InputNorm, xn, N, eps);
                if (observer != null) observer.OnLinearInput(l, LinearInput.Attention, ws.Peek(xn), N);
                L.Q.Forward(be, xn, q, N, ws);
                if (!L.QNorm.IsEmpty) be.RmsNorm(q, L.QNorm, q, N * H, eps);
                foreach (var s in steps) be.Rope(q.Slice(s.Row * qDim, s.T * qDim), s.T, H, s.StartPos, Rope);
                L.Attention.Forward(be, xn, q, steps, y, l, ws, observer);
                be.Add(x, y);
                // MLP block
                be.RmsNorm(x, L.PostAttentionNorm, xn, N, eps);
                if (observer != null) observer.OnLinearInput(l, LinearInput.Mlp, ws.Peek(xn), N);
                L.Gate.Forward(be, xn, gate, N, ws);
                L.Up.Forward(be, xn, up, N, ws);
                be.SwiGlu(gate, up);
                if (observer != null) observer.OnLinearInput(l, LinearInput.MlpDown, ws.Peek(gate), N);
                L.Down.Forward(be, gate, y, N, ws);
                be.Add(x, y);
            }
            be.RmsNorm(x, FinalNorm, xn, N, eps);
        }
    }

    /// <summary>logits [n, V] = hidden [n, d] · LmHeadᵀ.</summary>
    public void Logits(ReadOnlySpan<float> hidden, Span<float> logits, int n) =>
        Backend.MatMul(hidden[..(n * Hidden)], LmHead, logits[..(n * Vocab)], n);

    /// <summary>logProbs [n] = log softmax(logits of hidden row r)[targets[r]], computed where the logits are made when
    /// the backend can (the GPU: only n numbers come back); false when it cannot (use <see cref="Logits"/>).</summary>
    public bool TargetLogProbs(ReadOnlySpan<float> hidden, ReadOnlySpan<int> targets, Span<float> logProbs, int n) =>
        Backend.TargetLogProbs(hidden[..(n * Hidden)], LmHead, targets[..n], logProbs[..n], n);

    public void Dispose()
    {
        TrimBuffers();
        Backend.Release(_owner);
        Checkpoint.Dispose();
    }
}
