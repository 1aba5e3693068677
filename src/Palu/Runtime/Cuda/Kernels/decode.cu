// Decode kernels (appended to palu.cu by the backend, so its helpers are in scope): the bf16 matrix-vector product
// and the split-key attention of one query row per sequence, both written to keep many 16-byte loads in flight.

// silu(g)·u of four values (silu_mul, palu.cu)
__device__ __forceinline__ float4 swiglu4(float4 g, float4 u)
{
    float4 r;
    r.x = silu_mul(g.x, u.x); r.y = silu_mul(g.y, u.y); r.z = silu_mul(g.z, u.z); r.w = silu_mul(g.w, u.w);
    return r;
}

// one 16-byte read that skips L1 (streamed weights and cache rows are read once per step)
__device__ __forceinline__ uint4 ld_stream(const void* p)
{
    uint4 v;
    asm("ld.global.nc.L1::no_allocate.v4.u32 {%0, %1, %2, %3}, [%4];" : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w) : "l"(p));
    return v;
}

// one f32 read through L2 only (written by other blocks of this launch; L1 is not coherent)
__device__ __forceinline__ float ld_cg(const float* p)
{
    float v;
    asm volatile("ld.global.cg.f32 %0, [%1];" : "=f"(v) : "l"(p));
    return v;
}

__device__ __forceinline__ uint4 zero4() { uint4 z; z.x = z.y = z.z = z.w = 0u; return z; }

// c [16 × 8] f32 += a [16 × 16] · b [16 × 8], bf16 operands (fragment layout: see flash.cu)
__device__ __forceinline__ void mma_bf16(float* c, const u32* a, u32 b0, u32 b1)
{
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, {%0, %1, %2, %3};"
        : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

// two f32 rounded to bf16 (nearest even) in one register, lo in the lower half
__device__ __forceinline__ u32 pack_bf16(float lo, float hi)
{
    u32 r;
    asm("cvt.rn.bf16x2.f32 %0, %1, %2;" : "=r"(r) : "f"(hi), "f"(lo));
    return r;
}

// Σ 8 bf16 (w) × 8 f32 (a, b)
__device__ __forceinline__ float dot8(uint4 w, float4 a, float4 b)
{
    return __uint_as_float(w.x << 16) * a.x + __uint_as_float(w.x & 0xffff0000u) * a.y
         + __uint_as_float(w.y << 16) * a.z + __uint_as_float(w.y & 0xffff0000u) * a.w
         + __uint_as_float(w.z << 16) * b.x + __uint_as_float(w.z & 0xffff0000u) * b.y
         + __uint_as_float(w.w << 16) * b.z + __uint_as_float(w.w & 0xffff0000u) * b.w;
}

// ---- the merge of an item's splits by the last of its blocks to finish -------------------------------------------
// Called by every thread of a block after it wrote its split's (max, sum, acc[D]) to pr = part [splits, 2 + D]. Each
// block counts itself in *cnt after a fence; the one that counts last reads every split (through L2: other blocks
// wrote them) and writes out [D] = Σ e^(m_s − M) acc_s / Σ e^(m_s − M) l_s, then sets *cnt back to zero for the next
// launch (a replayed graph reuses it). (Tried on the 7B shapes, H200: reading only the splits that hold visible keys,
// 16 of them in flight per thread: 10.45 against 11.06 µs per layer at 1K batch 1, but batch-8 steps 2-4 % slower at
// 1K and 14 % at 16K (27.1 against 23.4 ms), so left out.)
template <int D> __device__ void merge_if_last(const float* pr, float* out, int* cnt, int splits)
{
    __shared__ int last;
    __shared__ float wsp[256];
    __shared__ float red2[4];
    int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    __threadfence();
    __syncthreads();
    if (tid == 0) last = atomicAdd(cnt, 1) == splits - 1;
    __syncthreads();
    if (!last) return;
    __threadfence();
    float M = NEG_INF;
    for (int s = tid; s < splits; s += blockDim.x) M = fmaxf(M, ld_cg(pr + (long)s * (2 + D)));
    M = warp_max(M);
    if (lane == 0) red2[warp] = M;
    __syncthreads();
    M = fmaxf(fmaxf(red2[0], red2[1]), fmaxf(red2[2], red2[3]));
    __syncthreads();
    float l = 0.0f, acc = 0.0f;
    for (int s0 = 0; s0 < splits; s0 += 256)
    {
        int n = imin(256, splits - s0);
        for (int j = tid; j < n; j += blockDim.x)
        {
            float m = ld_cg(pr + (long)(s0 + j) * (2 + D));
            float e = m == NEG_INF ? 0.0f : __expf(m - M);
            wsp[j] = e;
            l += e * ld_cg(pr + (long)(s0 + j) * (2 + D) + 1);
        }
        __syncthreads();
        if (tid < D)
        {
#pragma unroll 4
            for (int j = 0; j < n; j++) acc += wsp[j] * ld_cg(pr + (long)(s0 + j) * (2 + D) + 2 + tid);
        }
        __syncthreads();
    }
    l = warp_sum(l);
    if (lane == 0) red2[warp] = l;
    __syncthreads();
    l = red2[0] + red2[1] + red2[2] + red2[3];
    if (tid < D) out[tid] = l > 0.0f ? acc / l : 0.0f;
    if (tid == 0) *cnt = 0;
}

// this warp's 32 cache rows from key kb (D/8 loads of 32/(D/8) keys; the lane's key kb + it·(32/(D/8)) + sub, its
// 8 columns at base), zeros outside [first, p]
template <int D> __device__ __forceinline__ void warp_rows(uint4 (&r)[D / 8], const u16* base, int kb, int sub, int first, int p)
{
    constexpr int KPW = 32 / (D / 8);
#pragma unroll
    for (int it = 0; it < D / 8; it++)
    {
        int j = kb + it * KPW + sub;
        r[it] = j >= first && j <= p ? ld_stream(base + (long)j * D) : zero4();
    }
}

// the scaled scores q·k of this warp's 32 keys from kb into ps[32·warp ..] (−inf outside [first, p])
template <int D> __device__ __forceinline__ void warp_scores(float* ps, const uint4 (&rk)[D / 8], float4 qa, float4 qb, int kb, int warp, int lane, int first, int p)
{
    constexpr int LPK = D / 8, KPW = 32 / LPK;
    int sub = lane / LPK;
#pragma unroll
    for (int it = 0; it < LPK; it++)
    {
        float a = dot8(rk[it], qa, qb);
#pragma unroll
        for (int o = LPK / 2; o > 0; o >>= 1) a += __shfl_xor_sync(0xffffffffu, a, o);
        int j = kb + it * KPW + sub;
        if (lane % LPK == 0) ps[warp * 32 + it * KPW + sub] = j >= first && j <= p ? a : NEG_INF;
    }
}

// acc [8] += the weights ps[32·warp ..] × this warp's value rows (the lane's 8 columns)
template <int D> __device__ __forceinline__ void warp_values(float (&acc)[8], const float* ps, const uint4 (&rv)[D / 8], int warp, int sub)
{
    constexpr int KPW = 32 / (D / 8);
#pragma unroll
    for (int it = 0; it < D / 8; it++)
    {
        float w = ps[warp * 32 + it * KPW + sub];
        uint4 r = rv[it];
        acc[0] += w * __uint_as_float(r.x << 16); acc[1] += w * __uint_as_float(r.x & 0xffff0000u);
        acc[2] += w * __uint_as_float(r.y << 16); acc[3] += w * __uint_as_float(r.y & 0xffff0000u);
        acc[4] += w * __uint_as_float(r.z << 16); acc[5] += w * __uint_as_float(r.z & 0xffff0000u);
        acc[6] += w * __uint_as_float(r.w << 16); acc[7] += w * __uint_as_float(r.w & 0xffff0000u);
    }
}

// the split's partial into pr [2 + D]: max m, Σ weights (red [4], one per warp), values summed over the warp's keys
// (lanes of equal col) and the 4 warps (through accs)
template <int D> __device__ __forceinline__ void write_split(float (&acc)[8], float (&accs)[4][D], const float* red, float m, float* pr)
{
    constexpr int LPK = D / 8;
    int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31, sub = lane / LPK, col = (lane % LPK) * 8;
#pragma unroll
    for (int e = 0; e < 8; e++)
#pragma unroll
        for (int o = LPK; o < 32; o <<= 1) acc[e] += __shfl_xor_sync(0xffffffffu, acc[e], o);
    if (sub == 0)
#pragma unroll
        for (int e = 0; e < 8; e++) accs[warp][col + e] = acc[e];
    __syncthreads();
    if (tid == 0) { pr[0] = m; pr[1] = red[0] + red[1] + red[2] + red[3]; }
    for (int i = tid; i < D; i += blockDim.x) pr[2 + i] = accs[0][i] + accs[1][i] + accs[2][i] + accs[3][i];
}

// ---- decode attention over a bf16 cache, head width D (64 or 128) for keys and values -----------------------------
// One block of 4 warps per (query row t, head h, split s of 128 keys). A key row is D/8 lanes × 16 bytes, so a warp
// covers 32/(D/8) keys per load; each warp loads all K rows of its 32 keys before using them (then the same for V).
// q [T, H, D]; k, v [Hkv, cap, D]; query t at position p = start + *shift + t sees keys [first, p] (first from the
// window). Writes (max, sum, acc[D]) of the split to part [T·H, splits, 2 + D]; a split past p is written empty (max
// −inf), so a replayed graph may cover more splits than its step needs. The last block of an item to finish (counted
// in cnt [T·H], left at zero again) merges the item's splits into out [T·H, D]: no separate merge launch.
template <int D> __device__ void attn_decode(const float* q, const u16* k, const u16* v, float* part, float* out, int* cnt,
    const int* shift, int T, int start, int H, int Hkv, int cap, int window, int splits, float scale)
{
    constexpr int LPK = D / 8, KPW = 32 / LPK, NIT = 32 / KPW;   // lanes per key, keys per warp load, loads per warp
    __shared__ float ps[128];
    __shared__ float red[4];
    __shared__ float accs[4][D];
    int item = blockIdx.x, s = blockIdx.y, tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
    int t = item / H, h = item % H, kvh = h / (H / Hkv), p = start + *shift + t;
    int first = window > 0 ? imax(0, p - window + 1) : 0;
    float* pr = part + ((long)item * splits + s) * (2 + D);
    if (s * 128 > p || s * 128 + 127 < first)
    {
        for (int i = tid; i < 2 + D; i += blockDim.x) pr[i] = i == 0 ? NEG_INF : 0.0f;
        merge_if_last<D>(part + (long)item * splits * (2 + D), out + (long)item * D, cnt + item, splits);
        return;
    }
    int sub = lane / LPK, col = (lane % LPK) * 8;   // this lane's key within a warp load, its 8 columns
    const float4* qp = (const float4*)(q + (long)item * D + col);
    float4 qa = qp[0], qb = qp[1];
    qa.x *= scale; qa.y *= scale; qa.z *= scale; qa.w *= scale; qb.x *= scale; qb.y *= scale; qb.z *= scale; qb.w *= scale;
    int kb = s * 128 + warp * 32;                    // this warp's first key
    const u16* kbase = k + (long)kvh * cap * D + col;
    const u16* vbase = v + (long)kvh * cap * D + col;
    uint4 rk[NIT], rv[NIT];
    warp_rows<D>(rk, kbase, kb, sub, first, p);
    warp_rows<D>(rv, vbase, kb, sub, first, p);
    warp_scores<D>(ps, rk, qa, qb, kb, warp, lane, first, p);
    __syncthreads();
    float sc = ps[tid];
    float m = warp_max(sc);
    if (lane == 0) red[warp] = m;
    __syncthreads();
    m = fmaxf(fmaxf(red[0], red[1]), fmaxf(red[2], red[3]));   // finite: the split holds at least one visible key
    __syncthreads();
    float pj = sc == NEG_INF ? 0.0f : __expf(sc - m);
    ps[tid] = pj;
    float l = warp_sum(pj);
    if (lane == 0) red[warp] = l;
    __syncwarp();
    // values: the same keys (loaded with the K rows above), 8 columns per lane, weights from ps (this warp's 32)
    float acc[8];
#pragma unroll
    for (int e = 0; e < 8; e++) acc[e] = 0.0f;
    warp_values<D>(acc, ps, rv, warp, sub);
    write_split<D>(acc, accs, red, m, pr);
    merge_if_last<D>(part + (long)item * splits * (2 + D), out + (long)item * D, cnt + item, splits);
}
extern "C" __global__ void attn_decode64_bf16(const float* q, const u16* k, const u16* v, float* part, float* o, int* cnt, const int* sh, int T, int st, int H, int Hkv, int cap, int win, int sp, float sc)
{ PALU_GRID_START attn_decode<64>(q, k, v, part, o, cnt, sh, T, st, H, Hkv, cap, win, sp, sc); }
extern "C" __global__ void attn_decode128_bf16(const float* q, const u16* k, const u16* v, float* part, float* o, int* cnt, const int* sh, int T, int st, int H, int Hkv, int cap, int win, int sp, float sc)
{ PALU_GRID_START attn_decode<128>(q, k, v, part, o, cnt, sh, T, st, H, Hkv, cap, win, sp, sc); }

// ---- y [T, m] = x [T, n] · Wᵀ, W bf16 [m, n] rows `stride` apart; T ≤ 8, n % 8 == 0, rows 16-byte aligned --------
// R rows per block of 4 warps that split the columns: each lane reads 16-byte pieces (8 weights) of the R rows, U
// pieces of each row issued before any is used; x is read once per piece for all R rows; the 4 warps' sums meet in
// shared memory. (Tried on the 7B shapes, H200: 2 rows per block beat 1 or 4, 4 pieces beat 8, and warps with
// rows of their own: 5.8 against 7.1 ms per batch-1 step.)
// blk: this block's index among the blocks of this product (blockIdx.x, or less when one launch does several)
template <int R, int U> __device__ void gemv_split(const u16* w, int stride, const float* x, float* y, int T, int n, int m, int blk)
{
    __shared__ float red[4][R][8];
    int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    int o0 = blk * R;
    float acc[R][8];
#pragma unroll
    for (int r = 0; r < R; r++)
#pragma unroll
        for (int t = 0; t < 8; t++) acc[r][t] = 0.0f;
    const u16* rows[R];
#pragma unroll
    for (int r = 0; r < R; r++) rows[r] = w + (long)imin(o0 + r, m - 1) * stride;
    for (int i0 = (warp * 32 + lane) * 8; i0 < n; i0 += 1024 * U)
    {
        uint4 wv[R][U];
#pragma unroll
        for (int u = 0; u < U; u++)
        {
            int i = i0 + u * 1024;
#pragma unroll
            for (int r = 0; r < R; r++) wv[r][u] = i < n ? ld_stream(rows[r] + i) : zero4();
        }
#pragma unroll
        for (int u = 0; u < U; u++)
        {
            int i = i0 + u * 1024;
#pragma unroll
            for (int t = 0; t < 8; t++)
                if (t < T && i < n)
                {
                    const float4* xp = (const float4*)(x + (long)t * n + i);
                    float4 a = xp[0], b = xp[1];
#pragma unroll
                    for (int r = 0; r < R; r++) acc[r][t] += dot8(wv[r][u], a, b);
                }
        }
    }
#pragma unroll
    for (int r = 0; r < R; r++)
#pragma unroll
        for (int t = 0; t < 8; t++)
            if (t < T)
            {
                float s = warp_sum(acc[r][t]);
                if (lane == 0) red[warp][r][t] = s;
            }
    __syncthreads();
    int tid = threadIdx.x;
    if (tid < R * 8)
    {
        int r = tid / 8, t = tid % 8;
        if (t < T && o0 + r < m) y[(long)t * m + o0 + r] = red[0][r][t] + red[1][r][t] + red[2][r][t] + red[3][r][t];
    }
}
extern "C" __global__ void gemvs2_bf16(const u16* w, int s, const float* x, float* y, int T, int n, int m) { PALU_GRID_START gemv_split<2, 4>(w, s, x, y, T, n, m, blockIdx.x); }

// acc (C fragment [16 × 8]) += 16 rows of W × 8 rows of x over this lane's 16 columns of a 64-column block: W rows g
// and g + 8 as two 16-byte pieces each (a0, a1; b0, b1), x row g as 8 bf16 pairs (xb). The k order inside the block is
// permuted alike for W and x, which leaves the sums unchanged: mma j takes columns 16c + 4j + {0, 1} as k = 2c, 2c + 1
// and 16c + 4j + {2, 3} as k = 2c + 8, 2c + 9.
__device__ __forceinline__ void mma_rows16(float (&acc)[4], uint4 a0, uint4 a1, uint4 b0, uint4 b1, const u32 (&xb)[8])
{
    u32 pa[8] = { a0.x, a0.y, a0.z, a0.w, a1.x, a1.y, a1.z, a1.w };
    u32 pb[8] = { b0.x, b0.y, b0.z, b0.w, b1.x, b1.y, b1.z, b1.w };
#pragma unroll
    for (int j = 0; j < 4; j++)
    {
        u32 a[4] = { pa[2 * j], pb[2 * j], pa[2 * j + 1], pb[2 * j + 1] };
        mma_bf16(acc, a, xb[2 * j], xb[2 * j + 1]);
    }
}

// ---- y [T, m] = x [T, n] · Wᵀ on the tensor cores (mma.m16n8k16), 2 ≤ T ≤ 8, n % 64 == 0 ------------------------
// The mma's 8 columns are the rows of x (zero past T), x rounded to bf16 as cuBLAS does. Block: 4 warps, 16 rows of
// W; warp w takes the 64-column blocks w, w + 4, ..., U of them in flight. In a 64-column block, lane (g, c) reads the
// 16 contiguous columns [16c, 16c + 16) of W rows g and g + 8 and of x row g (two 16-byte loads per row), multiplied by
// mma_rows16. (PALU_CUDA_GEMV8=grid; the default for 2..8 rows is the streamed gemvq2 below.)
template <int U> __device__ void gemv_mma(const u16* w, int stride, const float* x, float* y, int T, int n, int m, int blk)
{
    __shared__ float red[4][16][8];
    int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, c = lane & 3;
    int r0 = blk * 16, nb = n / 64;
    const u16* w0 = w + (long)imin(r0 + g, m - 1) * stride + 16 * c;
    const u16* w1 = w + (long)imin(r0 + g + 8, m - 1) * stride + 16 * c;
    const float* xr = x + (long)imin(g, T - 1) * n + 16 * c;
    float acc[4] = { 0.0f, 0.0f, 0.0f, 0.0f };
    for (int b0 = warp; b0 < nb; b0 += 4 * U)
    {
        uint4 wa[U][2], wb[U][2];
#pragma unroll
        for (int u = 0; u < U; u++)
        {
            int b = b0 + 4 * u;
            bool in = b < nb;
            wa[u][0] = in ? ld_stream(w0 + b * 64) : zero4();
            wa[u][1] = in ? ld_stream(w0 + b * 64 + 8) : zero4();
            wb[u][0] = in ? ld_stream(w1 + b * 64) : zero4();
            wb[u][1] = in ? ld_stream(w1 + b * 64 + 8) : zero4();
        }
#pragma unroll
        for (int u = 0; u < U; u++)
        {
            int b = b0 + 4 * u;
            if (b >= nb) continue;   // warp-uniform
            u32 xb[8];
            const float4* xp = (const float4*)(xr + b * 64);
#pragma unroll
            for (int q = 0; q < 4; q++)
            {
                float4 f;
                if (g < T) f = xp[q];
                else f.x = f.y = f.z = f.w = 0.0f;
                xb[2 * q] = pack_bf16(f.x, f.y);
                xb[2 * q + 1] = pack_bf16(f.z, f.w);
            }
            mma_rows16(acc, wa[u][0], wa[u][1], wb[u][0], wb[u][1], xb);
        }
    }
    red[warp][g][2 * c] = acc[0]; red[warp][g][2 * c + 1] = acc[1];
    red[warp][g + 8][2 * c] = acc[2]; red[warp][g + 8][2 * c + 1] = acc[3];
    __syncthreads();
    int row = threadIdx.x / 8, t = threadIdx.x % 8;
    if (t < T && r0 + row < m) y[(long)t * m + r0 + row] = red[0][row][t] + red[1][row][t] + red[2][row][t] + red[3][row][t];
}
extern "C" __global__ void gemvm2_bf16(const u16* w, int s, const float* x, float* y, int T, int n, int m) { PALU_GRID_START gemv_mma<2>(w, s, x, y, T, n, m, blockIdx.x); }

// ---- up to 3 products of the same x in one launch (Q, K, V; gate, up): blocks [first[i], first[i + 1]) do product i
struct GemvSet { const u16* w[3]; float* y[3]; int stride[3]; int m[3]; int first[4]; };
__device__ __forceinline__ int gemv_pick(const GemvSet& s, int b) { return b >= s.first[2] ? 2 : b >= s.first[1] ? 1 : 0; }
// field f of product i of the GemvSet s (constant indices only: the set stays in the parameter space)
#define PALU_PICK(f, i) ((i) == 2 ? s.f[2] : (i) == 1 ? s.f[1] : s.f[0])
extern "C" __global__ void gemvs2x_bf16(const float* x, int T, int n, GemvSet s)
{ PALU_GRID_START
    int b = blockIdx.x, i = gemv_pick(s, b);
    gemv_split<2, 4>(PALU_PICK(w, i), PALU_PICK(stride, i), x, PALU_PICK(y, i), T, n, PALU_PICK(m, i), b - PALU_PICK(first, i));
}
extern "C" __global__ void gemvm2x_bf16(const float* x, int T, int n, GemvSet s)
{ PALU_GRID_START
    int b = blockIdx.x, i = gemv_pick(s, b);
    gemv_mma<2>(PALU_PICK(w, i), PALU_PICK(stride, i), x, PALU_PICK(y, i), T, n, PALU_PICK(m, i), b - PALU_PICK(first, i));
}

// ---- y = W·x for one row (T = 1), streamed: a grid of a few blocks per multiprocessor that walk the work -----------
// Work: the row groups (R rows) of up to 3 products of one x (set; group g belongs to product i when set.first[i] ≤ g <
// set.first[i + 1]); block b takes the groups b, b + gridDim.x, ..., each in chunks of 1024·U columns (4 warps split
// the columns as in gemv_split). The loads of the next chunk are issued before the current one is multiplied, so a
// block always has a chunk of W in flight, also across its groups and their reductions (double-buffered in shared
// memory, one barrier per group). Under programmatic dependent launch the first chunk is loaded before the wait for
// the kernel before (which writes x, never W), so the stream of weights starts while that one ends. (Tried on the 7B
// shapes, H200: every block making RMSNorm(x + r)·g of its x in shared memory, the last one writing x and y back,
// instead of the add_rmsnorm launch before: 4.22 against 4.20 ms per batch-1 step; the last block of the product before
// making the residual add and RMSNorm of its output: 4.11-4.15 against 4.06-4.09 ms. So the norm stays its own kernel.
// Also tried: the Q/K/V product's row groups holding rows j and j + d/2 of a head, so that each group ends by making
// its RoPEs and cache stores instead of the rows_* launch after it: 4.12-4.13 against 4.10 ms, left out. And an L2
// prefetch (prefetch.global.L2 over the first 16 or 34 MB) of the next product's weights, launched before each norm
// and attention on the main stream or on a forked one joined at the product: 4.38-4.59 against 4.05-4.07 ms, removed.)

// Row r of group g: product i's rows [R·(g − first[i]), + R), except GLU: rows [g·R/2, (g + 1)·R/2) of product 0 (the
// gate) and the same rows of product 1 (up).
template <int R, bool GLU> __device__ __forceinline__ const u16* gemv_row(const GemvSet& s, int g, int r)
{
    if constexpr (GLU)
    {
        int o = imin(g * (R / 2) + r % (R / 2), s.m[0] - 1);
        return r < R / 2 ? s.w[0] + (long)o * s.stride[0] : s.w[1] + (long)o * s.stride[1];
    }
    int i = gemv_pick(s, g), o = (g - PALU_PICK(first, i)) * R + r;
    return PALU_PICK(w, i) + (long)imin(o, PALU_PICK(m, i) - 1) * PALU_PICK(stride, i);
}

template <int R, int U, bool GLU = false> __device__ __forceinline__ void gemv_stream_load(uint4 (&dst)[R][U], const GemvSet& s, int g, int c, int n)
{
    int col = c * 1024 * U + (int)threadIdx.x * 8;
#pragma unroll
    for (int r = 0; r < R; r++)
    {
        const u16* row = gemv_row<R, GLU>(s, g, r);
#pragma unroll
        for (int u = 0; u < U; u++) dst[r][u] = col + u * 1024 < n ? ld_stream(row + col + u * 1024) : zero4();
    }
}

// SWI: x is silu(x)·x2 (the SwiGLU of gate x and up x2, as the swiglu kernel computes it), made as it is read.
// GLU: the gate and up projections of one x (products 0 and 1, m rows each), a group holding R/2 rows of each, so that
// it writes up [m] = u and gate [m] = silu(g)·u (silu_mul) itself.
template <int R, int U, bool SWI, bool GLU = false> __device__ void gemv_stream(const float* x, const float* x2, int n, const GemvSet& s)
{
    __shared__ float red[2][4][R];
    int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, buf = 0;
    int groups = s.first[3], chunks = (n + 1024 * U - 1) / (1024 * U);
    int g = blockIdx.x, c = 0;
    if (g >= groups) { PALU_GRID_START return; }
    uint4 cur[R][U], nxt[R][U];
    float acc[R];
#pragma unroll
    for (int r = 0; r < R; r++) acc[r] = 0.0f;
    gemv_stream_load<R, U, GLU>(cur, s, g, c, n);
    PALU_GRID_START   // W is never written by a kernel: its first chunk is read before waiting for the one before
    while (g < groups)
    {
        int ng = g, nc = c + 1;
        if (nc == chunks) { nc = 0; ng += gridDim.x; }
        if (ng < groups) gemv_stream_load<R, U, GLU>(nxt, s, ng, nc, n);
        int col = c * 1024 * U + (int)threadIdx.x * 8;
#pragma unroll
        for (int u = 0; u < U; u++)
            if (col + u * 1024 < n)
            {
                const float4* xp = (const float4*)(x + col + u * 1024);
                float4 a = xp[0], b = xp[1];
                if (SWI)
                {
                    const float4* up = (const float4*)(x2 + col + u * 1024);
                    a = swiglu4(a, up[0]); b = swiglu4(b, up[1]);
                }
#pragma unroll
                for (int r = 0; r < R; r++) acc[r] += dot8(cur[r][u], a, b);
            }
        if (nc == 0)   // group g is done: its R sums meet in shared memory
        {
#pragma unroll
            for (int r = 0; r < R; r++)
            {
                float t = warp_sum(acc[r]);
                if (lane == 0) red[buf][warp][r] = t;
                acc[r] = 0.0f;
            }
            __syncthreads();
            if constexpr (GLU)
            {
                int r = threadIdx.x, o = g * (R / 2) + r;
                if (r < R / 2 && o < s.m[0])
                {
                    float gs = red[buf][0][r] + red[buf][1][r] + red[buf][2][r] + red[buf][3][r];
                    int ru = r + R / 2;
                    float us = red[buf][0][ru] + red[buf][1][ru] + red[buf][2][ru] + red[buf][3][ru];
                    s.y[1][o] = us;
                    s.y[0][o] = silu_mul(gs, us);
                }
            }
            else if (threadIdx.x < R)
            {
                int i = gemv_pick(s, g), r = threadIdx.x;
                int o = (g - PALU_PICK(first, i)) * R + r;
                if (o < PALU_PICK(m, i)) PALU_PICK(y, i)[o] = red[buf][0][r] + red[buf][1][r] + red[buf][2][r] + red[buf][3][r];
            }
            buf ^= 1;
        }
#pragma unroll
        for (int r = 0; r < R; r++)
#pragma unroll
            for (int u = 0; u < U; u++) cur[r][u] = nxt[r][u];
        g = ng; c = nc;
    }
}
extern "C" __global__ void gemvt2_bf16(const float* x, int T, int n, GemvSet s) { gemv_stream<2, 4, false>(x, 0, n, s); }
extern "C" __global__ void gemvt4_bf16(const float* x, int T, int n, GemvSet s) { gemv_stream<4, 2, false>(x, 0, n, s); }
extern "C" __global__ void gemvt1_bf16(const float* x, int T, int n, GemvSet s) { gemv_stream<1, 8, false>(x, 0, n, s); }
extern "C" __global__ void gemvt2_swiglu(const float* g, const float* u, int n, GemvSet s) { gemv_stream<2, 4, true>(g, u, n, s); }
extern "C" __global__ void gemvt4_swiglu(const float* g, const float* u, int n, GemvSet s) { gemv_stream<4, 2, true>(g, u, n, s); }
extern "C" __global__ void gemvt1_swiglu(const float* g, const float* u, int n, GemvSet s) { gemv_stream<1, 8, true>(g, u, n, s); }
extern "C" __global__ void gemvt2_glu(const float* x, int T, int n, GemvSet s) { gemv_stream<2, 4, false, true>(x, 0, n, s); }
extern "C" __global__ void gemvt4_glu(const float* x, int T, int n, GemvSet s) { gemv_stream<4, 2, false, true>(x, 0, n, s); }

// ---- y [T, m] = x [T, n]·Wᵀ for 2 ≤ T ≤ 8, streamed on the tensor cores: a grid of a few blocks per multiprocessor -
// Work: row groups of 16 rows of up to 3 products of one x (set, as gemv_stream), block b taking groups b, b + gridDim.x,
// ... in chunks of 4·U column blocks of 64: warp w takes blocks 4u + w of a chunk, lane (g, c) the 16 columns
// [16c, 16c + 16) of W rows g and g + 8 and of x row g, multiplied as in gemv_mma (x rounded to bf16, its rows the
// mma's 8 columns, zero past T). The next chunk's W and x are loaded before the current one is multiplied, so a block
// always has a chunk in flight, also across its groups and their reductions (double-buffered in shared memory, one
// barrier per group). Under programmatic dependent launch the first chunk of W is loaded before the wait for the
// kernel before. SWI: x is silu(x)·x2, made as it is read. GLU: the gate and up products of one x (products 0 and 1,
// m rows each), a group holding 8 rows of each (the mma's rows g and g + 8), so that it writes up [T, m] = u and
// gate [T, m] = silu(g)·u itself (as gemv_stream's GLU). n % 64 == 0. (U = 2: 152-154 registers, 224 with SWI, 3
// blocks per multiprocessor. Tried on the 7B shapes, H200, 1K batch 8: x of the next chunk not held in registers
// but read just before its use, 128 registers and 4 blocks per multiprocessor, and the columns of the output and
// down products (256 groups) cut into slices that the group's last block adds: 6.85 against 6.45-6.50 ms per step;
// Q/K/V 40.8 against 34.3 µs, output 21.2 against 16.3, down 43.2 against 36.8.)

// W of chunk ch of group grp: w[u] = rows g, g + 8 of column block 4(ch·U + u) + warp, 16 columns each (zeros past n)
template <int U, bool GLU> __device__ __forceinline__ void gemvq_w(uint4 (&w)[U][4], const GemvSet& s, int grp, int ch, int nb)
{
    int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, c = lane & 3;
    const u16* w0 = gemv_row<16, GLU>(s, grp, g) + 16 * c;
    const u16* w1 = gemv_row<16, GLU>(s, grp, g + 8) + 16 * c;
#pragma unroll
    for (int u = 0; u < U; u++)
    {
        int b = (ch * U + u) * 4 + warp;
        bool in = b < nb;
        w[u][0] = in ? ld_stream(w0 + b * 64) : zero4();
        w[u][1] = in ? ld_stream(w0 + b * 64 + 8) : zero4();
        w[u][2] = in ? ld_stream(w1 + b * 64) : zero4();
        w[u][3] = in ? ld_stream(w1 + b * 64 + 8) : zero4();
    }
}

// x (and x2) of chunk ch: this lane's 16 columns of row g of the same column blocks (zeros past T or n)
template <int U, bool SWI> __device__ __forceinline__ void gemvq_x(float4 (&xa)[U][4], float4 (&xb)[U][4], const float* xr, const float* x2r, bool xrow, int ch, int nb)
{
    int warp = threadIdx.x >> 5;
#pragma unroll
    for (int u = 0; u < U; u++)
    {
        int b = (ch * U + u) * 4 + warp;
        bool in = b < nb && xrow;
#pragma unroll
        for (int q = 0; q < 4; q++)
        {
            float4 z; z.x = z.y = z.z = z.w = 0.0f;
            xa[u][q] = in ? ((const float4*)(xr + b * 64))[q] : z;
            if (SWI) xb[u][q] = in ? ((const float4*)(x2r + b * 64))[q] : z;
        }
    }
}

template <int U, bool SWI, bool GLU> __device__ void gemv_stream_mma(const float* x, const float* x2, int T, int n, const GemvSet& s)
{
    __shared__ float red[2][4][16][8];
    int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, c = lane & 3, buf = 0;
    int groups = s.first[3], nb = n / 64, chunks = (nb + 4 * U - 1) / (4 * U);
    int grp = blockIdx.x, ch = 0;
    if (grp >= groups) { PALU_GRID_START return; }
    bool xrow = g < T;
    const float* xr = x + (long)imin(g, T - 1) * n + 16 * c;
    const float* x2r = SWI ? x2 + (long)imin(g, T - 1) * n + 16 * c : 0;
    uint4 cur[U][4], nxt[U][4];                        // W of this chunk and the next
    float4 xa[U][4], xb[U][4], nxa[U][4], nxb[U][4];   // x (and x2) of this chunk and the next
    float acc[4] = { 0.0f, 0.0f, 0.0f, 0.0f };
    gemvq_w<U, GLU>(cur, s, grp, ch, nb);
    PALU_GRID_START   // W is never written by a kernel: its first chunk is read before waiting for the one before
    gemvq_x<U, SWI>(xa, xb, xr, x2r, xrow, ch, nb);
    while (grp < groups)
    {
        int ng = grp, nc = ch + 1;
        if (nc == chunks) { nc = 0; ng += gridDim.x; }
        if (ng < groups) { gemvq_w<U, GLU>(nxt, s, ng, nc, nb); gemvq_x<U, SWI>(nxa, nxb, xr, x2r, xrow, nc, nb); }
#pragma unroll
        for (int u = 0; u < U; u++)
        {
            if ((ch * U + u) * 4 + warp >= nb) continue;   // warp-uniform
            u32 xf[8];
#pragma unroll
            for (int q = 0; q < 4; q++)
            {
                float4 f = xa[u][q];
                if (SWI) f = swiglu4(f, xb[u][q]);
                xf[2 * q] = pack_bf16(f.x, f.y);
                xf[2 * q + 1] = pack_bf16(f.z, f.w);
            }
            mma_rows16(acc, cur[u][0], cur[u][1], cur[u][2], cur[u][3], xf);
        }
        if (nc == 0)   // group grp is done: the 4 warps' sums meet in shared memory
        {
            red[buf][warp][g][2 * c] = acc[0]; red[buf][warp][g][2 * c + 1] = acc[1];
            red[buf][warp][g + 8][2 * c] = acc[2]; red[buf][warp][g + 8][2 * c + 1] = acc[3];
            acc[0] = acc[1] = acc[2] = acc[3] = 0.0f;
            __syncthreads();
            int row = threadIdx.x / 8, t = threadIdx.x % 8;
            if constexpr (GLU)
            {
                int o = grp * 8 + row;
                if (row < 8 && t < T && o < s.m[0])
                {
                    float gs = red[buf][0][row][t] + red[buf][1][row][t] + red[buf][2][row][t] + red[buf][3][row][t];
                    float us = red[buf][0][row + 8][t] + red[buf][1][row + 8][t] + red[buf][2][row + 8][t] + red[buf][3][row + 8][t];
                    s.y[1][(long)t * s.m[0] + o] = us;
                    s.y[0][(long)t * s.m[0] + o] = silu_mul(gs, us);
                }
            }
            else
            {
                int i = gemv_pick(s, grp), o = (grp - PALU_PICK(first, i)) * 16 + row;
                if (t < T && o < PALU_PICK(m, i))
                    PALU_PICK(y, i)[(long)t * PALU_PICK(m, i) + o] = red[buf][0][row][t] + red[buf][1][row][t] + red[buf][2][row][t] + red[buf][3][row][t];
            }
            buf ^= 1;
        }
#pragma unroll
        for (int u = 0; u < U; u++)
#pragma unroll
            for (int i = 0; i < 4; i++) { cur[u][i] = nxt[u][i]; xa[u][i] = nxa[u][i]; if (SWI) xb[u][i] = nxb[u][i]; }
        grp = ng; ch = nc;
    }
}
extern "C" __global__ void gemvq2_bf16(const float* x, int T, int n, GemvSet s) { gemv_stream_mma<2, false, false>(x, 0, T, n, s); }
extern "C" __global__ void gemvq2_swiglu(const float* g, const float* u, int T, int n, GemvSet s) { gemv_stream_mma<2, true, false>(g, u, T, n, s); }
extern "C" __global__ void gemvq2_glu(const float* x, int T, int n, GemvSet s) { gemv_stream_mma<2, false, true>(x, 0, T, n, s); }
#undef PALU_PICK

// ---- decode attention of up to 8 sequences in one launch (grid z = sequence) -------------------------------------
// Sequence b has one query row: q [B, H, D] and the output rows are consecutive, its cache at tab.k[b], tab.v[b]
// (capacity tab.cap[b]), position tab.start[b] + *shift; its partials start at part + b·H·splits·(2 + D), so that
// attn_combine merges all B·H items at once.
struct SeqTable { const u16* k[8]; const u16* v[8]; int start[8]; int cap[8]; };

// sequence b's cache, start and capacity (a switch on constant indices: the table stays in the parameter space)
__device__ __forceinline__ void seq_entry(const SeqTable& tab, int b, const u16*& k, const u16*& v, int& st, int& cap)
{
    k = tab.k[0]; v = tab.v[0]; st = tab.start[0]; cap = tab.cap[0];
    switch (b)
    {
#define PALU_SEQ(i) case i: k = tab.k[i]; v = tab.v[i]; st = tab.start[i]; cap = tab.cap[i]; break;
        PALU_SEQ(1) PALU_SEQ(2) PALU_SEQ(3) PALU_SEQ(4) PALU_SEQ(5) PALU_SEQ(6) PALU_SEQ(7)
#undef PALU_SEQ
        default: break;
    }
}

template <int D> __device__ void attn_decode_multi(const float* q, float* part, float* out, int* cnt, const int* shift, const SeqTable& tab,
    int H, int Hkv, int window, int splits, float scale)
{
    int b = blockIdx.z, st, cap;
    const u16* k; const u16* v;
    seq_entry(tab, b, k, v, st, cap);
    attn_decode<D>(q + (long)b * H * D, k, v, part + (long)b * H * splits * (2 + D), out + (long)b * H * D, cnt + b * H, shift,
        1, st, H, Hkv, cap, window, splits, scale);
}
extern "C" __global__ void attn_decodem64_bf16(const float* q, float* part, float* o, int* cnt, const int* sh, SeqTable tab, int H, int Hkv, int win, int sp, float sc)
{ PALU_GRID_START attn_decode_multi<64>(q, part, o, cnt, sh, tab, H, Hkv, win, sp, sc); }
extern "C" __global__ void attn_decodem128_bf16(const float* q, float* part, float* o, int* cnt, const int* sh, SeqTable tab, int H, int Hkv, int win, int sp, float sc)
{ PALU_GRID_START attn_decode_multi<128>(q, part, o, cnt, sh, tab, H, Hkv, win, sp, sc); }

// ---- the one-row ropes and cache stores of a decode step in one launch ----------------------------------------------
// Entry b (up to 24): heads[b] heads of width d at x[b] (f32, row-major); flags[b] & 1: rotate them in place (RoPE at
// position start[b] + *shift; cos, sin [positions, d/2]); flags[b] & 2: store them (rotated, when both) into the cache
// dst[b] [heads, cap[b], d] (DT) at that position. A K row is rotated and stored by the same entry, so no ordering
// between blocks is needed. Block (h, b).
struct RowTable { float* x[24]; void* dst[24]; int start[24]; int cap[24]; int heads[24]; int flags[24]; };

template <int DT> __device__ void rows_step(const float* cs, const float* sn, int d, const int* shift, const RowTable& t)
{
    int h = blockIdx.x, b = blockIdx.y;
    float* x = 0; void* dst = 0; int start = 0, cap = 0, heads = 0, flags = 0;
#pragma unroll
    for (int i = 0; i < 24; i++)   // constant indices only: the table stays in the parameter space
        if (i == b) { x = t.x[i]; dst = t.dst[i]; start = t.start[i]; cap = t.cap[i]; heads = t.heads[i]; flags = t.flags[i]; }
    if (h >= heads) return;
    long p = start + *shift, base = ((long)h * cap + p) * d;
    float* xr = x + (long)h * d;
    if (flags & 1)
    {
        int half = d / 2;
        for (int j = threadIdx.x; j < half; j += blockDim.x)
        {
            float c = cs[p * half + j], s = sn[p * half + j];
            float x0 = xr[j], x1 = xr[j + half];
            float y0 = x0 * c - x1 * s, y1 = x1 * c + x0 * s;
            xr[j] = y0;
            xr[j + half] = y1;
            if (flags & 2) { store<DT>(dst, base + j, y0); store<DT>(dst, base + j + half, y1); }
        }
    }
    else if (flags & 2)
        for (int j = threadIdx.x; j < d; j += blockDim.x) store<DT>(dst, base + j, xr[j]);
}
extern "C" __global__ void rows_f32(const float* cs, const float* sn, int d, const int* sh, RowTable t) { PALU_GRID_START rows_step<0>(cs, sn, d, sh, t); }
extern "C" __global__ void rows_bf16(const float* cs, const float* sn, int d, const int* sh, RowTable t) { PALU_GRID_START rows_step<1>(cs, sn, d, sh, t); }
extern "C" __global__ void rows_f16(const float* cs, const float* sn, int d, const int* sh, RowTable t) { PALU_GRID_START rows_step<2>(cs, sn, d, sh, t); }

// y [n] (bf16 bits) = x [n] (f32), four at a time (n % 4 == 0, both 16- and 8-byte aligned)
extern "C" __global__ void cast4_bf16(const float4* x, uint2* y, long n4)
{ PALU_GRID_START
    for (long i = blockIdx.x * (long)blockDim.x + threadIdx.x; i < n4; i += (long)gridDim.x * blockDim.x)
    {
        float4 v = x[i];
        uint2 r;
        r.x = pack_bf16(v.x, v.y);
        r.y = pack_bf16(v.z, v.w);
        y[i] = r;
    }
}

// y [n] (bf16 bits) = silu(g)·u [n], four at a time: a held-back SwiGLU made straight into the bf16 operand of the
// matrix product that reads it (g keeps the gate). n % 4 == 0, 16-byte aligned.
extern "C" __global__ void swiglu4_bf16(const float4* g, const float4* u, uint2* y, long n4)
{ PALU_GRID_START
    for (long i = blockIdx.x * (long)blockDim.x + threadIdx.x; i < n4; i += (long)gridDim.x * blockDim.x)
    {
        float4 v = swiglu4(g[i], u[i]);
        uint2 r;
        r.x = pack_bf16(v.x, v.y);
        r.y = pack_bf16(v.z, v.w);
        y[i] = r;
    }
}
