using Palu.Kernels.Cpu;
using Palu.Tensors;

namespace Palu.Runtime;

/// <summary>Geometry of one causal attention call (dense or latent). Query t sits at position StartPos + t.</summary>
/// <param name="T">query rows</param>
/// <param name="StartPos">absolute position of the first query row; the cache holds [0, StartPos + T)</param>
/// <param name="Heads">query heads H</param>
/// <param name="KvHeads">KV heads H_kv (H / H_kv query heads share one)</param>
/// <param name="HeadDim">d_h of queries and keys</param>
/// <param name="Window">sliding window (keys j &gt; p − window), or null</param>
public readonly record struct AttentionCall(int T, int StartPos, int Heads, int KvHeads, int HeadDim, int? Window);

/// <summary>
/// One KV head's part of a Palu latent cache: its group's key latents, the rows of the group's key up-projection that
/// rebuild this head (B^K_{g,i} [d_h, r^K_g]) and their bias, and its group's value latents.
/// </summary>
public readonly record struct LatentHead(KvStore KeyLatents, DeviceWeight KeyUp, Buf KeyBias, KvStore ValueLatents);

/// <summary>A <see cref="LatentHead"/> whose latents are stored quantised and packed.</summary>
public readonly record struct PackedLatentHead(PackedKvStore KeyLatents, DeviceWeight KeyUp, Buf KeyBias, PackedKvStore ValueLatents);

/// <summary>
/// A compute backend: the memory a model lives in and every op its forward pass runs. The model code calls these ops
/// only (never a kernel directly), so a backend decides where and how each op runs: <see cref="Cpu.SimdBackend"/>
/// (AVX-512 kernels, threads), <see cref="Cpu.ReferenceBackend"/> (the naive kernels: the specification), later a
/// CUDA backend. Operands are <see cref="Buf"/> views of f32 values in this backend's memory; shapes are row-major and
/// given in each comment. Ops are safe to call from several threads at once on disjoint outputs.
/// </summary>
public abstract class Backend : IDisposable
{
    /// <summary>Name on the command line (<c>--device</c>): cpu, cpu-reference, cuda.</summary>
    public abstract string Name { get; }

    /// <summary>Rows of one prefill step (a long prompt goes through the model in pieces of this many tokens).</summary>
    public virtual int PrefillChunk => 512;

    /// <summary>The dtype activations are computed in (the dense KV cache defaults to it).</summary>
    public virtual DType ComputeDType => DType.F32;

    // ---- memory ----

    /// <summary>Zero-filled memory of <paramref name="bytes"/> bytes.</summary>
    public abstract DeviceBuffer Allocate(long bytes);

    /// <summary>A new buffer holding <paramref name="values"/> (norm weights, biases).</summary>
    public Buf Load(ReadOnlySpan<float> values)
    {
        var b = Allocate((long)values.Length * sizeof(float)).All;
        Upload(values, b);
        return b;
    }

    /// <summary>A weight held by this backend: on the CPU the same memory (zero copy), on a GPU a device copy.</summary>
    public abstract DeviceWeight Load(in WeightMatrix host);

    /// <summary>Input-channel indices held by this backend.</summary>
    public abstract DeviceIndices Load(ReadOnlySpan<int> indices);

    /// <summary>dst = src (host to backend).</summary>
    public abstract void Upload(ReadOnlySpan<float> src, Buf dst);

    /// <summary>dst = src (backend to host).</summary>
    public abstract void Download(Buf src, Span<float> dst);

    /// <summary>src as a host span: the memory itself where the backend's memory is host memory, else a copy in
    /// <paramref name="staging"/> (grown as needed). For observers (calibration statistics), not the hot path.</summary>
    public abstract ReadOnlySpan<float> Peek(Buf src, ref float[] staging);

    // ---- dense math ----

    /// <summary>x [T, d] = rows <paramref name="ids"/> of the embedding table [V, d].</summary>
    public abstract void Embed(DeviceWeight table, ReadOnlySpan<int> ids, Buf x);

    /// <summary>y [T, m] = x [T, n] · Wᵀ with W [m, n].</summary>
    public abstract void MatMul(Buf x, DeviceWeight w, Buf y, int T);

    /// <summary>y [T, m] = x [T, n] · Wᵀ for host x and y (the LM head's logits).</summary>
    public abstract void MatMul(ReadOnlySpan<float> x, DeviceWeight w, Span<float> y, int T);

    /// <summary>logProbs [T] = log softmax(x·Wᵀ)[targets[t]] of each row of host x [T, n] (W [V, n]: the LM head),
    /// where the backend keeps the logits on its device and returns only T numbers. False when it does not (the CPU
    /// backends: the caller takes <see cref="MatMul(ReadOnlySpan{float}, DeviceWeight, Span{float}, int)"/> and the log-softmax itself).</summary>
    public virtual bool TargetLogProbs(ReadOnlySpan<float> x, DeviceWeight w, ReadOnlySpan<int> targets, Span<float> logProbs, int T) => false;

    /// <summary>y[t] += bias for every row t. y [T, m], bias [m].</summary>
    public abstract void AddBias(Buf y, Buf bias, int T);

    /// <summary>x += y, elementwise (the residual add). x, y [n].</summary>
    public abstract void Add(Buf x, Buf y);

    /// <summary>dst[t, dstCol + j] = src[t, srcCol + j] for t &lt; rows, j &lt; width. src [rows, srcStride], dst [rows, dstStride].</summary>
    public abstract void CopyBlock(Buf src, int srcStride, int srcCol, Buf dst, int dstStride, int dstCol, int rows, int width);

    /// <summary>y[t, j] = x[t, cols[j]]: an input-channel gather. x [T, n], y [T, cols.Length].</summary>
    public abstract void Gather(Buf x, DeviceIndices cols, Buf y, int T);

    /// <summary>y[t, j] += x[t, cols[j]]. x [T, n], y [T, cols.Length].</summary>
    public abstract void GatherAdd(Buf x, DeviceIndices cols, Buf y, int T);

    /// <summary>y = x / sqrt(mean(x²) + eps) · weight, per row. x, y [rows, n] (may alias), weight [n].</summary>
    public abstract void RmsNorm(Buf x, Buf weight, Buf y, int rows, float eps);

    /// <summary>In-place rotate-half RoPE. x [T, heads, d]; row t sits at position startPos + t.</summary>
    public abstract void Rope(Buf x, int T, int heads, int startPos, RopeTable table);

    /// <summary>gate = silu(gate) · up, elementwise. gate, up [T, f].</summary>
    public abstract void SwiGlu(Buf gate, Buf up);

    // ---- caches and attention ----

    /// <summary>
    /// Writes rows into a cache store, converting to its dtype: for t &lt; T and head h,
    /// dst[h, start + t, :] = src[t·rowStride + column + h·dst.Width, +dst.Width). src [T, rowStride].
    /// </summary>
    public abstract void Store(Buf src, int rowStride, int column, KvStore dst, int start, int T);

    /// <summary>
    /// Causal GQA attention over a dense cache: out [T, H, dv] = softmax(q·kᵀ/√d_h)·v with q [T, H, d_h] (RoPE
    /// applied), k [H_kv, cap, d_h] and v [H_kv, cap, dv] the stores (positions [0, StartPos + T) filled).
    /// </summary>
    public abstract void Attention(Buf q, KvStore k, KvStore v, Buf output, in AttentionCall call);

    /// <summary>
    /// Causal attention over a Palu latent cache (<see cref="LatentAttentionKernels"/>): keys rebuilt per KV head
    /// (k_j = B^K h^K_j + b, optional per-head RMSNorm <paramref name="kNorm"/> [d_h], RoPE at position j), weights
    /// applied to the value latents: z [T, Σ_h r^V(h)] with query head h at <paramref name="zOffsets"/>[h].
    /// <paramref name="heads"/> [H_kv]; q [T, H, d_h].
    /// </summary>
    public abstract void LatentAttention(Buf q, ReadOnlySpan<LatentHead> heads, Buf kNorm, float normEps, RopeTable rope,
        ReadOnlySpan<int> zOffsets, Buf z, in AttentionCall call);

    // ---- packed (quantised) latents: the CPU backends only for now ----

    /// <summary>Quantises rows into a packed latent store (<see cref="LatentQuant"/>): for t &lt; T,
    /// dst[start + t] = quantise(src[t·rowStride + column, +dst.Width)). src [T, rowStride].</summary>
    public virtual void QuantizeStore(Buf src, int rowStride, int column, PackedKvStore dst, int start, int T) => throw PackedOnCpuOnly();

    /// <summary>dst [n, Width] = the dequantised rows [start, start + n) of a packed latent store.</summary>
    public virtual void Dequantize(PackedKvStore src, int start, int n, Buf dst) => throw PackedOnCpuOnly();

    /// <summary><see cref="LatentAttention"/> over packed latents: the same result as over their dequantised floats.</summary>
    public virtual void PackedLatentAttention(Buf q, ReadOnlySpan<PackedLatentHead> heads, Buf kNorm, float normEps, RopeTable rope,
        ReadOnlySpan<int> zOffsets, Buf z, in AttentionCall call) => throw PackedOnCpuOnly();

    /// <summary>
    /// KIVI's simulated quantisation of positions [start, start + count) (whole blocks of 32) of f32 dense stores,
    /// in place: k per channel over each block of 32 positions, v per position over groups of 32 channels.
    /// </summary>
    public virtual void KiviQuantize(KvStore k, KvStore v, int start, int count, int bits) =>
        throw new NotSupportedException($"the KIVI baseline (--kv-quant) runs on the CPU backend only; not on {Name}");

    NotSupportedException PackedOnCpuOnly() =>
        new($"packed latents run on the CPU backend only for now (this model was compressed with --kv-bits < 16; run it with --device cpu, not {Name})");

    /// <summary>Runs <paramref name="count"/> independent pieces of work (one per sequence of a batch), in parallel
    /// where the backend can; each piece's ops give the same results as when run alone.</summary>
    public virtual void ForEach(int count, Action<int> body)
    {
        for (int i = 0; i < count; i++) body(i);
    }

    /// <summary>
    /// Runs <paramref name="body"/>, the device work of one decode step: every sequence named in
    /// <paramref name="identity"/> (with the model and the workspace) advances by one token, token ids
    /// <paramref name="ids"/> [B], the sequences at <paramref name="positions"/> [B]. A backend may record the body once
    /// and replay it at later steps of the same sequences (CUDA graphs): the body's device work may then depend on
    /// nothing but the ids, the positions (all moved by the same number of steps since the recording) and the memory
    /// of the objects in <paramref name="identity"/>. The CPU backends just run it.
    /// </summary>
    public virtual void DecodeStep(object[] identity, ReadOnlySpan<int> ids, ReadOnlySpan<int> positions, Action body) => body();

    /// <summary>Memory this backend allocates on this thread until the result is disposed belongs to
    /// <paramref name="owner"/> and is freed by <see cref="Release"/> (a GPU backend frees a model's weights this way;
    /// host memory is left to the garbage collector).</summary>
    public virtual IDisposable Own(object owner) => NoScope.Instance;

    sealed class NoScope : IDisposable
    {
        public static readonly NoScope Instance = new();
        public void Dispose() { }
    }

    /// <summary>Frees what this backend holds for <paramref name="owner"/> (a GPU backend: the model's device memory;
    /// the CPU backends hold nothing beyond the objects themselves).</summary>
    public virtual void Release(object owner) { }

    public virtual void Dispose() { }
}
