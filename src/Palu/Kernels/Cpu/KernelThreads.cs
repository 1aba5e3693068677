using System.Diagnostics;
using Palu.Tensors;

namespace Palu.Kernels.Cpu;

/// <summary>
/// How kernels spread work over <see cref="Parallelism.Threads"/>: <see cref="For"/> runs a few coarse chunks
/// (normally one per thread) on the calling thread plus persistent helper threads. A helper spins for
/// <see cref="SpinMicroseconds"/> after each job before it blocks, so back-to-back kernels (a decode step is a
/// chain of them) hand work over in about a microsecond instead of the ~10–100 µs of waking a pool thread.
/// Callers pick the chunk count from the amount of work (<see cref="Plan"/>), so small problems stay on one thread.
/// </summary>
internal static class KernelThreads
{
    const int SpinMicroseconds = 100;

    sealed class Job(Action<int> body, int count, int helpers)
    {
        public readonly Action<int> Body = body;
        public readonly int Count = count;
        public readonly int Helpers = helpers;   // helpers [0, Helpers) take part
        public int Next;
        public int Done;
        public Exception? Error;

        /// <summary>Claims and runs chunks until none are left; kernels called from a chunk run on its thread.</summary>
        public void Work()
        {
            bool outer = t_inChunk;
            t_inChunk = true;
            try
            {
                int i;
                while ((i = Interlocked.Increment(ref Next) - 1) < Count)
                {
                    try { Body(i); }
                    catch (Exception e) { Error ??= e; }
                    Interlocked.Increment(ref Done);
                }
            }
            finally { t_inChunk = outer; }
        }
    }

    sealed class Helper
    {
        public readonly SemaphoreSlim Wake = new(0);
        public int Sleeping;
    }

    /// <summary>True on a thread while it runs a chunk of <see cref="For"/>: nested kernels then stay on it.</summary>
    [ThreadStatic] static bool t_inChunk;

    static readonly List<Helper> s_helpers = [];
    static Job? s_job;            // the job being run, or the last one
    static int s_busy;            // 1 while a caller owns the helpers
    static ParallelOptions? s_fallbackOptions;

    /// <summary>Chunks to cut <paramref name="work"/> units into: each at least <paramref name="minWorkPerChunk"/>, at
    /// most <paramref name="maxChunks"/>, and up to <see cref="ChunksPerThread"/> per thread so that the calling thread
    /// can take over chunks of a helper that starts late or is preempted. One chunk when Threads = 1, or when called
    /// from inside a chunk (the outer split already uses the threads).</summary>
    public static int Plan(long work, long minWorkPerChunk, int maxChunks)
    {
        if (Parallelism.Threads <= 1 || t_inChunk) return 1;
        long byWork = work / Math.Max(1, minWorkPerChunk);
        return (int)Math.Clamp(byWork, 1, Math.Max(1, Math.Min(maxChunks, (long)Parallelism.Threads * ChunksPerThread)));
    }

    public const int ChunksPerThread = 4;

    /// <summary>Start of chunk <paramref name="i"/> of <paramref name="chunks"/> over [0, total), rounded down to a
    /// multiple of <paramref name="align"/> (chunk <c>chunks</c> starts at total).</summary>
    public static int Split(int total, int chunks, int i, int align = 1)
    {
        if (i >= chunks) return total;
        long s = (long)total * i / chunks;
        return (int)(s / align * align);
    }

    /// <summary>Runs body(0 .. count-1) on the calling thread and up to Threads − 1 helpers; returns when all are done.</summary>
    public static void For(int count, Action<int> body)
    {
        if (count <= 1) { if (count == 1) body(0); return; }
        int helpers = Math.Min(Parallelism.Threads, count) - 1;
        if (helpers <= 0) { for (int i = 0; i < count; i++) body(i); return; }
        if (Interlocked.CompareExchange(ref s_busy, 1, 0) != 0)
        {
            // Another thread (or a nested call) owns the helpers: use the shared pool instead.
            var options = s_fallbackOptions;
            if (options == null || options.MaxDegreeOfParallelism != Parallelism.Threads)
                s_fallbackOptions = options = new ParallelOptions { MaxDegreeOfParallelism = Math.Max(1, Parallelism.Threads) };
            Parallel.For(0, count, options, body);
            return;
        }
        try
        {
            while (s_helpers.Count < helpers) Start(s_helpers.Count);
            var job = new Job(body, count, helpers);
            Interlocked.Exchange(ref s_job, job);
            for (int h = 0; h < helpers; h++)
                if (Interlocked.Exchange(ref s_helpers[h].Sleeping, 0) == 1) s_helpers[h].Wake.Release();
            job.Work();
            var spin = new SpinWait();
            while (Volatile.Read(ref job.Done) < count) spin.SpinOnce(sleep1Threshold: -1);
            if (job.Error != null) throw new AggregateException(job.Error);
        }
        finally { Volatile.Write(ref s_busy, 0); }
    }

    static void Start(int index)
    {
        var helper = new Helper();
        s_helpers.Add(helper);
        new Thread(() => HelperLoop(helper, index)) { IsBackground = true, Name = $"Palu kernel helper {index + 1}" }.Start();
    }

    static void HelperLoop(Helper helper, int index)
    {
        Job? seen = Volatile.Read(ref s_job);
        long spinTicks = Stopwatch.Frequency * SpinMicroseconds / 1_000_000;
        while (true)
        {
            // Spin a while for the next job, then sleep until a caller wakes us.
            long start = Stopwatch.GetTimestamp();
            Job? job;
            while ((job = Volatile.Read(ref s_job)) == seen && Stopwatch.GetTimestamp() - start < spinTicks) Thread.SpinWait(20);
            if (job == seen)
            {
                Interlocked.Exchange(ref helper.Sleeping, 1);
                if ((job = Volatile.Read(ref s_job)) == seen) { helper.Wake.Wait(); continue; }
                Interlocked.Exchange(ref helper.Sleeping, 0);
            }
            seen = job;
            // Only helpers the caller asked for take part; the others just note the job.
            if (job != null && index < job.Helpers) job.Work();
        }
    }
}

/// <summary>
/// Per-thread scratch memory (64-byte aligned, grown on demand, never shrunk) so that kernels do not allocate per
/// call. Each <see cref="Slot"/> is an independent buffer; a kernel uses its own slots and never calls another
/// kernel while holding one.
/// </summary>
internal static unsafe class ThreadScratch
{
    public enum Slot { GemmPack, GemmTile, Attention, AttentionPartials, LatentKeys, LatentQueries, LatentOutputs, WidenKeys, WidenValues, PackedKeys, PackedValues, Count }

    [ThreadStatic] static NativeBuffer?[]? t_buffers;

    /// <summary>A buffer of at least <paramref name="floats"/> floats for this thread (contents undefined).</summary>
    public static float* Floats(Slot slot, long floats)
    {
        var buffers = t_buffers ??= new NativeBuffer?[(int)Slot.Count];
        ref var b = ref buffers[(int)slot];
        long bytes = Math.Max(floats, 16) * sizeof(float);
        if (b == null || b.Bytes < bytes)
        {
            long grown = Math.Max(bytes, (b?.Bytes ?? 0) * 2);
            b?.Dispose();
            b = NativeBuffer.Allocate(grown);
        }
        return (float*)b.Pointer;
    }
}
