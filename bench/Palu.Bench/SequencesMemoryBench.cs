using System.Diagnostics;
using Palu.Models;

namespace Palu.Bench;

/// <summary>
/// Memory of N concurrent sequences: N sequences on one loaded model against N copies of the model with one sequence
/// each (what <c>--workers N</c> used to load). Each layout runs in a fresh child process: every sequence prefills
/// P random tokens (the N prefills run on N threads at once), then each decodes 8 tokens; then the process reads its
/// own memory: VmRSS, its anonymous part (RssAnon: caches, buffers, copied tensors) and file part (RssFile: the
/// memory-mapped weights, counted once per mapping), and Pss from smaps_rollup (shared pages divided among mappings).
/// usage: sequences-memory --model DIR [--model DIR2 ...] [--count 8] [--prompt 512]
/// </summary>
public static class SequencesMemoryBench
{
    public static int Run(string[] argv)
    {
        var a = new Args(argv);
        int N = a.Int("--count", 8), P = a.Int("--prompt", 512);
        if (a.Get("--child") is string child) return Child(child, a.Str("--layout", "shared"), N, P);
        Console.WriteLine($"{N} sequences × {P}-token prefill + 8 decode steps, each layout in a fresh process; MB = 10^6 B");
        Console.WriteLine($"{"model",-34} {"layout",-22} {"VmRSS MB",9} {"RssAnon MB",11} {"RssFile MB",11} {"Pss MB",8} {"KV MB",7}");
        string self = Environment.ProcessPath!, dll = typeof(SequencesMemoryBench).Assembly.Location;
        foreach (var dir in a.All("--model"))
            foreach (var layout in new[] { "shared", "copies" })
            {
                var psi = new ProcessStartInfo(self) { RedirectStandardOutput = true };
                if (!self.EndsWith("Palu.Bench")) psi.ArgumentList.Add(dll);
                foreach (var s in new[] { "sequences-memory", "--child", dir, "--layout", layout, "--count", N.ToString(), "--prompt", P.ToString() })
                    psi.ArgumentList.Add(s);
                using var p = Process.Start(psi)!;
                var f = p.StandardOutput.ReadToEnd().Trim().Split(' ').Select(long.Parse).ToArray();
                p.WaitForExit();
                string name = layout == "shared" ? $"{N} seqs, 1 model" : $"{N} models, 1 seq each";
                Console.WriteLine($"{Harness.Trim(dir),-34} {name,-22} {f[0] / 1e6,9:F1} {f[1] / 1e6,11:F1} {f[2] / 1e6,11:F1} {f[3] / 1e6,8:F1} {f[4] / 1e6,7:F1}");
            }
        return 0;
    }

    static int Child(string dir, string layout, int N, int P)
    {
        var models = layout == "shared" ? [CausalLM.Load(dir)] : Enumerable.Range(0, N).Select(_ => CausalLM.Load(dir)).ToList();
        var lms = Enumerable.Range(0, N).Select(i => models[layout == "shared" ? 0 : i]).ToArray();
        var seqs = lms.Select(lm => lm.NewSequence(P + 9)).ToArray();
        Parallel.For(0, N, new ParallelOptions { MaxDegreeOfParallelism = N }, i =>
        {
            var lm = lms[i];
            var rng = new Random(i);
            var hidden = new float[P * lm.Hidden];
            lm.Forward(Enumerable.Range(0, P).Select(_ => rng.Next(2, lm.Vocab)).ToArray(), seqs[i], hidden);
            for (int g = 0; g < 8; g++) lm.Forward([rng.Next(2, lm.Vocab)], seqs[i], hidden.AsSpan(0, lm.Hidden));
        });
        GC.Collect();
        var status = File.ReadAllLines("/proc/self/status");
        long Kb(string[] lines, string key) =>
            long.Parse(lines.First(l => l.StartsWith(key)).Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]) * 1024;
        long pss = Kb(File.ReadAllLines("/proc/self/smaps_rollup"), "Pss:");
        Console.WriteLine($"{Kb(status, "VmRSS:")} {Kb(status, "RssAnon:")} {Kb(status, "RssFile:")} {pss} {seqs.Sum(s => s.BytesAllocated)}");
        GC.KeepAlive(seqs);
        return 0;
    }
}
