// Prefill attention on the tensor cores (appended to palu.cu by the backend): flash-attention style, bf16 operands
// with f32 accumulation through mma.sync m16n8k16, no T×T matrix anywhere.
//
// Fragment layout of mma.m16n8k16 (g = lane / 4, c = lane % 4; a register holds two bf16, the lower column first):
//   A [16 × 16] row-major: a0 (row g, cols 2c..2c+1), a1 (row g+8, same), a2 (row g, cols 2c+8..), a3 (row g+8, cols 2c+8..)
//   B [16 × 8] (k × n):    b0 (k 2c..2c+1, col g), b1 (k 2c+8..2c+9, col g)
//   C [16 × 8] f32:        c0, c1 (row g, cols 2c, 2c+1), c2, c3 (row g+8, same cols)
// (mma_bf16 and pack_bf16 are in decode.cu)

// shared-memory address, ldmatrix (four 8×8 b16 blocks; .trans: transposed), cp.async (16 bytes, zeros when !ok)
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

__device__ __forceinline__ void cp_async16(u32 dst, const void* src, bool ok)
{
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;" :: "r"(dst), "l"(src), "r"(ok ? 16 : 0) : "memory");
}
__device__ __forceinline__ void cp_commit() { asm volatile("cp.async.commit_group;" ::: "memory"); }
__device__ __forceinline__ void cp_wait_all() { asm volatile("cp.async.wait_group 0;" ::: "memory"); }
__device__ __forceinline__ void cp_wait_one() { asm volatile("cp.async.wait_group 1;" ::: "memory"); }

// q [T, H, D] f32 (RoPE applied); k, v [Hkv, cap, D] bf16 (the cache, positions [0, start + T) filled); out [T, H, D].
// Query t sits at position p = start + t and sees keys [first, p], first = max(0, p − window + 1) with a window.
// Block: 4 warps × 16 query rows (tile `tile`) of one head (grid: ⌈T/64⌉ × H, the heaviest query tiles, the last, started first);
// key tiles of 64 stream with cp.async into a double buffer in dynamic shared memory (2 stages × (K, V) × 64 keys ×
// (D + 8) bf16, 68 KiB for D = 128), both kept [key][dim]: the B operands come from ldmatrix (K as stored, V by
// .trans). Scores are kept in the base-2 domain (q pre-scaled by scale·log2 e); tiles wholly visible to a warp's
// rows skip the mask. D = 32, 64 or 128. (On the 7B shapes, H200, prefill of 4096: 151 ms against 155 with one buffer
// filled through registers and 181 with element-wise operand loads and a transposed V; 8 warps sharing the tiles of
// 128 query rows: 888 µs per layer against 653 with 4.)
template <int D> __device__ void flash_prefill(const float* q, const u16* k, const u16* v, float* out,
    int T, int start, int H, int Hkv, int cap, int window, float scale, int tile)
{
    constexpr int BK = 64, KP = D + 8, PER = BK * D / 8 / 128, TILE = BK * KP;   // TILE: u16 of one K or V tile
    extern __shared__ __attribute__((aligned(16))) u16 smem[];                    // [stage][K, V][key][dim]
    int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, c = lane & 3;
    int h = blockIdx.y, kvh = h / (H / Hkv);
    int tb = tile * 64, t0 = tb + warp * 16;
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
extern "C" __global__ void flash32_bf16(const float* q, const u16* k, const u16* v, float* o, int T, int st, int H, int Hkv, int cap, int win, float sc)
{ PALU_GRID_START flash_prefill<32>(q, k, v, o, T, st, H, Hkv, cap, win, sc, gridDim.x - 1 - blockIdx.x); }
extern "C" __global__ void flash64_bf16(const float* q, const u16* k, const u16* v, float* o, int T, int st, int H, int Hkv, int cap, int win, float sc)
{ PALU_GRID_START flash_prefill<64>(q, k, v, o, T, st, H, Hkv, cap, win, sc, gridDim.x - 1 - blockIdx.x); }
extern "C" __global__ void flash128_bf16(const float* q, const u16* k, const u16* v, float* o, int T, int st, int H, int Hkv, int cap, int win, float sc)
{ PALU_GRID_START flash_prefill<128>(q, k, v, o, T, st, H, Hkv, cap, win, sc, gridDim.x - 1 - blockIdx.x); }
