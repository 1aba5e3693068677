using System.Diagnostics;

namespace Palu.Bench;

/// <summary>
/// A small Stopwatch harness: warm up first (tiered JIT promotes hot methods only after some calls, so the first
/// iterations are discarded), then time batches of calls and report the median seconds per call.
/// </summary>
public static class Harness
{
    /// <summary>Median seconds per call of <paramref name="action"/>.</summary>
    /// <param name="budget">Rough wall-clock seconds to spend measuring (after warm-up).</param>
    public static double Time(Action action, double budget = 0.3, double warmup = 0.15)
    {
        // Warm-up: at least 3 calls and ~warmup seconds, and learn the cost of one call.
        var sw = Stopwatch.StartNew();
        int calls = 0;
        while (calls < 3 || (sw.Elapsed.TotalSeconds < warmup && calls < 1000)) { action(); calls++; }
        double perCall = sw.Elapsed.TotalSeconds / calls;

        // Batches of ≥ 1 ms so that the timer resolution does not matter; at least 5 batches when time allows.
        int batch = (int)Math.Clamp(1e-3 / Math.Max(perCall, 1e-9), 1, 1_000_000);
        int batches = (int)Math.Clamp(budget / (perCall * batch), 3, 200);
        var samples = new double[batches];
        for (int b = 0; b < batches; b++)
        {
            sw.Restart();
            for (int i = 0; i < batch; i++) action();
            samples[b] = sw.Elapsed.TotalSeconds / batch;
        }
        Array.Sort(samples);
        return samples[batches / 2];
    }

    /// <summary>One timed call after one warm-up call: for slow reference kernels at large shapes.</summary>
    public static double TimeOnce(Action action)
    {
        action();
        var sw = Stopwatch.StartNew();
        action();
        return sw.Elapsed.TotalSeconds;
    }

    public static string Ms(double seconds) => double.IsNaN(seconds) ? "-" : (seconds * 1e3).ToString(seconds < 1e-4 ? "F4" : "F3");
    public static string Rate(double units, double seconds) => double.IsNaN(seconds) ? "-" : (units / seconds / 1e9).ToString("F1");
    public static string Ratio(double a, double b) => double.IsNaN(a) || double.IsNaN(b) ? "-" : (a / b).ToString("F1") + "x";
}
