using Palu.Runtime;

namespace Palu.Models;

/// <summary>The activation buffers of a forward step, by role (sizes in each user's shape comment).</summary>
public enum Slot
{
    X, Xn, Y, Q, Gate, Up,          // CausalLM: [N, d] ×3, [N, H·d_h], [N, ffn] ×2
    K, V, Attn,                     // dense attention: [N, H_kv·d_h] ×2, [N, H·d_h]
    Hk, Hv, Z, Vals, HeadZ, HeadVals, // latent attention: [N, Σr^K], [N, Σr^V], [N, Σ_h r^V(h)], [N, H·d_h], [N, r], [N, d_h]
    LowRankMid, LowRankGather,      // low-rank linear: [N, r], [N, in − r]
    SharedMid,                      // a low-rank projection shared by several linears (SkipCat's Cat): [N, r]
    Count,
}

/// <summary>
/// Grow-only activation buffers in one backend's memory for one forward at a time (a sequence's own, or a batch's).
/// A buffer is reallocated, contents dropped, when a step needs more than it holds (by at least half again).
/// </summary>
public sealed class Workspace(Backend backend) : IDisposable
{
    readonly DeviceBuffer?[] _buffers = new DeviceBuffer?[(int)Slot.Count];
    float[] _staging = [];

    public Backend Backend { get; } = backend;

    /// <summary>Which shared low-rank projection <see cref="Slot.SharedMid"/> holds, for which input, and how many
    /// members may still reuse it (see <see cref="LowRankProjection.Project"/>).</summary>
    public record struct ProjectionMemo(LowRankProjection? Owner, Buf X, int T, int Left);
    internal ProjectionMemo SharedProjection;

    /// <summary>The first <paramref name="floats"/> floats of the buffer of <paramref name="slot"/>.</summary>
    public Buf Get(Slot slot, int floats)
    {
        ref var b = ref _buffers[(int)slot];
        long bytes = (long)floats * sizeof(float);
        if (b == null || b.Bytes < bytes)
        {
            long grown = Math.Max(bytes, (b?.Bytes ?? 0) * 3 / 2);
            b?.Dispose();
            b = null;
            b = Backend.Allocate(grown);
        }
        return new Buf(b, 0, floats);
    }

    /// <summary>A host view of <paramref name="b"/> for observers (see <see cref="Backend.Peek"/>).</summary>
    public ReadOnlySpan<float> Peek(Buf b) => Backend.Peek(b, ref _staging);

    /// <summary>Bytes held by the buffers now.</summary>
    public long Bytes => _buffers.Sum(b => b?.Bytes ?? 0);

    public void Dispose()
    {
        for (int i = 0; i < _buffers.Length; i++) { _buffers[i]?.Dispose(); _buffers[i] = null; }
    }
}
