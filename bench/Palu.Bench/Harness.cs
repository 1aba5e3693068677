using System.Diagnostics;
using Palu.Kernels.Cpu;

namespace Palu.Bench;

/// <summary>
/// A small Stopwatch harness. Warm-up first: the first calls pay for JIT compilation (with tiering, hot methods are
/// promoted only after some calls; this project runs without it, see the .csproj), helper-thread start, scratch
/// allocation and cold caches, so they are discarded. Then the variants being compared are timed in alternating
/// batches, so that load from other processes on this shared machine hits all of them alike; the median batch gives
/// seconds per call.
/// </summary>
public static class Harness
{
    /// <summary>Median seconds per call of each variant, measured round-robin.</summary>
    /// <param name="budget">Rough wall-clock seconds to spend measuring, all variants together (after warm-up).</param>
    public static double[] Compare(double budget, params Action[] variants)
    {
        int v = variants.Length;
        var batch = new int[v];
        double perRound = 0;
        for (int i = 0; i < v; i++)
        {
            double perCall = WarmUp(variants[i]);
            batch[i] = (int)Math.Clamp(1e-3 / Math.Max(perCall, 1e-9), 1, 1_000_000);   // batches of ≥ 1 ms
            perRound += perCall * batch[i];
        }
        int rounds = (int)Math.Clamp(budget / perRound, 5, 200);
        var samples = new double[v][];
        for (int i = 0; i < v; i++) samples[i] = new double[rounds];
        var sw = new Stopwatch();
        for (int r = 0; r < rounds; r++)
            for (int i = 0; i < v; i++)
            {
                sw.Restart();
                for (int c = 0; c < batch[i]; c++) variants[i]();
                samples[i][r] = sw.Elapsed.TotalSeconds / batch[i];
            }
        return samples.Select(Median).ToArray();
    }

    /// <summary>
    /// <see cref="Compare"/> of <paramref name="simd"/> on <see cref="Parallelism.Threads"/> threads, <paramref name="simd"/>
    /// on one thread and <paramref name="reference"/>: seconds per call in that order.
    /// </summary>
    public static double[] CompareThreads(double budget, Action simd, Action reference)
    {
        return Compare(budget, simd, () => { using var _ = Parallelism.Limit(1); simd(); }, reference);
    }

    /// <summary>The upper median: element n / 2 of the values sorted (a sorted copy).</summary>
    public static double Median(IEnumerable<double> values)
    {
        var a = values.ToArray();
        Array.Sort(a);
        return a[a.Length / 2];
    }

    /// <summary>At least 3 calls and ~0.1 s; returns seconds per call of the last ones.</summary>
    static double WarmUp(Action action)
    {
        var sw = Stopwatch.StartNew();
        int calls = 0;
        double last = 0;
        while (calls < 3 || (sw.Elapsed.TotalSeconds < 0.1 && calls < 10_000))
        {
            long t0 = Stopwatch.GetTimestamp();
            action();
            last = Stopwatch.GetElapsedTime(t0).TotalSeconds;
            calls++;
        }
        return last;
    }

    /// <summary>One timed call after one warm-up call: for slow reference kernels at large shapes.</summary>
    public static double TimeOnce(Action action)
    {
        action();
        var sw = Stopwatch.StartNew();
        action();
        return sw.Elapsed.TotalSeconds;
    }

    /// <summary>At most 40 characters for a model column: longer strings keep their end after an ellipsis.</summary>
    /// <summary>Median seconds per call of each variant, run round-robin after a warm-up call of each.</summary>
    public static double[] RoundRobin(int reps, params Action[] variants)
    {
        foreach (var v in variants) v();
        var samples = variants.Select(_ => new List<double>()).ToArray();
        for (int r = 0; r < reps; r++)
            for (int i = 0; i < variants.Length; i++)
            {
                var sw = Stopwatch.StartNew();
                variants[i]();
                samples[i].Add(sw.Elapsed.TotalSeconds);
            }
        return samples.Select(Median).ToArray();
    }

    /// <summary>This process's resident set (VmRSS), bytes.</summary>
    public static long Rss()
    {
        foreach (var line in File.ReadLines("/proc/self/status"))
            if (line.StartsWith("VmRSS:")) return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]) * 1024;
        return 0;
    }

    public static string Trim(string s) => s.Length <= 40 ? s : "…" + s[^39..];

    public static string Ms(double seconds) => double.IsNaN(seconds) ? "-" : (seconds * 1e3).ToString(seconds < 1e-4 ? "F4" : "F3");
    public static string Rate(double units, double seconds) => double.IsNaN(seconds) ? "-" : (units / seconds / 1e9).ToString("F1");
    public static string Ratio(double a, double b) => double.IsNaN(a) || double.IsNaN(b) ? "-" : (a / b).ToString("F1") + "x";
}
