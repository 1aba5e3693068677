// Prefill of many sequences in one launch per op (appended after flash.cu): a batched step (zero-shot scoring packs
// ~50 sequences of ~80 rows) would otherwise launch a RoPE, a cache store and a flash attention per sequence and
// layer. The backend queues those calls and runs each kind as one launch over a SeqRows table passed by value.
//
// SeqRows: up to 64 sequences b < n; pre[b] is the prefix of the work units before b (rows for RoPE and stores, query
// tiles of 64 for attention; pre[n] = their total), so a unit i belongs to the b with pre[b] <= i < pre[b + 1].
//   RoPE:      p0 = x [T, heads, d] (f32, rotated in place), t / start = rows and first position
//   store:     p0 = src rows (column applied, rows rowStride apart), p1 = the cache [heads, cap, width] (DT)
//   attention: p0 = q [T, H, D] f32, p1 = out [T, H, D], p2 / p3 = the K / V caches [Hkv, cap, D] bf16
struct SeqRows { unsigned long long p0[64], p1[64], p2[64], p3[64]; int pre[65]; int t[64]; int start[64]; int cap[64]; };

__device__ __forceinline__ int seq_of(const SeqRows& s, int n, int i)
{
    int b = 0;
    while (b + 1 < n && s.pre[b + 1] <= i) b++;
    return b;
}

// a warp per (row, head) over every sequence's rows
extern "C" __global__ void rope_seqs(const float* cs, const float* sn, int heads, int d, int n, const int* shift, SeqRows s)
{ PALU_GRID_START
    int w = blockIdx.x * 8 + (threadIdx.x >> 5), r = w / heads, h = w - r * heads;
    if (r >= s.pre[n]) return;
    int b = seq_of(s, n, r), t = r - s.pre[b];
    rope_warp((float*)s.p0[b] + ((long)t * heads + h) * d, cs, sn, s.start[b] + *shift + t, d, threadIdx.x & 31);
}

// a warp per (row, head): cache rows [start, start + t) of each sequence; width % 4 == 0, sources 16-byte aligned
template <int DT> __device__ void store_seqs(int rowStride, int heads, int width, int n, const int* shift, const SeqRows& s)
{
    int w = blockIdx.x * 8 + (threadIdx.x >> 5), r = w / heads, h = w - r * heads;
    if (r >= s.pre[n]) return;
    int b = seq_of(s, n, r), t = r - s.pre[b];
    store_warp4<DT>((const float*)s.p0[b] + (long)t * rowStride + (long)h * width, (void*)s.p1[b],
        ((long)h * s.cap[b] + s.start[b] + *shift + t) * width, width, threadIdx.x & 31);
}
extern "C" __global__ void store_seqs_f32(int rs, int h, int w, int n, const int* sh, SeqRows s) { PALU_GRID_START store_seqs<0>(rs, h, w, n, sh, s); }
extern "C" __global__ void store_seqs_bf16(int rs, int h, int w, int n, const int* sh, SeqRows s) { PALU_GRID_START store_seqs<1>(rs, h, w, n, sh, s); }
extern "C" __global__ void store_seqs_f16(int rs, int h, int w, int n, const int* sh, SeqRows s) { PALU_GRID_START store_seqs<2>(rs, h, w, n, sh, s); }

// flash_prefill per (query tile, head) of every sequence (grid: total tiles × H; the last sequences' last tiles first)
template <int D> __device__ void flash_seqs(int H, int Hkv, int window, float scale, int n, const SeqRows& s)
{
    int i = gridDim.x - 1 - blockIdx.x, b = seq_of(s, n, i);
    flash_prefill<D>((const float*)s.p0[b], (const u16*)s.p2[b], (const u16*)s.p3[b], (float*)s.p1[b],
        s.t[b], s.start[b], H, Hkv, s.cap[b], window, scale, i - s.pre[b]);
}
extern "C" __global__ void flash_seqs32_bf16(int H, int Hkv, int win, float sc, int n, SeqRows s) { PALU_GRID_START flash_seqs<32>(H, Hkv, win, sc, n, s); }
extern "C" __global__ void flash_seqs64_bf16(int H, int Hkv, int win, float sc, int n, SeqRows s) { PALU_GRID_START flash_seqs<64>(H, Hkv, win, sc, n, s); }
extern "C" __global__ void flash_seqs128_bf16(int H, int Hkv, int win, float sc, int n, SeqRows s) { PALU_GRID_START flash_seqs<128>(H, Hkv, win, sc, n, s); }
