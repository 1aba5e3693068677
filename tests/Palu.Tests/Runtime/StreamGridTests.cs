using Palu.Runtime.Cuda;

namespace Palu.Tests.Runtime;

/// <summary>The streamed GEMV's grid (host logic, no GPU): block b walks the row groups b, b + grid, ...</summary>
public class StreamGridTests
{
    /// <summary>Groups each block walks, for a grid of <paramref name="grid"/> blocks.</summary>
    static int[] Walks(int groups, int grid) =>
        Enumerable.Range(0, grid).Select(b => (groups - b + grid - 1) / grid).ToArray();

    [Theory]
    [InlineData(5504, 528)]   // 7B gate/up, R = 4, 132 SMs × 4
    [InlineData(3072, 528)]   // 7B Q/K/V
    [InlineData(1024, 528)]   // 7B output and down projections
    [InlineData(8000, 528)]   // 32,000-row head
    [InlineData(529, 528)]
    [InlineData(100, 528)]
    [InlineData(12345, 77)]
    public void EvenGridKeepsTheLongestWalkAndLeavesFewerBlocksShort(int groups, int most)
    {
        int plain = CudaBackend.StreamGrid(groups, most, even: false), even = CudaBackend.StreamGrid(groups, most, even: true);
        Assert.Equal(Math.Min(groups, most), plain);
        Assert.InRange(even, 1, plain);
        var a = Walks(groups, plain);
        var b = Walks(groups, even);
        Assert.Equal(groups, a.Sum());
        Assert.Equal(groups, b.Sum());
        Assert.Equal(a.Max(), b.Max());   // the same longest walk: no block does more than before
        int k = b.Max();
        // blocks that walk fewer groups than the longest: fewer than k with the even grid
        Assert.True(b.Count(w => w < k) < k, $"{b.Count(w => w < k)} short blocks of {even}");
        Assert.True(b.Count(w => w < k) <= a.Count(w => w < a.Max()));
    }

    [Theory]
    [InlineData("split", 0, 0)]
    [InlineData("t4:4", 4, 4)]
    [InlineData("t1:32", 1, 32)]
    [InlineData("t2:3", 2, 3)]
    public void GemvKindsParse(string spec, int rows, int blocks) =>
        Assert.Equal((rows, blocks), CudaBackend.ParseGemv(spec));

    [Theory]
    [InlineData("")]
    [InlineData("t")]
    [InlineData("t3:4")]       // no gemvt3
    [InlineData("t4:0")]
    [InlineData("t4:33")]
    [InlineData("t4:4:6")]
    [InlineData("4:4")]
    [InlineData("p4:4")]
    [InlineData("x4:4")]
    public void BadGemvKindsAreRefusedByName(string spec)
    {
        var e = Assert.Throws<ArgumentException>(() => CudaBackend.ParseGemv(spec));
        Assert.Contains($"PALU_CUDA_GEMV={spec}", e.Message);
    }
}
