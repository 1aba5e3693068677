using Palu.Cache;
using Palu.IO;
using Palu.Kernels.Cpu;
using Palu.Tensors;

namespace Palu.Models;

/// <summary>
/// A Llama-family decoder-only model (Llama, Mistral, Qwen2, Qwen3 as config switches) on the CPU, f32 compute over
/// F32/F16/BF16 weights. The whole forward pass is <see cref="Forward"/>, top to bottom.
/// One forward at a time per instance (scratch buffers are shared); sessions each own a <see cref="KvCache"/>.
/// </summary>
public sealed class CausalLM : IDisposable
{
    /// <summary>Longest chunk of tokens processed in one prefill step (bounds scratch memory).</summary>
    public const int PrefillChunk = 512;

    public ModelConfig Config { get; }
    public string Path { get; }
    public WeightMatrix Embed { get; }            // model.embed_tokens.weight [V, d]
    public DecoderLayer[] Layers { get; }
    public float[] FinalNorm { get; }             // model.norm.weight [d]
    public WeightMatrix LmHead { get; }           // lm_head.weight [V, d] (= Embed when tied)
    public RopeTable Rope { get; }
    public AttentionShape AttentionShape { get; }
    readonly IDisposable? _owner;
    readonly object _lock = new();

    // scratch: [T, d] ×3, [T, H·d_h], [T, ffn] ×2
    float[] _x = [], _xn = [], _y = [], _q = [], _gate = [], _up = [];

    public CausalLM(ModelConfig config, string path, WeightMatrix embed, DecoderLayer[] layers, float[] finalNorm,
        WeightMatrix lmHead, AttentionShape shape, IDisposable? owner)
    {
        Config = config; Path = path; Embed = embed; Layers = layers; FinalNorm = finalNorm; LmHead = lmHead;
        AttentionShape = shape; Rope = shape.Rope; _owner = owner;
    }

    /// <summary>Loads an HF model directory (weights stay memory-mapped; F32/F16/BF16 matrices are zero-copy views).</summary>
    public static CausalLM Load(string dir, LoadOptions? options = null)
    {
        var md = ModelDirectory.Open(dir);
        try { return ModelLoader.Load(md, options); }
        catch { md.Dispose(); throw; }
    }

    public int Vocab => Config.VocabSize;
    public int Hidden => Config.HiddenSize;

    /// <summary>A KV cache for one sequence of up to <paramref name="capacity"/> positions.</summary>
    public KvCache CreateCache(int? capacity = null)
    {
        int cap = capacity ?? Config.MaxPositionEmbeddings;
        if (cap <= 0) throw new ArgumentOutOfRangeException(nameof(capacity));
        return new KvCache(Layers.Select(l => l.Attention.CreateCache(cap)).ToArray(), cap);
    }

    /// <summary>KV-cache bytes per token as this model caches them (f32 keys and values, or f32 Palu latents).</summary>
    public long KvBytesPerToken
    {
        get
        {
            using var cache = CreateCache(1);
            return cache.BytesPerToken;
        }
    }

    /// <summary>Bytes of weights one decode step reads (all linears, embeddings row excluded, LM head included).</summary>
    public long DecodeWeightBytes =>
        Layers.Sum(l => l.Q.WeightBytes + l.Attention.WeightBytes + l.Gate.WeightBytes + l.Up.WeightBytes + l.Down.WeightBytes)
        + LmHead.Bytes;

    /// <summary>
    /// Runs <paramref name="tokens"/> at positions [cache.Length, cache.Length + T) and appends them to the cache.
    /// hidden [T, d] receives the final-normed hidden states (feed them to <see cref="Logits"/>).
    /// </summary>
    public void Forward(ReadOnlySpan<int> tokens, KvCache cache, Span<float> hidden, IActivationObserver? observer = null)
    {
        int T = tokens.Length, d = Hidden;
        if (hidden.Length < T * d) throw new ArgumentException($"hidden needs [{T}, {d}]");
        if (cache.Length + T > cache.Capacity)
            throw new InvalidOperationException($"sequence too long: {cache.Length + T} positions exceed the cache capacity of {cache.Capacity} (max_position_embeddings = {Config.MaxPositionEmbeddings}); shorten the prompt or --max-tokens");
        foreach (int id in tokens)
            if ((uint)id >= (uint)Vocab) throw new ArgumentOutOfRangeException(nameof(tokens), $"token id {id} outside the vocabulary [0, {Vocab})");
        lock (_lock)
        {
            for (int s = 0; s < T; s += PrefillChunk)
            {
                int n = Math.Min(PrefillChunk, T - s);
                ForwardChunk(tokens.Slice(s, n), cache, hidden.Slice(s * d, n * d), observer);
            }
        }
    }

    void ForwardChunk(ReadOnlySpan<int> tokens, KvCache cache, Span<float> hidden, IActivationObserver? observer)
    {
        int T = tokens.Length, d = Hidden, qDim = Config.QDim, ffn = Config.IntermediateSize, H = Config.NumHeads;
        int start = cache.Length;
        float eps = (float)Config.RmsNormEps;
        var x = Scratch.Grow(ref _x, T * d);            // [T, d] residual stream
        var xn = Scratch.Grow(ref _xn, T * d);          // [T, d] normed
        var y = Scratch.Grow(ref _y, T * d);            // [T, d] block output
        var q = Scratch.Grow(ref _q, T * qDim);         // [T, H·d_h]
        var gate = Scratch.Grow(ref _gate, T * ffn);    // [T, ffn]
        var up = Scratch.Grow(ref _up, T * ffn);        // [T, ffn]

        for (int t = 0; t < T; t++) Embed.RowToSingle(tokens[t], x.Slice(t * d, d));

        for (int l = 0; l < Layers.Length; l++)
        {
            var L = Layers[l];
            // attention block
            SimdKernels.RmsNorm(x, L.InputNorm, xn, T, eps);
            observer?.OnLinearInput(l, LinearInput.Attention, xn, T);
            L.Q.Forward(xn, q, T);
            if (L.QNorm != null) SimdKernels.RmsNorm(q, L.QNorm, q, T * H, eps);
            SimdKernels.Rope(q, T, H, start, Rope);
            L.Attention.Forward(xn, q, T, start, cache.Layers[l], y, l, observer);
            System.Numerics.Tensors.TensorPrimitives.Add(x, y, x);
            // MLP block
            SimdKernels.RmsNorm(x, L.PostAttentionNorm, xn, T, eps);
            observer?.OnLinearInput(l, LinearInput.Mlp, xn, T);
            L.Gate.Forward(xn, gate, T);
            L.Up.Forward(xn, up, T);
            SimdKernels.SwiGlu(gate, up);
            observer?.OnLinearInput(l, LinearInput.MlpDown, gate, T);
            L.Down.Forward(gate, y, T);
            System.Numerics.Tensors.TensorPrimitives.Add(x, y, x);
        }
        SimdKernels.RmsNorm(x, FinalNorm, hidden, T, eps);
        cache.Advance(T);
    }

    /// <summary>logits [n, V] = hidden [n, d] · LmHeadᵀ.</summary>
    public void Logits(ReadOnlySpan<float> hidden, Span<float> logits, int n)
    {
        SimdKernels.MatMul(hidden[..(n * Hidden)], LmHead, logits[..(n * Vocab)], n);
    }

    public void Dispose() => _owner?.Dispose();
}
