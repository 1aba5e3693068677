using Palu.Generation;
using Palu.Models;
using Palu.Runtime.Cuda;
using Palu.Tests;
using Xunit;

namespace Palu.GpuTests;

/// <summary>
/// Recorded decode steps (CUDA graphs, replayed with moved positions and new ids) against the same steps launched one
/// kernel at a time: the same logits up to summation order, for one sequence and for a batch, across the point where
/// the recorded attention grid has to grow (1024 keys). Skips where no NVIDIA GPU is present.
/// </summary>
public class CudaGraphTests(ITestOutputHelper output)
{
    static readonly string? Missing = CudaBackend.Unavailable();

    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    public void RecordedStepsMatchEagerSteps(int batch)
    {
        Assert.SkipWhen(Missing != null, $"no CUDA GPU: {Missing}");
        var gpu = CudaBackend.Instance;
        using var lm = CausalLM.Load(TestPaths.Model("tiny"), new LoadOptions { Backend = gpu });
        const int prompt = 1000, steps = 40;
        float[] Run(bool graphs)
        {
            gpu.UseGraphs = graphs;
            var seqs = Enumerable.Range(0, batch).Select(_ => lm.NewSequence(prompt + steps)).ToArray();
            try
            {
                int d = lm.Hidden, V = lm.Vocab;
                for (int b = 0; b < batch; b++)
                {
                    var ids = Enumerable.Range(0, prompt - b).Select(i => 3 + (i * 7 + b) % (V - 3)).ToArray();
                    lm.Forward(ids, seqs[b], new float[ids.Length * d]);
                }
                using var ws = lm.NewWorkspace();
                var logits = new float[steps * batch * V];
                var hidden = new float[batch * d];
                for (int s = 0; s < steps; s++)
                {
                    var next = Enumerable.Range(0, batch).Select(b => 5 + (s * 13 + b * 3) % (V - 5)).ToArray();
                    if (batch == 1) lm.Forward(next, seqs[0], hidden);
                    else lm.DecodeBatch(next, seqs, hidden, ws);
                    lm.Logits(hidden, logits.AsSpan(s * batch * V, batch * V), batch);
                }
                return logits;
            }
            finally
            {
                gpu.UseGraphs = true;
                foreach (var s in seqs) s.Dispose();
            }
        }
        var eager = Run(false);
        var recorded = Run(true);
        int V = lm.Vocab, rows = eager.Length / V, agree = 0;
        double worst = 0;
        for (int r = 0; r < rows; r++)
        {
            var a = eager.AsSpan(r * V, V);
            var b = recorded.AsSpan(r * V, V);
            float maxAbs = 0, maxDiff = 0;
            for (int v = 0; v < V; v++) { maxAbs = Math.Max(maxAbs, Math.Abs(a[v])); maxDiff = Math.Max(maxDiff, Math.Abs(a[v] - b[v])); }
            worst = Math.Max(worst, maxDiff / maxAbs);
            agree += Sampler.ArgMax(a) == Sampler.ArgMax(b) ? 1 : 0;
        }
        output.WriteLine($"batch {batch}: argmax equal at {agree}/{rows} rows, worst max|Δ|/max|eager| {worst:E2}");
        Assert.True(worst < 1e-3, $"recorded steps differ from eager ones by {worst:E2}");
        Assert.Equal(rows, agree);
    }
}
