using System.Runtime.InteropServices;

namespace Palu.Tensors;

/// <summary>64-byte aligned native memory (off the GC heap), zero-filled. Owns its bytes until disposed.</summary>
public sealed unsafe class NativeBuffer : IDisposable
{
    public const int Alignment = 64;
    void* _ptr;

    public long Bytes { get; }
    public void* Pointer => _ptr != null ? _ptr : throw new ObjectDisposedException(nameof(NativeBuffer));

    NativeBuffer(long bytes)
    {
        Bytes = bytes;
        _ptr = NativeMemory.AlignedAlloc((nuint)Math.Max(bytes, 1), Alignment);
        NativeMemory.Clear(_ptr, (nuint)Math.Max(bytes, 1));
    }

    public static NativeBuffer Allocate(long bytes)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(bytes);
        return new NativeBuffer(bytes);
    }

    public static NativeBuffer FromFloats(ReadOnlySpan<float> data)
    {
        var b = Allocate((long)data.Length * sizeof(float));
        data.CopyTo(b.AsSpan<float>());
        return b;
    }

    public Span<T> AsSpan<T>() where T : unmanaged => new(Pointer, checked((int)(Bytes / sizeof(T))));

    public void Dispose()
    {
        if (_ptr != null) { NativeMemory.AlignedFree(_ptr); _ptr = null; }
        GC.SuppressFinalize(this);
    }

    ~NativeBuffer() { if (_ptr != null) NativeMemory.AlignedFree(_ptr); }
}
