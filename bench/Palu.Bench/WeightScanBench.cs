using System.Diagnostics;
using Palu.IO;
using Palu.Models;

namespace Palu.Bench;

/// <summary>
/// What the load-time weight scan (NaN/Inf and dtype labels, <see cref="WeightCheck"/>) costs next to loading the
/// model without it: median of --reps runs each, side by side, and the scan's throughput.
/// usage: weight-scan --model DIR [--model DIR2 ...] [--reps 5]
/// </summary>
public static class WeightScanBench
{
    public static int Run(string[] argv)
    {
        var a = new Args(argv);
        int reps = a.Int("--reps", 5);
        foreach (var dir in a.All("--model"))
        {
            var load = new List<double>();
            var scan = new List<double>();
            var again = new List<double>();
            long bytes = 0;
            for (int r = 0; r < reps; r++)
            {
                var sw = Stopwatch.StartNew();
                using (CausalLM.Load(dir, new LoadOptions { CheckWeights = false })) load.Add(sw.Elapsed.TotalMilliseconds);
                using var md = ModelDirectory.Open(dir);
                bytes = md.TensorNames.Sum(n => md.Info(n).Length);
                sw.Restart();
                WeightCheck.ScanAll(md);
                scan.Add(sw.Elapsed.TotalMilliseconds);
                sw.Restart();
                WeightCheck.ScanAll(md);   // the pages are mapped now: the scan's own speed
                again.Add(sw.Elapsed.TotalMilliseconds);
            }
            double l = Median(load), s = Median(scan);
            Console.WriteLine($"{Path.GetFileName(dir.TrimEnd('/'))}: {bytes / 1048576.0:F1} MiB of weights; load without scan {l:F1} ms, scan {s:F1} ms " +
                $"({bytes / 1048576.0 / (s / 1000):F0} MiB/s; a second scan of the mapped pages {Median(again):F1} ms); scan / load = {s / l:F2} (median of {reps})");
        }
        return 0;
    }

    static double Median(List<double> v) { v.Sort(); return v[v.Count / 2]; }
}
