using Palu.Kernels.Cpu;

namespace Palu.LinearAlgebra;

/// <summary>
/// Independent rows of the managed factorisations spread over <see cref="KernelThreads"/> (so over at most
/// <see cref="Parallelism.Threads"/> threads). Every row is computed the same way whatever the split, so results do
/// not depend on the thread count.
/// </summary>
internal static class ManagedParallel
{
    /// <summary>body(j) for j in [0, <paramref name="count"/>), as <paramref name="chunks"/> contiguous ranges (one per task).</summary>
    public static void Rows(int count, int chunks, Action<int> body) => KernelThreads.For(chunks, c =>
    {
        for (int j = KernelThreads.Split(count, chunks, c), j1 = KernelThreads.Split(count, chunks, c + 1); j < j1; j++) body(j);
    });

    /// <summary>body(j) for j in [0, <paramref name="count"/>) with about <paramref name="workPerRow"/> operations each: in
    /// chunks of at least <see cref="MinWorkPerChunk"/> (one chunk below twice that).</summary>
    public static void Rows(int count, long workPerRow, Action<int> body) =>
        Rows(count, KernelThreads.Plan(count * workPerRow, MinWorkPerChunk, count), body);

    public const long MinWorkPerChunk = 32768;
}
