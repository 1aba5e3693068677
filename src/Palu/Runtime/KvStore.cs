using Palu.Tensors;

namespace Palu.Runtime;

/// <summary>
/// Cached per-position vectors of one layer in one buffer: [Heads, Capacity, Width] elements of <see cref="DType"/>
/// (F32, BF16 or F16). A dense K or V cache is one store (heads = KV heads, width = d_h); a Palu latent group is one
/// store (heads = 1, width = r_g). Written by <see cref="Backend.Store"/>, read by the attention ops.
/// </summary>
public sealed class KvStore : IDisposable
{
    public DeviceBuffer Memory { get; }
    public DType DType { get; }
    public int Heads { get; }
    public int Capacity { get; }
    public int Width { get; }

    public KvStore(Backend backend, DType dtype, int heads, int capacity, int width)
    {
        if (dtype is not (DType.F32 or DType.BF16 or DType.F16))
            throw new NotSupportedException($"KV cache storage must be f32, bf16 or f16, not {DTypes.Name(dtype)}");
        DType = dtype; Heads = heads; Capacity = capacity; Width = width;
        Memory = backend.Allocate((long)heads * capacity * width * DTypes.Size(dtype));
    }

    /// <summary>Bytes one cached position occupies (all heads).</summary>
    public long BytesPerToken => (long)Heads * Width * DTypes.Size(DType);
    public long Bytes => Memory.Bytes;

    public void Dispose() => Memory.Dispose();
}
