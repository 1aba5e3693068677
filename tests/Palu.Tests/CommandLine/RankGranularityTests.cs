using Palu.Cli;
using Palu.IO;

namespace Palu.Tests.CommandLine;

/// <summary>Defaults and warnings that come from the model's shape (no model run).</summary>
public class RankGranularityTests
{
    static ModelConfig Config(string model) => ModelConfig.Load(Path.Combine(TestPaths.Model(model), "config.json"));

    [Theory]
    [InlineData(1, 1)] [InlineData(2, 2)] [InlineData(3, 3)] [InlineData(4, 4)] [InlineData(5, 1)] [InlineData(6, 3)]
    [InlineData(8, 4)] [InlineData(12, 4)] [InlineData(9, 3)] [InlineData(10, 2)] [InlineData(32, 4)]
    public void Default_group_size_is_the_largest_divisor_of_the_kv_heads_up_to_four(int kvHeads, int expected)
    {
        var c = Config("tiny") with { NumKvHeads = kvHeads, NumHeads = kvHeads };
        Assert.Equal(expected, RankGranularity.DefaultGroupSize(c));
    }

    [Fact]
    public void Achievable_ratios_are_rank_multiples_of_the_group_width()
    {
        Assert.Equal([0.125, 0.25, 0.375, 0.5, 0.625, 0.75, 0.875, 1], RankGranularity.Achievable(1, 64));   // tiny M-LRD: multiples of 8 of 64
        Assert.Equal([1.0], RankGranularity.Achievable(1, 8));                                               // stories260k M-LRD
        Assert.Equal(16, RankGranularity.Achievable(4, 128).Length);                                         // Llama G-LRD: 32 of 512
    }

    [Fact]
    public void Warning_only_beyond_one_rounding_step()
    {
        var tiny = Config("tiny");
        Assert.Null(RankGranularity.Warning(0.5, 0.5, tiny, 1, uniform: true));
        double step = RankGranularity.Step(tiny, 1);
        Assert.Equal(8.0 / (2 * 4 * 3 * 64), step);
        Assert.Null(RankGranularity.Warning(0.5, 0.5 + step, tiny, 1, uniform: false));
        Assert.Contains("fisher", RankGranularity.Warning(0.5, 0.5 + 2 * step, tiny, 1, uniform: false), StringComparison.OrdinalIgnoreCase);
        // groups of 3 heads: 0.3 × 192 = 57.6 → 56 (multiples of 8); 56/192 and 64/192 bracket the request
        Assert.Contains("Nearest achievable with --group-size 3: 0.2917 or 0.3333",
            RankGranularity.Warning(0.3, 56.0 / 192, tiny, 3, uniform: true));
    }
}
