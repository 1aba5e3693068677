using System.Collections.Concurrent;

namespace Palu.Text;

/// <summary>
/// HF <c>model</c> of type BPE: turns one pre-tokenized piece ("word") into ids.
/// <list type="number">
/// <item><c>ignore_merges</c>: a word that is itself in the vocab is one token.</item>
/// <item>Each character (with <c>continuing_subword_prefix</c> on all but the first and <c>end_of_word_suffix</c> on
/// the last) becomes its vocab id; a character missing from the vocab becomes its UTF-8 bytes as &lt;0xNN&gt; tokens
/// (<c>byte_fallback</c>), else <c>unk_token</c> (runs of unknowns fused into one with <c>fuse_unk</c>), else is dropped.</item>
/// <item>Merges: repeatedly merge the adjacent pair with the lowest merge rank, leftmost first, using a priority queue
/// over a linked list of symbols (O(n log n), not O(n²), for long words).</item>
/// </list>
/// Results are cached per word (words shorter than 256 chars), as HF does. Thread-safe.
/// </summary>
internal sealed class BpeModel
{
    private const int CacheCapacity = 100_000;
    private const int MaxCachedWordLength = 256;

    private readonly Dictionary<string, int> _vocab;
    private readonly Dictionary<string, int>.AlternateLookup<ReadOnlySpan<char>> _vocabBySpan;
    private readonly Dictionary<long, long> _merges; // (left id << 32 | right id) → (rank << 32 | merged id)
    private readonly int[] _singleCharIds;           // BMP char → id of the one-char token, or -1
    private readonly int[] _byteFallbackIds;         // byte → id of "<0xNN>", or -1
    private readonly int? _unkId;
    private readonly ConcurrentDictionary<string, int[]> _cache = new(Environment.ProcessorCount, 4096, StringComparer.Ordinal);
    private int _cacheCount;

    public string? ContinuingSubwordPrefix { get; }
    public string? EndOfWordSuffix { get; }
    public bool ByteFallback { get; }
    public bool FuseUnk { get; }
    public bool IgnoreMerges { get; }
    /// <summary>The vocab turned around: id → token, null for ids no token has (length: largest id + 1).</summary>
    public string?[] TokensById { get; }

    /// <summary>
    /// Builds the model from the vocab and the merges as (left id, right id) pairs in rank order (see
    /// <see cref="MergeIds"/>). Throws <see cref="FormatException"/> naming a merge whose result is not in the vocab,
    /// or an unk token that is not.
    /// </summary>
    public BpeModel(Dictionary<string, int> vocab, IReadOnlyList<(int Left, int Right)> merges, string? unkToken,
        string? continuingSubwordPrefix, string? endOfWordSuffix, bool fuseUnk, bool byteFallback, bool ignoreMerges)
    {
        _vocab = vocab;
        _vocabBySpan = vocab.GetAlternateLookup<ReadOnlySpan<char>>();
        ContinuingSubwordPrefix = string.IsNullOrEmpty(continuingSubwordPrefix) ? null : continuingSubwordPrefix;
        EndOfWordSuffix = string.IsNullOrEmpty(endOfWordSuffix) ? null : endOfWordSuffix;
        FuseUnk = fuseUnk;
        ByteFallback = byteFallback;
        IgnoreMerges = ignoreMerges;
        if (unkToken is not null)
        {
            if (!vocab.TryGetValue(unkToken, out int unk))
                throw new FormatException($"unk_token \"{unkToken}\" is not in the vocab");
            _unkId = unk;
        }

        int maxId = -1;
        foreach (int id in vocab.Values) maxId = Math.Max(maxId, id);
        var idToToken = new string?[maxId + 1];
        _singleCharIds = new int[65536];
        Array.Fill(_singleCharIds, -1);
        _byteFallbackIds = new int[256];
        Array.Fill(_byteFallbackIds, -1);
        foreach (var (token, id) in vocab)
        {
            idToToken[id] = token;
            if (token.Length == 1) _singleCharIds[token[0]] = id;
            else if (ByteFallbackDecoder.ByteOf(token) is var b and >= 0 && token == $"<0x{b:X2}>") // upper-case hex only
                _byteFallbackIds[b] = id;
        }

        TokensById = idToToken;
        _merges = BuildMergeTable(merges, idToToken);
    }

    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    private Dictionary<long, long> BuildMergeTable(IReadOnlyList<(int Left, int Right)> merges, string?[] idToToken)
    {
        int prefixLength = ContinuingSubwordPrefix?.Length ?? 0;
        var table = new Dictionary<long, long>(merges.Count, PairComparer.Instance);
        Span<char> buffer = stackalloc char[256];
        for (int rank = 0; rank < merges.Count; rank++)
        {
            var (leftId, rightId) = merges[rank];
            string left = idToToken[leftId]!, right = idToToken[rightId]!; // ids from the vocab
            // HF: merged token = left + right without the continuing-subword prefix.
            ReadOnlySpan<char> rightPart = prefixLength > 0 && right.StartsWith(ContinuingSubwordPrefix!, StringComparison.Ordinal)
                ? right.AsSpan(prefixLength) : right.AsSpan();
            int length = left.Length + rightPart.Length;
            Span<char> merged = length <= buffer.Length ? buffer[..length] : new char[length];
            left.AsSpan().CopyTo(merged);
            rightPart.CopyTo(merged[left.Length..]);
            if (!_vocabBySpan.TryGetValue(merged, out int mergedId))
                throw new FormatException($"merge {rank} (\"{left} {right}\"): \"{merged}\" is not in the vocab");
            table[((long)leftId << 32) | (uint)rightId] = ((long)rank << 32) | (uint)mergedId;
        }
        return table;
    }

    /// <summary>The ids of a merge's two tokens. Throws <see cref="FormatException"/> naming a token not in the vocab.</summary>
    public static (int Left, int Right) MergeIds(Dictionary<string, int>.AlternateLookup<ReadOnlySpan<char>> vocab,
        ReadOnlySpan<char> left, ReadOnlySpan<char> right, int rank)
    {
        if (!vocab.TryGetValue(left, out int l))
            throw new FormatException($"merge {rank} (\"{left} {right}\"): \"{left}\" is not in the vocab");
        if (!vocab.TryGetValue(right, out int r))
            throw new FormatException($"merge {rank} (\"{left} {right}\"): \"{right}\" is not in the vocab");
        return (l, r);
    }

    public int? TokenToId(string token) => _vocab.TryGetValue(token, out int id) ? id : null;

    /// <summary>Appends the ids of one pre-tokenized word.</summary>
    public void Encode(string word, List<int> output)
    {
        if (word.Length == 0) return;
        if (IgnoreMerges && _vocab.TryGetValue(word, out int whole))
        {
            output.Add(whole);
            return;
        }
        if (_cache.TryGetValue(word, out var cached))
        {
            output.AddRange(cached);
            return;
        }
        int[] ids = MergeWord(word);
        output.AddRange(ids);
        if (word.Length < MaxCachedWordLength && _cacheCount < CacheCapacity && _cache.TryAdd(word, ids))
            Interlocked.Increment(ref _cacheCount);
    }

    // Symbols form a doubly linked list in arrays; a merged-away symbol gets Length 0.
    private struct Symbol
    {
        public int Id, Prev, Next, Length;
    }

    // Per-thread scratch space, so merging a word allocates only its result.
    [ThreadStatic] private static List<Symbol>? t_symbols;
    [ThreadStatic] private static MergeQueue? t_queue;

    private int[] MergeWord(string word)
    {
        var symbols = t_symbols ??= new List<Symbol>(64);
        var queue = t_queue ??= new MergeQueue();
        symbols.Clear();
        queue.Clear();
        int pendingUnkLength = 0; // > 0 while an unk (possibly fused) waits to be added
        for (int i = 0; i < word.Length; i++)
        {
            int width = char.IsSurrogatePair(word, i) ? 2 : 1;
            bool isFirst = i == 0, isLast = i + width == word.Length;
            int id = LookupChar(word.AsSpan(i, width), isFirst, isLast);
            if (id >= 0)
            {
                FlushUnk(symbols, ref pendingUnkLength);
                AddSymbol(symbols, id, width);
            }
            else if (ByteFallback && TryAddBytes(word.AsSpan(i, width), isFirst, isLast, symbols, ref pendingUnkLength)) { }
            else if (_unkId is not null)
            {
                if (pendingUnkLength > 0 && !FuseUnk) FlushUnk(symbols, ref pendingUnkLength);
                pendingUnkLength += width;
            }
            i += width - 1;
        }
        FlushUnk(symbols, ref pendingUnkLength);
        MergeAll(symbols, queue);

        int count = 0;
        foreach (var sym in symbols) if (sym.Length > 0) count++;
        var ids = new int[count];
        count = 0;
        foreach (var sym in symbols) if (sym.Length > 0) ids[count++] = sym.Id;
        if (symbols.Capacity > 4096) t_symbols = null; // do not keep huge buffers alive
        return ids;
    }

    private int LookupChar(ReadOnlySpan<char> ch, bool isFirst, bool isLast)
    {
        string? prefix = isFirst ? null : ContinuingSubwordPrefix;
        string? suffix = isLast ? EndOfWordSuffix : null;
        if (prefix is null && suffix is null && ch.Length == 1) return _singleCharIds[ch[0]];
        Span<char> buffer = stackalloc char[64];
        return _vocabBySpan.TryGetValue(Concat(prefix, ch, suffix, buffer), out int id) ? id : -1;
    }

    // HF byte fallback: the UTF-8 bytes of the (prefixed/suffixed) character, each as <0xNN>, if all exist.
    private bool TryAddBytes(ReadOnlySpan<char> ch, bool isFirst, bool isLast, List<Symbol> symbols, ref int pendingUnkLength)
    {
        Span<char> buffer = stackalloc char[64];
        var s = Concat(isFirst ? null : ContinuingSubwordPrefix, ch, isLast ? EndOfWordSuffix : null, buffer);
        int maxBytes = System.Text.Encoding.UTF8.GetMaxByteCount(s.Length);
        Span<byte> utf8 = maxBytes <= 256 ? stackalloc byte[256] : new byte[maxBytes];
        var bytes = utf8[..System.Text.Encoding.UTF8.GetBytes(s, utf8)];
        foreach (byte b in bytes)
            if (_byteFallbackIds[b] < 0) return false;
        FlushUnk(symbols, ref pendingUnkLength);
        foreach (byte b in bytes) AddSymbol(symbols, _byteFallbackIds[b], 1);
        return true;
    }

    // prefix + ch + suffix, in buffer when it fits.
    private static ReadOnlySpan<char> Concat(string? prefix, ReadOnlySpan<char> ch, string? suffix, Span<char> buffer)
    {
        int length = (prefix?.Length ?? 0) + ch.Length + (suffix?.Length ?? 0);
        Span<char> s = length <= buffer.Length ? buffer[..length] : new char[length];
        prefix.AsSpan().CopyTo(s);
        ch.CopyTo(s[(prefix?.Length ?? 0)..]);
        suffix.AsSpan().CopyTo(s[(length - (suffix?.Length ?? 0))..]);
        return s;
    }

    private void FlushUnk(List<Symbol> symbols, ref int pendingUnkLength)
    {
        if (pendingUnkLength == 0) return;
        AddSymbol(symbols, _unkId!.Value, pendingUnkLength);
        pendingUnkLength = 0;
    }

    private static void AddSymbol(List<Symbol> symbols, int id, int length)
    {
        int index = symbols.Count;
        symbols.Add(new Symbol { Id = id, Prev = index - 1, Next = -1, Length = length });
        if (index > 0)
        {
            var prev = symbols[index - 1];
            prev.Next = index;
            symbols[index - 1] = prev;
        }
    }

    /// <summary>
    /// Hash for (left id &lt;&lt; 32 | right id) keys. long's own hash (left ^ right) puts most of a 150k-merge
    /// table into a few hundred thousand crowded buckets; a multiplicative hash spreads them.
    /// </summary>
    private sealed class PairComparer : IEqualityComparer<long>
    {
        public static readonly PairComparer Instance = new();
        public bool Equals(long x, long y) => x == y;
        public int GetHashCode(long key) => (int)(((ulong)key * 0x9E3779B97F4A7C15UL) >> 32);
    }

    /// <summary>
    /// Binary min-heap of candidate merges keyed by (rank, position): the lowest rank wins and ties go to the
    /// leftmost pair, as in HF's merge loop. Each entry also carries the id the merge produces.
    /// </summary>
    private sealed class MergeQueue
    {
        private long[] _keys = new long[64];
        private int[] _mergedIds = new int[64];
        private int _count;

        public void Clear() => _count = 0;

        public void Push(int rank, int pos, int mergedId)
        {
            if (_count == _keys.Length)
            {
                Array.Resize(ref _keys, _count * 2);
                Array.Resize(ref _mergedIds, _count * 2);
            }
            long key = ((long)rank << 32) | (uint)pos;
            int i = _count++;
            while (i > 0)
            {
                int parent = (i - 1) >> 1;
                if (_keys[parent] <= key) break;
                _keys[i] = _keys[parent];
                _mergedIds[i] = _mergedIds[parent];
                i = parent;
            }
            _keys[i] = key;
            _mergedIds[i] = mergedId;
        }

        public bool TryPop(out int pos, out int mergedId)
        {
            if (_count == 0)
            {
                pos = mergedId = 0;
                return false;
            }
            pos = (int)_keys[0];
            mergedId = _mergedIds[0];
            long key = _keys[--_count];
            int id = _mergedIds[_count];
            int i = 0;
            while (true)
            {
                int child = 2 * i + 1;
                if (child >= _count) break;
                if (child + 1 < _count && _keys[child + 1] < _keys[child]) child++;
                if (key <= _keys[child]) break;
                _keys[i] = _keys[child];
                _mergedIds[i] = _mergedIds[child];
                i = child;
            }
            _keys[i] = key;
            _mergedIds[i] = id;
            return true;
        }
    }

    private void MergeAll(List<Symbol> list, MergeQueue queue)
    {
        if (list.Count < 2) return;
        var symbols = System.Runtime.InteropServices.CollectionsMarshal.AsSpan(list);
        for (int i = 0; i + 1 < symbols.Length; i++) Enqueue(queue, symbols, i, i + 1);

        while (queue.TryPop(out int pos, out int mergedId))
        {
            ref var left = ref symbols[pos];
            if (left.Length == 0 || left.Next < 0) continue;
            ref var right = ref symbols[left.Next];
            // Skip entries made stale by an earlier merge: the pair here must still produce the same token.
            if (!_merges.TryGetValue(((long)left.Id << 32) | (uint)right.Id, out long merge) || (int)merge != mergedId)
                continue;

            left.Id = mergedId;
            left.Length += right.Length;
            left.Next = right.Next;
            right.Length = 0;
            if (left.Next >= 0) symbols[left.Next].Prev = pos;

            if (left.Prev >= 0) Enqueue(queue, symbols, left.Prev, pos);
            if (left.Next >= 0) Enqueue(queue, symbols, pos, left.Next);
        }
    }

    private void Enqueue(MergeQueue queue, Span<Symbol> symbols, int leftPos, int rightPos)
    {
        if (_merges.TryGetValue(((long)symbols[leftPos].Id << 32) | (uint)symbols[rightPos].Id, out long merge))
            queue.Push((int)(merge >> 32), leftPos, (int)merge);
    }
}
