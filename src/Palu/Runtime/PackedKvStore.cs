using Palu.Kernels.Cpu;

namespace Palu.Runtime;

/// <summary>
/// Quantised latents of one head group: [Capacity, RowBytes] bytes, each row one token's packed codes, f16 scales and
/// f16 zero-points (<see cref="QuantLayout"/>). Written by <see cref="Backend.QuantizeStore"/>, read by
/// <see cref="Backend.PackedLatentAttention"/>; never held as floats.
/// </summary>
public sealed class PackedKvStore : IDisposable
{
    public DeviceBuffer Memory { get; }
    public QuantLayout Layout { get; }
    public int Capacity { get; }
    public int Width => Layout.Width;

    public PackedKvStore(Backend backend, QuantLayout layout, int capacity)
    {
        Layout = layout; Capacity = capacity;
        Memory = backend.Allocate((long)capacity * layout.RowBytes);
    }

    /// <summary>Bytes one cached position occupies: codes + scales + zero-points.</summary>
    public long BytesPerToken => Layout.RowBytes;
    public long Bytes => Memory.Bytes;

    public void Dispose() => Memory.Dispose();
}
