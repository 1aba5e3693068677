using System.Runtime.InteropServices;

namespace Palu.Runtime.Cuda;

/// <summary>A CUDA call failed: the message names the call and the error code.</summary>
public sealed class CudaException(string message) : Exception(message);

/// <summary>
/// The CUDA driver API (libcuda.so.1, installed with the NVIDIA driver) through P/Invoke: what the CUDA backend needs
/// and nothing more. Every call goes through <see cref="Check"/>, so a failure names the call and the CUDA error.
/// </summary>
internal static unsafe partial class CudaDriver
{
    const string Lib = "libcuda.so.1";

    [LibraryImport(Lib)] public static partial int cuInit(uint flags);
    [LibraryImport(Lib)] public static partial int cuDriverGetVersion(out int version);
    [LibraryImport(Lib)] public static partial int cuDeviceGetCount(out int count);
    [LibraryImport(Lib)] public static partial int cuDeviceGet(out int device, int ordinal);
    [LibraryImport(Lib)] public static partial int cuDeviceGetAttribute(out int value, int attribute, int device);
    [LibraryImport(Lib)] public static partial int cuDeviceGetName(byte* name, int length, int device);
    [LibraryImport(Lib, EntryPoint = "cuDeviceTotalMem_v2")] public static partial int cuDeviceTotalMem(out nuint bytes, int device);
    [LibraryImport(Lib)] public static partial int cuDevicePrimaryCtxRetain(out nint ctx, int device);
    [LibraryImport(Lib, EntryPoint = "cuDevicePrimaryCtxRelease_v2")] public static partial int cuDevicePrimaryCtxRelease(int device);
    [LibraryImport(Lib)] public static partial int cuCtxSetCurrent(nint ctx);
    [LibraryImport(Lib)] public static partial int cuCtxSynchronize();
    [LibraryImport(Lib, EntryPoint = "cuMemGetInfo_v2")] public static partial int cuMemGetInfo(out nuint free, out nuint total);
    [LibraryImport(Lib, EntryPoint = "cuMemAlloc_v2")] public static partial int cuMemAlloc(out ulong ptr, nuint bytes);
    [LibraryImport(Lib, EntryPoint = "cuMemFree_v2")] public static partial int cuMemFree(ulong ptr);
    [LibraryImport(Lib, EntryPoint = "cuMemAllocHost_v2")] public static partial int cuMemAllocHost(out nint ptr, nuint bytes);
    [LibraryImport(Lib)] public static partial int cuMemFreeHost(nint ptr);
    [LibraryImport(Lib, EntryPoint = "cuMemcpyHtoDAsync_v2")] public static partial int cuMemcpyHtoDAsync(ulong dst, void* src, nuint bytes, nint stream);
    [LibraryImport(Lib, EntryPoint = "cuMemcpyDtoHAsync_v2")] public static partial int cuMemcpyDtoHAsync(void* dst, ulong src, nuint bytes, nint stream);
    [LibraryImport(Lib, EntryPoint = "cuMemcpyDtoDAsync_v2")] public static partial int cuMemcpyDtoDAsync(ulong dst, ulong src, nuint bytes, nint stream);
    [LibraryImport(Lib, EntryPoint = "cuMemsetD8Async")] public static partial int cuMemsetD8Async(ulong dst, byte value, nuint count, nint stream);
    [LibraryImport(Lib)] public static partial int cuStreamCreate(out nint stream, uint flags);
    [LibraryImport(Lib, EntryPoint = "cuStreamDestroy_v2")] public static partial int cuStreamDestroy(nint stream);
    [LibraryImport(Lib)] public static partial int cuStreamSynchronize(nint stream);
    [LibraryImport(Lib)] public static partial int cuModuleLoadData(out nint module, void* image);
    [LibraryImport(Lib)] public static partial int cuModuleUnload(nint module);
    [LibraryImport(Lib)] public static partial int cuModuleGetFunction(out nint function, nint module, [MarshalAs(UnmanagedType.LPUTF8Str)] string name);
    [LibraryImport(Lib)] public static partial int cuFuncSetAttribute(nint function, int attribute, int value);
    [LibraryImport(Lib)] public static partial int cuLaunchKernel(nint f, uint gx, uint gy, uint gz, uint bx, uint by, uint bz,
        uint sharedBytes, nint stream, void** args, void** extra);
    [LibraryImport(Lib)] public static partial int cuLaunchKernelEx(LaunchConfig* config, nint f, void** args, void** extra);
    [LibraryImport(Lib)] public static partial int cuStreamBeginCapture_v2(nint stream, int mode);
    [LibraryImport(Lib)] public static partial int cuStreamEndCapture(nint stream, out nint graph);
    [LibraryImport(Lib, EntryPoint = "cuGraphInstantiateWithFlags")] public static partial int cuGraphInstantiate(out nint exec, nint graph, ulong flags);
    [LibraryImport(Lib)] public static partial int cuGraphLaunch(nint exec, nint stream);
    [LibraryImport(Lib)] public static partial int cuGraphExecDestroy(nint exec);
    [LibraryImport(Lib)] public static partial int cuGraphDestroy(nint graph);
    [LibraryImport(Lib)] public static partial int cuGetErrorName(int error, out nint name);
    [LibraryImport(Lib)] public static partial int cuGetErrorString(int error, out nint text);

    /// <summary>CUlaunchConfig.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct LaunchConfig
    {
        public uint GridX, GridY, GridZ, BlockX, BlockY, BlockZ, SharedBytes;
        public nint Stream;
        public LaunchAttribute* Attrs;
        public uint NumAttrs;
    }

    /// <summary>CUlaunchAttribute: an id, then a 64-byte value (an int for the attributes used here).</summary>
    [StructLayout(LayoutKind.Explicit, Size = 72)]
    public struct LaunchAttribute
    {
        [FieldOffset(0)] public int Id;
        [FieldOffset(8)] public int Value;
    }

    public const int CU_LAUNCH_ATTRIBUTE_PROGRAMMATIC_STREAM_SERIALIZATION = 6;
    public const int CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT = 16;
    public const int CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR = 75;
    public const int CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR = 76;
    public const int CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN = 97;
    public const int CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES = 8;
    public const int CUDA_ERROR_OUT_OF_MEMORY = 2;

    /// <summary>Throws <see cref="CudaException"/> naming <paramref name="call"/> unless <paramref name="result"/> is CUDA_SUCCESS.</summary>
    public static void Check(int result, string call)
    {
        if (result == 0) return;
        throw new CudaException($"{call} failed: {ErrorText(result)}");
    }

    public static string ErrorText(int result)
    {
        string name = cuGetErrorName(result, out var n) == 0 && n != 0 ? Marshal.PtrToStringUTF8(n)! : "unknown";
        string text = cuGetErrorString(result, out var t) == 0 && t != 0 ? Marshal.PtrToStringUTF8(t)! : "";
        return $"{name} ({result}){(text.Length > 0 ? ": " + text : "")}";
    }

    /// <summary>True when libcuda.so.1 can be loaded (a driver is installed), without initialising anything.</summary>
    public static bool DriverPresent()
    {
        if (!OperatingSystem.IsLinux()) return false;
        if (!NativeLibrary.TryLoad(Lib, out var h)) return false;
        NativeLibrary.Free(h);
        return true;
    }
}
