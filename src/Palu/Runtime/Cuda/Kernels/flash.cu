// Prefill attention on the tensor cores (appended to palu.cu by the backend): flash-attention style, bf16 operands
// with f32 accumulation through mma.sync m16n8k16, no T×T matrix anywhere.
//
// Fragment layout of mma.m16n8k16 (g = lane / 4, c = lane % 4; a register holds two bf16, the lower column first):
//   A [16 × 16] row-major: a0 (row g, cols 2c..2c+1), a1 (row g+8, same), a2 (row g, cols 2c+8..), a3 (row g+8, cols 2c+8..)
//   B [16 × 8] (k × n):    b0 (k 2c..2c+1, col g), b1 (k 2c+8..2c+9, col g)
//   C [16 × 8] f32:        c0, c1 (row g, cols 2c, 2c+1), c2, c3 (row g+8, same cols)
// (mma_bf16 and pack_bf16 are in decode.cu)

// q [T, H, D] f32 (RoPE applied); k, v [Hkv, cap, D] bf16 (the cache, positions [0, start + T) filled); out [T, H, D].
// Query t sits at position p = start + t and sees keys [first, p], first = max(0, p − window + 1) with a window.
// Block: 4 warps × 16 query rows of one head (grid: ⌈T/64⌉ × H); key tiles of 64 pass through shared memory (K as
// [key][dim], V transposed to [dim][key] so that both B operands are read as 32-bit pairs). Scores are kept in the
// base-2 domain (q pre-scaled by scale·log2 e). D = 32, 64 or 128.
// PF: the next tile's K and V pieces are loaded into registers while this tile is computed.
template <int D, bool PF> __device__ void flash_prefill(const float* q, const u16* k, const u16* v, float* out,
    int T, int start, int H, int Hkv, int cap, int window, float scale)
{
    constexpr int BK = 64, KP = D + 8, VP = BK + 2;   // row pitches (u16) chosen against bank conflicts
    constexpr int PER = BK * D / 8 / 128;             // 16-byte pieces of a tile per thread, for K and for V
    __shared__ __attribute__((aligned(16))) u16 ks[BK * KP];         // [key][dim]
    __shared__ __attribute__((aligned(16))) u16 vts[D * VP];         // [dim][key]
    int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, c = lane & 3;
    int h = blockIdx.y, kvh = h / (H / Hkv);
    int tb = blockIdx.x * 64, t0 = tb + warp * 16;
    const float qs = scale * 1.4426950408889634f;
    // this warp's Q fragments, rows t0 + g and t0 + g + 8 (clamped to T − 1 for the loads; such rows are not written)
    u32 qf[D / 16][4];
    {
        const float* r0 = q + ((long)imin(t0 + g, T - 1) * H + h) * D;
        const float* r1 = q + ((long)imin(t0 + g + 8, T - 1) * H + h) * D;
#pragma unroll
        for (int kc = 0; kc < D / 16; kc++)
        {
            int col = kc * 16 + 2 * c;
            qf[kc][0] = pack_bf16(r0[col] * qs, r0[col + 1] * qs);
            qf[kc][1] = pack_bf16(r1[col] * qs, r1[col + 1] * qs);
            qf[kc][2] = pack_bf16(r0[col + 8] * qs, r0[col + 9] * qs);
            qf[kc][3] = pack_bf16(r1[col + 8] * qs, r1[col + 9] * qs);
        }
    }
    float o[D / 8][4];
#pragma unroll
    for (int n = 0; n < D / 8; n++) o[n][0] = o[n][1] = o[n][2] = o[n][3] = 0.0f;
    float mrow[2] = { NEG_INF, NEG_INF }, lrow[2] = { 0.0f, 0.0f };
    int p0 = start + t0 + g, p1 = p0 + 8;                         // positions of this lane's two rows
    int last = start + imin(tb + 63, T - 1);                      // the block's last visible key
    int firstKey = window > 0 ? imax(0, start + tb - window + 1) : 0;
    const u16* kh = k + (long)kvh * cap * D;
    const u16* vh = v + (long)kvh * cap * D;
    uint4 kreg[PER], vreg[PER];   // piece i of a tile: key i / (D/8), columns (i % (D/8))·8, i = tid + 128·e
    auto fetch = [&](int j0)
    {
#pragma unroll
        for (int e = 0; e < PER; e++)
        {
            int i = threadIdx.x + 128 * e, j = j0 + i / (D / 8), col = (i % (D / 8)) * 8;
            kreg[e] = j <= last ? *(const uint4*)(kh + (long)j * D + col) : zero4();
            vreg[e] = j <= last ? *(const uint4*)(vh + (long)j * D + col) : zero4();
        }
    };
    if (PF) fetch(firstKey);
    for (int j0 = firstKey; j0 <= last; j0 += BK)
    {
        if (!PF) fetch(j0);
        __syncthreads();   // the previous tile is no longer read
#pragma unroll
        for (int e = 0; e < PER; e++)
        {
            int i = threadIdx.x + 128 * e, r = i / (D / 8), col = (i % (D / 8)) * 8;
            *(uint4*)(ks + r * KP + col) = kreg[e];
            u32 w[4] = { vreg[e].x, vreg[e].y, vreg[e].z, vreg[e].w };
#pragma unroll
            for (int x = 0; x < 4; x++)
            {
                vts[(col + 2 * x) * VP + r] = (u16)(w[x] & 0xffffu);
                vts[(col + 2 * x + 1) * VP + r] = (u16)(w[x] >> 16);
            }
        }
        __syncthreads();
        if (PF && j0 + BK <= last) fetch(j0 + BK);
        if (t0 >= T || j0 > start + imin(t0 + 15, T - 1)) continue;   // no row of this warp sees the tile (warp-uniform)
        // S = Q·Kᵀ for this warp's 16 rows × 64 keys
        float sc[BK / 8][4];
#pragma unroll
        for (int n = 0; n < BK / 8; n++)
        {
            sc[n][0] = sc[n][1] = sc[n][2] = sc[n][3] = 0.0f;
            const u16* kr = ks + (n * 8 + g) * KP + 2 * c;
#pragma unroll
            for (int kc = 0; kc < D / 16; kc++)
                mma_bf16(sc[n], qf[kc], *(const u32*)(kr + kc * 16), *(const u32*)(kr + kc * 16 + 8));
        }
        // mask, then the online softmax of rows p0 (values 0, 1) and p1 (values 2, 3)
        float mx[2] = { NEG_INF, NEG_INF };
#pragma unroll
        for (int n = 0; n < BK / 8; n++)
#pragma unroll
            for (int e = 0; e < 4; e++)
            {
                int j = j0 + n * 8 + 2 * c + (e & 1), p = e < 2 ? p0 : p1;
                bool visible = j <= p && (window <= 0 || j > p - window);
                sc[n][e] = visible ? sc[n][e] : NEG_INF;
                mx[e >> 1] = fmaxf(mx[e >> 1], sc[n][e]);
            }
        float corr[2], mnew[2];
#pragma unroll
        for (int r = 0; r < 2; r++)
        {
            mx[r] = fmaxf(mx[r], __shfl_xor_sync(0xffffffffu, mx[r], 1));
            mx[r] = fmaxf(mx[r], __shfl_xor_sync(0xffffffffu, mx[r], 2));
            mnew[r] = fmaxf(mrow[r], mx[r]);
            corr[r] = mnew[r] == NEG_INF ? 1.0f : exp2f(mrow[r] - mnew[r]);
            mrow[r] = mnew[r];
            lrow[r] *= corr[r];
        }
#pragma unroll
        for (int n = 0; n < BK / 8; n++)
#pragma unroll
            for (int e = 0; e < 4; e++)
            {
                float m = mnew[e >> 1];
                float pv = sc[n][e] == NEG_INF ? 0.0f : exp2f(sc[n][e] - m);
                sc[n][e] = pv;
                lrow[e >> 1] += pv;
            }
#pragma unroll
        for (int n = 0; n < D / 8; n++) { o[n][0] *= corr[0]; o[n][1] *= corr[0]; o[n][2] *= corr[1]; o[n][3] *= corr[1]; }
        // O += P·V: P [16 × 64] from the score registers (two n-tiles make one k-chunk of 16 keys)
#pragma unroll
        for (int kc = 0; kc < BK / 16; kc++)
        {
            u32 a[4] = { pack_bf16(sc[2 * kc][0], sc[2 * kc][1]), pack_bf16(sc[2 * kc][2], sc[2 * kc][3]),
                         pack_bf16(sc[2 * kc + 1][0], sc[2 * kc + 1][1]), pack_bf16(sc[2 * kc + 1][2], sc[2 * kc + 1][3]) };
#pragma unroll
            for (int n = 0; n < D / 8; n++)
            {
                const u16* vr = vts + (n * 8 + g) * VP + kc * 16 + 2 * c;
                mma_bf16(o[n], a, *(const u32*)vr, *(const u32*)(vr + 8));
            }
        }
    }
#pragma unroll
    for (int r = 0; r < 2; r++)
    {
        lrow[r] += __shfl_xor_sync(0xffffffffu, lrow[r], 1);
        lrow[r] += __shfl_xor_sync(0xffffffffu, lrow[r], 2);
    }
    int rows[2] = { t0 + g, t0 + g + 8 };
#pragma unroll
    for (int r = 0; r < 2; r++)
    {
        if (rows[r] >= T) continue;
        float inv = lrow[r] > 0 ? 1.0f / lrow[r] : 0.0f;
        float* orow = out + ((long)rows[r] * H + h) * D;
#pragma unroll
        for (int n = 0; n < D / 8; n++)
        {
            int col = n * 8 + 2 * c;
            orow[col] = o[n][2 * r] * inv;
            orow[col + 1] = o[n][2 * r + 1] * inv;
        }
    }
}
extern "C" __global__ void flash32_bf16(const float* q, const u16* k, const u16* v, float* o, int T, int st, int H, int Hkv, int cap, int win, float sc)
{ PALU_GRID_START flash_prefill<32, false>(q, k, v, o, T, st, H, Hkv, cap, win, sc); }
extern "C" __global__ void flash32p_bf16(const float* q, const u16* k, const u16* v, float* o, int T, int st, int H, int Hkv, int cap, int win, float sc)
{ PALU_GRID_START flash_prefill<32, true>(q, k, v, o, T, st, H, Hkv, cap, win, sc); }
extern "C" __global__ void flash64_bf16(const float* q, const u16* k, const u16* v, float* o, int T, int st, int H, int Hkv, int cap, int win, float sc)
{ PALU_GRID_START flash_prefill<64, false>(q, k, v, o, T, st, H, Hkv, cap, win, sc); }
extern "C" __global__ void flash64p_bf16(const float* q, const u16* k, const u16* v, float* o, int T, int st, int H, int Hkv, int cap, int win, float sc)
{ PALU_GRID_START flash_prefill<64, true>(q, k, v, o, T, st, H, Hkv, cap, win, sc); }
extern "C" __global__ void flash128_bf16(const float* q, const u16* k, const u16* v, float* o, int T, int st, int H, int Hkv, int cap, int win, float sc)
{ PALU_GRID_START flash_prefill<128, false>(q, k, v, o, T, st, H, Hkv, cap, win, sc); }
extern "C" __global__ void flash128p_bf16(const float* q, const u16* k, const u16* v, float* o, int T, int st, int H, int Hkv, int cap, int win, float sc)
{ PALU_GRID_START flash_prefill<128, true>(q, k, v, o, T, st, H, Hkv, cap, win, sc); }

// ---- the same attention with ldmatrix: K and V both stay [key][dim] in shared memory ------------------------------
// The B operands come from ldmatrix (K as stored, V transposed by .trans), four 8×8 blocks per instruction, so no
// element-wise transpose and a quarter of the shared loads; tiles wholly visible to a warp's rows skip the mask; the
// heaviest query tiles (the last, with the most keys) start first.
__device__ __forceinline__ u32 smem_u32(const void* p)
{
    u32 a;
    asm("{ .reg .u64 t; cvta.to.shared.u64 t, %1; cvt.u32.u64 %0, t; }" : "=r"(a) : "l"(p));
    return a;
}
__device__ __forceinline__ void ldsm4(u32* r, u32 addr)
{
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];"
        : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3]) : "r"(addr) : "memory");
}
__device__ __forceinline__ void ldsm4t(u32* r, u32 addr)
{
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];"
        : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3]) : "r"(addr) : "memory");
}

// One key tile for one warp's 16 query rows: S = Q·Kᵀ (K from shared memory at kAddr, this lane's ldmatrix row
// address), mask unless the tile is wholly visible, the online softmax, O += P·V (V at vAddr, by ldmatrix.trans).
template <int D> __device__ __forceinline__ void flash_tile(u32 kAddr, u32 vAddr, const u32 (&qf)[D / 16][4], float (&o)[D / 8][4],
    float (&mrow)[2], float (&lrow)[2], int j0, int p0, int p1, int warpFirst, int window, int c)
{
    constexpr int BK = 64, KP = D + 8;
    float sc[BK / 8][4];
#pragma unroll
    for (int n = 0; n < BK / 8; n++)
    {
        sc[n][0] = sc[n][1] = sc[n][2] = sc[n][3] = 0.0f;
#pragma unroll
        for (int qq = 0; qq < D / 32; qq++)
        {
            u32 b[4];
            ldsm4(b, kAddr + (n * 8 * KP + 32 * qq) * 2);
            mma_bf16(sc[n], qf[2 * qq], b[0], b[1]);
            mma_bf16(sc[n], qf[2 * qq + 1], b[2], b[3]);
        }
    }
    bool full = j0 + BK - 1 <= warpFirst && (window <= 0 || j0 > warpFirst + 15 - window);
    float mx[2] = { NEG_INF, NEG_INF };
#pragma unroll
    for (int n = 0; n < BK / 8; n++)
#pragma unroll
        for (int e = 0; e < 4; e++)
        {
            if (!full)
            {
                int j = j0 + n * 8 + 2 * c + (e & 1), p = e < 2 ? p0 : p1;
                if (!(j <= p && (window <= 0 || j > p - window))) sc[n][e] = NEG_INF;
            }
            mx[e >> 1] = fmaxf(mx[e >> 1], sc[n][e]);
        }
    float corr[2], mnew[2];
#pragma unroll
    for (int r = 0; r < 2; r++)
    {
        mx[r] = fmaxf(mx[r], __shfl_xor_sync(0xffffffffu, mx[r], 1));
        mx[r] = fmaxf(mx[r], __shfl_xor_sync(0xffffffffu, mx[r], 2));
        mnew[r] = fmaxf(mrow[r], mx[r]);
        corr[r] = mnew[r] == NEG_INF ? 1.0f : exp2f(mrow[r] - mnew[r]);
        mrow[r] = mnew[r];
        lrow[r] *= corr[r];
    }
#pragma unroll
    for (int n = 0; n < BK / 8; n++)
#pragma unroll
        for (int e = 0; e < 4; e++)
        {
            float pv = sc[n][e] == NEG_INF ? 0.0f : exp2f(sc[n][e] - mnew[e >> 1]);
            sc[n][e] = pv;
            lrow[e >> 1] += pv;
        }
#pragma unroll
    for (int n = 0; n < D / 8; n++) { o[n][0] *= corr[0]; o[n][1] *= corr[0]; o[n][2] *= corr[1]; o[n][3] *= corr[1]; }
#pragma unroll
    for (int kc = 0; kc < BK / 16; kc++)
    {
        u32 a[4] = { pack_bf16(sc[2 * kc][0], sc[2 * kc][1]), pack_bf16(sc[2 * kc][2], sc[2 * kc][3]),
                     pack_bf16(sc[2 * kc + 1][0], sc[2 * kc + 1][1]), pack_bf16(sc[2 * kc + 1][2], sc[2 * kc + 1][3]) };
#pragma unroll
        for (int pp = 0; pp < D / 16; pp++)
        {
            u32 b[4];
            ldsm4t(b, vAddr + (kc * 16 * KP + 16 * pp) * 2);
            mma_bf16(o[2 * pp], a, b[0], b[1]);
            mma_bf16(o[2 * pp + 1], a, b[2], b[3]);
        }
    }
}

template <int D> __device__ void flash_ldm(const float* q, const u16* k, const u16* v, float* out,
    int T, int start, int H, int Hkv, int cap, int window, float scale)
{
    constexpr int BK = 64, KP = D + 8, PER = BK * D / 8 / 128;   // KP: row pitch (u16), conflict-free for ldmatrix
    __shared__ __attribute__((aligned(16))) u16 ks[BK * KP];     // [key][dim]
    __shared__ __attribute__((aligned(16))) u16 vs[BK * KP];     // [key][dim]
    int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, c = lane & 3;
    int h = blockIdx.y, kvh = h / (H / Hkv);
    int tb = (gridDim.x - 1 - blockIdx.x) * 64, t0 = tb + warp * 16;
    const float qs = scale * 1.4426950408889634f;
    u32 qf[D / 16][4];
    {
        const float* r0 = q + ((long)imin(t0 + g, T - 1) * H + h) * D;
        const float* r1 = q + ((long)imin(t0 + g + 8, T - 1) * H + h) * D;
#pragma unroll
        for (int kc = 0; kc < D / 16; kc++)
        {
            int col = kc * 16 + 2 * c;
            qf[kc][0] = pack_bf16(r0[col] * qs, r0[col + 1] * qs);
            qf[kc][1] = pack_bf16(r1[col] * qs, r1[col + 1] * qs);
            qf[kc][2] = pack_bf16(r0[col + 8] * qs, r0[col + 9] * qs);
            qf[kc][3] = pack_bf16(r1[col + 8] * qs, r1[col + 9] * qs);
        }
    }
    float o[D / 8][4];
#pragma unroll
    for (int n = 0; n < D / 8; n++) o[n][0] = o[n][1] = o[n][2] = o[n][3] = 0.0f;
    float mrow[2] = { NEG_INF, NEG_INF }, lrow[2] = { 0.0f, 0.0f };
    int p0 = start + t0 + g, p1 = p0 + 8;
    int last = start + imin(tb + 63, T - 1);
    int firstKey = window > 0 ? imax(0, start + tb - window + 1) : 0;
    int warpFirst = start + t0, warpLast = start + imin(t0 + 15, T - 1);
    const u16* kh = k + (long)kvh * cap * D;
    const u16* vh = v + (long)kvh * cap * D;
    u32 kAddr = smem_u32(ks) + ((lane & 7) * KP + 8 * (lane >> 3)) * 2;                      // + (n·8·KP + 32q)·2
    u32 vAddr = smem_u32(vs) + (((lane & 7) + 8 * ((lane >> 3) & 1)) * KP + 8 * (lane >> 4)) * 2;   // + (kc·16·KP + 16p)·2
    for (int j0 = firstKey; j0 <= last; j0 += BK)
    {
        uint4 kr[PER], vr[PER];
#pragma unroll
        for (int e = 0; e < PER; e++)
        {
            int i = threadIdx.x + 128 * e, j = j0 + i / (D / 8), col = (i % (D / 8)) * 8;
            kr[e] = j <= last ? *(const uint4*)(kh + (long)j * D + col) : zero4();
            vr[e] = j <= last ? *(const uint4*)(vh + (long)j * D + col) : zero4();
        }
        __syncthreads();   // the previous tile is no longer read
#pragma unroll
        for (int e = 0; e < PER; e++)
        {
            int i = threadIdx.x + 128 * e, r = i / (D / 8), col = (i % (D / 8)) * 8;
            *(uint4*)(ks + r * KP + col) = kr[e];
            *(uint4*)(vs + r * KP + col) = vr[e];
        }
        __syncthreads();
        if (t0 < T && j0 <= warpLast)   // some row of this warp sees the tile (warp-uniform)
            flash_tile<D>(kAddr, vAddr, qf, o, mrow, lrow, j0, p0, p1, warpFirst, window, c);
    }
#pragma unroll
    for (int r = 0; r < 2; r++)
    {
        lrow[r] += __shfl_xor_sync(0xffffffffu, lrow[r], 1);
        lrow[r] += __shfl_xor_sync(0xffffffffu, lrow[r], 2);
    }
    int rows[2] = { t0 + g, t0 + g + 8 };
#pragma unroll
    for (int r = 0; r < 2; r++)
    {
        if (rows[r] >= T) continue;
        float inv = lrow[r] > 0 ? 1.0f / lrow[r] : 0.0f;
        float* orow = out + ((long)rows[r] * H + h) * D;
#pragma unroll
        for (int n = 0; n < D / 8; n++)
        {
            int col = n * 8 + 2 * c;
            orow[col] = o[n][2 * r] * inv;
            orow[col + 1] = o[n][2 * r + 1] * inv;
        }
    }
}
extern "C" __global__ void flash32x_bf16(const float* q, const u16* k, const u16* v, float* o, int T, int st, int H, int Hkv, int cap, int win, float sc)
{ PALU_GRID_START flash_ldm<32>(q, k, v, o, T, st, H, Hkv, cap, win, sc); }
extern "C" __global__ void flash64x_bf16(const float* q, const u16* k, const u16* v, float* o, int T, int st, int H, int Hkv, int cap, int win, float sc)
{ PALU_GRID_START flash_ldm<64>(q, k, v, o, T, st, H, Hkv, cap, win, sc); }
extern "C" __global__ void flash128x_bf16(const float* q, const u16* k, const u16* v, float* o, int T, int st, int H, int Hkv, int cap, int win, float sc)
{ PALU_GRID_START flash_ldm<128>(q, k, v, o, T, st, H, Hkv, cap, win, sc); }

// ---- the same with cp.async: the next key tile streams into the other half of a double buffer while this one is
// computed (dynamic shared memory: 2 stages × (K, V) × 64 keys × (D + 8) bf16; 68 KiB for D = 128) --------------------
__device__ __forceinline__ void cp_async16(u32 dst, const void* src, bool ok)
{
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;" :: "r"(dst), "l"(src), "r"(ok ? 16 : 0) : "memory");
}
__device__ __forceinline__ void cp_commit() { asm volatile("cp.async.commit_group;" ::: "memory"); }
__device__ __forceinline__ void cp_wait_all() { asm volatile("cp.async.wait_group 0;" ::: "memory"); }
__device__ __forceinline__ void cp_wait_one() { asm volatile("cp.async.wait_group 1;" ::: "memory"); }

template <int D> __device__ void flash_async(const float* q, const u16* k, const u16* v, float* out,
    int T, int start, int H, int Hkv, int cap, int window, float scale)
{
    constexpr int BK = 64, KP = D + 8, PER = BK * D / 8 / 128, TILE = BK * KP;   // TILE: u16 of one K or V tile
    extern __shared__ __attribute__((aligned(16))) u16 smem[];                    // [stage][K, V][key][dim]
    int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, c = lane & 3;
    int h = blockIdx.y, kvh = h / (H / Hkv);
    int tb = (gridDim.x - 1 - blockIdx.x) * 64, t0 = tb + warp * 16;
    const float qs = scale * 1.4426950408889634f;
    u32 qf[D / 16][4];
    {
        const float* r0 = q + ((long)imin(t0 + g, T - 1) * H + h) * D;
        const float* r1 = q + ((long)imin(t0 + g + 8, T - 1) * H + h) * D;
#pragma unroll
        for (int kc = 0; kc < D / 16; kc++)
        {
            int col = kc * 16 + 2 * c;
            qf[kc][0] = pack_bf16(r0[col] * qs, r0[col + 1] * qs);
            qf[kc][1] = pack_bf16(r1[col] * qs, r1[col + 1] * qs);
            qf[kc][2] = pack_bf16(r0[col + 8] * qs, r0[col + 9] * qs);
            qf[kc][3] = pack_bf16(r1[col + 8] * qs, r1[col + 9] * qs);
        }
    }
    float o[D / 8][4];
#pragma unroll
    for (int n = 0; n < D / 8; n++) o[n][0] = o[n][1] = o[n][2] = o[n][3] = 0.0f;
    float mrow[2] = { NEG_INF, NEG_INF }, lrow[2] = { 0.0f, 0.0f };
    int p0 = start + t0 + g, p1 = p0 + 8;
    int last = start + imin(tb + 63, T - 1);
    int firstKey = window > 0 ? imax(0, start + tb - window + 1) : 0;
    int warpFirst = start + t0, warpLast = start + imin(t0 + 15, T - 1);
    const u16* kh = k + (long)kvh * cap * D;
    const u16* vh = v + (long)kvh * cap * D;
    u32 base = smem_u32(smem);
    u32 kLane = ((lane & 7) * KP + 8 * (lane >> 3)) * 2;
    u32 vLane = (((lane & 7) + 8 * ((lane >> 3) & 1)) * KP + 8 * (lane >> 4)) * 2;
    auto issue = [&](int j0, int stage)   // tile j0 into stage: 16-byte copies, zeros past the last key
    {
#pragma unroll
        for (int e = 0; e < PER; e++)
        {
            int i = threadIdx.x + 128 * e, r = i / (D / 8), col = (i % (D / 8)) * 8, j = j0 + r;
            bool ok = j <= last;
            long off = (long)(ok ? j : 0) * D + col;
            u32 at = (u32)((r * KP + col) * 2);
            cp_async16(base + (u32)(stage * 2 * TILE * 2) + at, kh + off, ok);
            cp_async16(base + (u32)((stage * 2 + 1) * TILE * 2) + at, vh + off, ok);
        }
        cp_commit();
    };
    issue(firstKey, 0);
    int stage = 0;
    for (int j0 = firstKey; j0 <= last; j0 += BK, stage ^= 1)
    {
        if (j0 + BK <= last) { issue(j0 + BK, stage ^ 1); cp_wait_one(); }
        else cp_wait_all();
        __syncthreads();   // this tile is in shared memory for every thread
        if (t0 < T && j0 <= warpLast)
            flash_tile<D>(base + (u32)(stage * 2 * TILE * 2) + kLane, base + (u32)((stage * 2 + 1) * TILE * 2) + vLane,
                qf, o, mrow, lrow, j0, p0, p1, warpFirst, window, c);
        __syncthreads();   // done reading this stage before it is refilled
    }
#pragma unroll
    for (int r = 0; r < 2; r++)
    {
        lrow[r] += __shfl_xor_sync(0xffffffffu, lrow[r], 1);
        lrow[r] += __shfl_xor_sync(0xffffffffu, lrow[r], 2);
    }
    int rows[2] = { t0 + g, t0 + g + 8 };
#pragma unroll
    for (int r = 0; r < 2; r++)
    {
        if (rows[r] >= T) continue;
        float inv = lrow[r] > 0 ? 1.0f / lrow[r] : 0.0f;
        float* orow = out + ((long)rows[r] * H + h) * D;
#pragma unroll
        for (int n = 0; n < D / 8; n++)
        {
            int col = n * 8 + 2 * c;
            orow[col] = o[n][2 * r] * inv;
            orow[col + 1] = o[n][2 * r + 1] * inv;
        }
    }
}
extern "C" __global__ void flash32a_bf16(const float* q, const u16* k, const u16* v, float* o, int T, int st, int H, int Hkv, int cap, int win, float sc)
{ PALU_GRID_START flash_async<32>(q, k, v, o, T, st, H, Hkv, cap, win, sc); }
extern "C" __global__ void flash64a_bf16(const float* q, const u16* k, const u16* v, float* o, int T, int st, int H, int Hkv, int cap, int win, float sc)
{ PALU_GRID_START flash_async<64>(q, k, v, o, T, st, H, Hkv, cap, win, sc); }
extern "C" __global__ void flash128a_bf16(const float* q, const u16* k, const u16* v, float* o, int T, int st, int H, int Hkv, int cap, int win, float sc)
{ PALU_GRID_START flash_async<128>(q, k, v, o, T, st, H, Hkv, cap, win, sc); }
