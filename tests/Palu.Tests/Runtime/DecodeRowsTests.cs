using Palu.Kernels.Cpu;
using Palu.Runtime.Cuda;
using Palu.Tensors;
using static Palu.Runtime.Cuda.DecodeRows;

namespace Palu.Tests.Runtime;

/// <summary>The CUDA backend's plan for the one-row RoPEs and cache stores of a decode step (host logic, no GPU):
/// a K row is rotated and stored by one entry; entries that touch each other's rows never share a launch and keep
/// the queue's order; launches hold at most <see cref="DecodeRows.Capacity"/> entries of one width, dtype and table.</summary>
public class DecodeRowsTests
{
    static readonly RopeTable Table = new(128, 64, 10000.0);
    const int D = 128, H = 32;
    const long Row = (long)H * D * 4;   // bytes of one row of 32 heads

    /// <summary>One decode step of B sequences as the model queues it: Q rope, K rope, K store, V store per sequence.</summary>
    static (Rope[] Ropes, Store[] Stores) Step(int B, DType dtype = DType.BF16)
    {
        ulong q = 0x10000, k = 0x100000, v = 0x200000;
        var ropes = new List<Rope>();
        var stores = new List<Store>();
        for (int b = 0; b < B; b++)
        {
            ulong qb = q + (ulong)(b * Row), kb = k + (ulong)(b * Row), vb = v + (ulong)(b * Row);
            ropes.Add(new Rope(qb, H, Table, 10 + b));
            ropes.Add(new Rope(kb, H, Table, 10 + b));
            stores.Add(new Store(kb, H, D, 10 + b, 0x1000000 + (ulong)b * 0x100000, dtype, 64));
            stores.Add(new Store(vb, H, D, 10 + b, 0x8000000 + (ulong)b * 0x100000, dtype, 64));
        }
        return (ropes.ToArray(), stores.ToArray());
    }

    [Fact]
    public void OneSequenceIsOneLaunchWithKRotatedAndStoredByOneEntry()
    {
        var (ropes, stores) = Step(1);
        var entries = Entries(ropes, stores);
        Assert.Equal(3, entries.Count);
        Assert.Equal([1, 3, 2], entries.Select(e => e.Flags));        // Q rotated; K rotated and stored; V stored
        Assert.Single(Groups(entries));
    }

    [Fact]
    public void EightSequencesAreOneLaunchOf24Entries()
    {
        var (ropes, stores) = Step(8);
        var groups = Groups(Entries(ropes, stores));
        Assert.Single(groups);
        Assert.Equal(24, groups[0].Count);
        Assert.Equal(2, Groups(Entries(Step(9).Ropes, Step(9).Stores)).Count);   // 27 entries: over the capacity
    }

    [Fact]
    public void AStoreOfRowsASeparateRopeRotatesRunsInALaterLaunch()
    {
        // the store reads half of the rows the rope rotates (not the same rows: no fused entry)
        var ropes = new[] { new Rope(0x1000, H, Table, 5) };
        var stores = new[] { new Store(0x1000 + 16 * D * 4, 16, D, 5, 0x900000, DType.BF16, 64) };
        var groups = Groups(Entries(ropes, stores));
        Assert.Equal(2, groups.Count);
        Assert.Equal(1, groups[0].Single().Flags);   // the rotation first
        Assert.Equal(2, groups[1].Single().Flags);   // then the store sees rotated rows
    }

    [Fact]
    public void AnEntryNeverJumpsAheadOfALaunchItClashesWith()
    {
        var other = new RopeTable(128, 64, 500000.0);
        // rope A (table 1) fills launch 0; rope B (table 2) cannot join it; a store over B's rows may not join launch 0
        // (it would run before B's rotation), although launch 0 has room and fits its width and dtype
        var ropes = new[] { new Rope(0x1000, H, Table, 5), new Rope(0x100000, H, other, 5) };
        var stores = new[] { new Store(0x100000 + 8 * D * 4, 8, D, 5, 0x900000, DType.BF16, 64) };
        var groups = Groups(Entries(ropes, stores));
        int ropeB = groups.FindIndex(g => g.Exists(e => e.X == 0x100000));
        int store = groups.FindIndex(g => g.Exists(e => e.Dst == 0x900000));
        Assert.True(store > ropeB, $"store in launch {store}, the rotation of its rows in launch {ropeB}");
    }

    [Fact]
    public void LaunchesHoldOneWidthOneDTypeOneTableAndNoTwoStoresAtOnePlace()
    {
        var (ropes, stores) = Step(2);
        var more = stores.Concat([
            new Store(0x3000000, 4, 256, 3, 0x4000000, DType.BF16, 64),      // another width
            new Store(0x3100000, H, D, 3, 0x5000000, DType.F16, 64),         // another dtype
            new Store(0x3200000, H, D, 11, 0x1100000, DType.BF16, 64),       // same cache and position as sequence 1's K
        ]).ToArray();
        var groups = Groups(Entries(ropes, more));
        foreach (var g in groups)
        {
            Assert.Single(g.Select(e => e.Width).Distinct());
            Assert.True(g.Where(e => e.Dst != 0).Select(e => e.DType).Distinct().Count() <= 1);
            Assert.True(g.Where(e => e.Table != null).Select(e => e.Table).Distinct().Count() <= 1);
            Assert.Equal(g.Count(e => e.Dst != 0), g.Where(e => e.Dst != 0).Select(e => (e.Dst, e.Start)).Distinct().Count());
            for (int i = 0; i < g.Count; i++)
                for (int j = i + 1; j < g.Count; j++) Assert.False(Clash(g[i], g[j]));
        }
        Assert.Equal(ropes.Length / 2 + stores.Length + 3, groups.Sum(g => g.Count));   // every job planned once
    }
}
