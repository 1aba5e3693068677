using Palu.Kernels.Cpu;
using Palu.Tensors;

namespace Palu.Runtime.Cuda;

/// <summary>
/// Plans the one-row RoPEs and cache stores of a decode step as few rows_* launches (decode.cu): which of them become
/// one entry, and which entries may share a launch. Pure host logic (device addresses are plain numbers here), so the
/// ordering rules are tested without a GPU.
/// </summary>
internal static class DecodeRows
{
    /// <summary>Most entries of one launch (the size of RowTable).</summary>
    public const int Capacity = RowTable.Capacity;

    /// <summary>A queued rotation of heads × table.HeadDim floats at X, at position Start.</summary>
    public readonly record struct Rope(ulong X, int Heads, RopeTable Table, int Start)
    {
        public long Bytes => (long)Heads * Table.HeadDim * 4;
    }

    /// <summary>A queued store of heads × width floats read at Src into cache Dst ([heads, cap, width], dtype) at Start.</summary>
    public readonly record struct Store(ulong Src, int Heads, int Width, int Start, ulong Dst, DType DType, int Cap)
    {
        public long SrcBytes => (long)Heads * Width * 4;
        public long CacheBytes => (long)Heads * Cap * Width * DTypes.Size(DType);
    }

    /// <summary>One job: rotate (Table set) and/or store (Dst set) heads × width floats at X.</summary>
    public readonly record struct Entry(ulong X, int Heads, int Width, RopeTable? Table, int Start, ulong Dst, DType DType, int Cap)
    {
        public long Bytes => (long)Heads * Width * 4;
        /// <summary>rows_* flags: 1 rotate, 2 store.</summary>
        public int Flags => (Table != null ? 1 : 0) | (Dst != 0 ? 2 : 0);
    }

    /// <summary>The queued ropes and stores as entries: a store that reads exactly the rows a rope rotates, at the same
    /// position (a K row), becomes one rotate-and-store entry; the rest stay single. Rotations come first, so that a
    /// store reading rows a separate rotation writes lands in a later launch (<see cref="Groups"/> keeps them apart),
    /// as the queue's order wants (a rope queued after a store it overlaps has flushed the queue first).</summary>
    public static List<Entry> Entries(Rope[] ropes, Store[] stores)
    {
        var used = new bool[ropes.Length];
        var storing = new List<Entry>();
        foreach (var s in stores)
        {
            int r = Array.FindIndex(ropes, o => o.X == s.Src && o.Heads == s.Heads && o.Table.HeadDim == s.Width && o.Start == s.Start);
            if (r >= 0 && !used[r]) used[r] = true; else r = -1;
            storing.Add(new Entry(s.Src, s.Heads, s.Width, r >= 0 ? ropes[r].Table : null, s.Start, s.Dst, s.DType, s.Cap));
        }
        var entries = new List<Entry>();
        for (int i = 0; i < ropes.Length; i++)
            if (!used[i]) entries.Add(new Entry(ropes[i].X, ropes[i].Heads, ropes[i].Table.HeadDim, ropes[i].Table, ropes[i].Start, 0, DType.F32, 0));
        entries.AddRange(storing);
        return entries;
    }

    /// <summary>The entries as launches, run in list order, up to <see cref="Capacity"/> each: entries of one width whose
    /// stores share a cache dtype and whose ropes share a table, none rotating rows another reads or writes, no two
    /// storing at one place. Each entry then touches only its own rows, so within a launch their order does not
    /// matter; an entry goes after every launch holding one it clashes with.</summary>
    public static List<List<Entry>> Groups(List<Entry> entries)
    {
        var groups = new List<List<Entry>>();
        foreach (var e in entries)
        {
            int after = groups.FindLastIndex(g => g.Exists(o => Clash(o, e)));
            int at = groups.FindIndex(after + 1, g => g.Count < Capacity && g.TrueForAll(o => Compatible(o, e)));
            if (at >= 0) groups[at].Add(e); else groups.Add([e]);
        }
        return groups;
    }

    /// <summary>Two entries that may not run in one launch: one rotates rows the other touches, or both store at one place.</summary>
    public static bool Clash(Entry a, Entry b) =>
        ((a.Table != null || b.Table != null) && a.X < b.X + (ulong)b.Bytes && b.X < a.X + (ulong)a.Bytes)
        || (a.Dst != 0 && a.Dst == b.Dst && a.Start == b.Start);

    /// <summary>Two entries one rows_* kernel can run: one width, one cache dtype for stores, one RoPE table.</summary>
    static bool Compatible(Entry a, Entry b) =>
        a.Width == b.Width && (a.Dst == 0 || b.Dst == 0 || a.DType == b.DType) && (a.Table == null || b.Table == null || ReferenceEquals(a.Table, b.Table));
}
