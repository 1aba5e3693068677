using System.Diagnostics;
using Palu.Models;

namespace Palu.Bench;

/// <summary>
/// KV-cache memory after a prefill of N tokens (default 1,024). Each model is measured in a fresh child process, so
/// no earlier allocation can be reused: resident-set growth (VmRSS) when the cache for N positions is created (its
/// buffers are zero-filled, so every page is touched) and after the N-token prefill, beside the bytes the cache's
/// buffers hold. usage: kv-memory --model DIR [--model DIR2 ...] [--tokens 1024]
/// </summary>
public static class KvMemoryBench
{
    public static int Run(string[] argv)
    {
        var a = new Args(argv);
        int N = a.Int("--tokens", 1024);
        if (a.Get("--child") is string child) return Child(child, N);
        var models = a.All("--model");
        Console.WriteLine($"KV cache after a {N}-token prefill, each model in a fresh process");
        Console.WriteLine($"{"model",-40} {"cache buffers B",16} {"B/token",9} {"RSS on create",14} {"RSS after prefill",18}");
        string self = Environment.ProcessPath!, dll = typeof(KvMemoryBench).Assembly.Location;
        foreach (var dir in models)
        {
            var psi = new ProcessStartInfo(self) { RedirectStandardOutput = true };
            if (!self.EndsWith("Palu.Bench")) psi.ArgumentList.Add(dll);
            foreach (var s in new[] { "kv-memory", "--child", dir, "--tokens", N.ToString() }) psi.ArgumentList.Add(s);
            using var p = Process.Start(psi)!;
            var f = p.StandardOutput.ReadToEnd().Trim().Split(' ');
            p.WaitForExit();
            Console.WriteLine($"{Harness.Trim(dir),-40} {long.Parse(f[0]),16:N0} {long.Parse(f[1]),9:N0} {long.Parse(f[2]),14:N0} {long.Parse(f[3]),18:N0}");
        }
        return 0;
    }

    static int Child(string dir, int N)
    {
        using var lm = CausalLM.Load(dir);
        var rng = new Random(3);
        var ids = Enumerable.Range(0, N).Select(_ => rng.Next(2, lm.Vocab)).ToArray();
        var hidden = new float[N * lm.Hidden];
        GC.Collect();
        long r0 = Harness.Rss();
        using var cache = lm.NewSequence(N);
        long r1 = Harness.Rss();
        lm.Forward(ids, cache, hidden);
        long r2 = Harness.Rss();
        Console.WriteLine($"{cache.BytesAllocated} {cache.BytesPerToken} {r1 - r0} {r2 - r0}");
        return 0;
    }
}
