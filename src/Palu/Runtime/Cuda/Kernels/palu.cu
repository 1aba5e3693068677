// Palu.NET CUDA kernels, compiled at first use by NVRTC for the GPU in hand (no includes: bf16/f16 by bit operations
// and PTX conversions). Activations are f32; weights and caches are f32, bf16 or f16 (DT: 0 = f32, 1 = bf16, 2 = f16).
// Every kernel is extern "C" so the host finds it by name. Shapes are row-major, given in each comment.

typedef unsigned short u16;
typedef unsigned int u32;
#define NEG_INF __int_as_float(0xff800000)
// Programmatic dependent launch (sm_90+): a kernel may be started while the one before it still runs; it waits here
// for that one's memory before touching any, and at once lets the next one start the same way. A no-op otherwise.
#if __CUDA_ARCH__ >= 900
#define PALU_GRID_START asm volatile("griddepcontrol.wait;\n\tgriddepcontrol.launch_dependents;" ::: "memory");
#else
#define PALU_GRID_START
#endif
__device__ __forceinline__ int imin(int a, int b) { return a < b ? a : b; }
__device__ __forceinline__ int imax(int a, int b) { return a > b ? a : b; }

__device__ __forceinline__ float bf16_to_f32(u16 h) { return __uint_as_float(((u32)h) << 16); }
__device__ __forceinline__ u16 f32_to_bf16(float f)
{
    u32 u = __float_as_uint(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (u16)((u >> 16) | 0x40);   // NaN stays quiet
    u += 0x7fffu + ((u >> 16) & 1u);                                        // round to nearest even
    return (u16)(u >> 16);
}
__device__ __forceinline__ float f16_to_f32(u16 h) { float f; asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"(h)); return f; }
__device__ __forceinline__ u16 f32_to_f16(float f) { u16 h; asm("cvt.rn.f16.f32 %0, %1;" : "=h"(h) : "f"(f)); return h; }

template <int DT> __device__ __forceinline__ float load(const void* p, long i)
{
    if (DT == 0) return ((const float*)p)[i];
    if (DT == 1) return bf16_to_f32(((const u16*)p)[i]);
    return f16_to_f32(((const u16*)p)[i]);
}
template <int DT> __device__ __forceinline__ void store(void* p, long i, float v)
{
    if (DT == 0) ((float*)p)[i] = v;
    else if (DT == 1) ((u16*)p)[i] = f32_to_bf16(v);
    else ((u16*)p)[i] = f32_to_f16(v);
}

__device__ __forceinline__ float warp_sum(float v)
{
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}
__device__ __forceinline__ float warp_max(float v)
{
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

// ---- elementwise -------------------------------------------------------------------------------------------------

// x [T, d] = rows ids [T] of table [V, d] (DT)
template <int DT> __device__ void embed(const void* table, const int* ids, float* x, int T, int d)
{
    int t = blockIdx.x;
    long row = (long)ids[t] * d;
    for (int i = threadIdx.x; i < d; i += blockDim.x) x[(long)t * d + i] = load<DT>(table, row + i);
}
extern "C" __global__ void embed_f32(const void* w, const int* ids, float* x, int T, int d) { PALU_GRID_START embed<0>(w, ids, x, T, d); }
extern "C" __global__ void embed_bf16(const void* w, const int* ids, float* x, int T, int d) { PALU_GRID_START embed<1>(w, ids, x, T, d); }
extern "C" __global__ void embed_f16(const void* w, const int* ids, float* x, int T, int d) { PALU_GRID_START embed<2>(w, ids, x, T, d); }

// y [n] (bf16 or f16 bits) = x [n] (f32): the activations of a cuBLAS GEMM
extern "C" __global__ void cast_bf16(const float* x, u16* y, long n)
{ PALU_GRID_START
    for (long i = blockIdx.x * (long)blockDim.x + threadIdx.x; i < n; i += (long)gridDim.x * blockDim.x) y[i] = f32_to_bf16(x[i]);
}
extern "C" __global__ void cast_f16(const float* x, u16* y, long n)
{ PALU_GRID_START
    for (long i = blockIdx.x * (long)blockDim.x + threadIdx.x; i < n; i += (long)gridDim.x * blockDim.x) y[i] = f32_to_f16(x[i]);
}

// y [T, m] += b [m]
extern "C" __global__ void add_bias(float* y, const float* b, int T, int m)
{ PALU_GRID_START
    long n = (long)T * m;
    for (long i = blockIdx.x * (long)blockDim.x + threadIdx.x; i < n; i += (long)gridDim.x * blockDim.x) y[i] += b[i % m];
}

// x [n] += y [n]
extern "C" __global__ void add_inplace(float* x, const float* y, long n)
{ PALU_GRID_START
    for (long i = blockIdx.x * (long)blockDim.x + threadIdx.x; i < n; i += (long)gridDim.x * blockDim.x) x[i] += y[i];
}

// silu(g)·u: the SwiGLU of one value, as every kernel that makes it computes it
__device__ __forceinline__ float silu_mul(float g, float u) { return g / (1.0f + __expf(-g)) * u; }

// gate [n] = silu(gate) · up
extern "C" __global__ void swiglu(float* g, const float* u, long n)
{ PALU_GRID_START
    for (long i = blockIdx.x * (long)blockDim.x + threadIdx.x; i < n; i += (long)gridDim.x * blockDim.x) g[i] = silu_mul(g[i], u[i]);
}

// the sum of v over the block's threads (any multiple of 32 up to 1024), returned to all; part: 32 floats of shared memory
__device__ __forceinline__ float block_sum(float v, float* part)
{
    v = warp_sum(v);
    if ((threadIdx.x & 31) == 0) part[threadIdx.x >> 5] = v;
    __syncthreads();
    if (threadIdx.x < 32)
    {
        float t = threadIdx.x < (blockDim.x >> 5) ? part[threadIdx.x] : 0.0f;
        t = warp_sum(t);
        if (threadIdx.x == 0) part[0] = t;
    }
    __syncthreads();
    return part[0];
}

// out [T] = logits[t, targets[t]] − log Σ_j exp(logits[t, j] − max) − max: the log-probability of each row's target,
// so only T numbers leave the GPU. logits [T, V] f32; a block per row.
extern "C" __global__ void logsoftmax_at(const float* logits, const int* targets, float* out, int V)
{ PALU_GRID_START
    __shared__ float part[32];
    const float* l = logits + (long)blockIdx.x * V;
    float m = NEG_INF;
    for (int j = threadIdx.x; j < V; j += blockDim.x) m = fmaxf(m, l[j]);
    m = warp_max(m);
    if ((threadIdx.x & 31) == 0) part[threadIdx.x >> 5] = m;
    __syncthreads();
    m = part[0];
    for (int w = 1; w < (int)(blockDim.x >> 5); w++) m = fmaxf(m, part[w]);
    __syncthreads();   // part is reused by block_sum
    float s = 0.0f;
    for (int j = threadIdx.x; j < V; j += blockDim.x) s += expf(l[j] - m);
    s = block_sum(s, part);
    if (threadIdx.x == 0) out[blockIdx.x] = l[targets[blockIdx.x]] - m - logf(s);
}

// y [rows, n] = x / sqrt(mean(x²) + eps) · w [n]; one block (256 threads) per row; x and y may alias
extern "C" __global__ void rmsnorm(const float* x, const float* w, float* y, int rows, int n, float eps)
{ PALU_GRID_START
    __shared__ float part[32];
    long r = blockIdx.x;
    const float* xr = x + r * n;
    float ss = 0;
    for (int i = threadIdx.x; i < n; i += blockDim.x) ss += xr[i] * xr[i];
    float inv = rsqrtf(block_sum(ss, part) / n + eps);
    for (int i = threadIdx.x; i < n; i += blockDim.x) y[r * n + i] = w[i] * (xr[i] * inv);
}

// x [rows, n] += r [rows, n], then y = x / sqrt(mean(x²) + eps) · w [n]: the residual add and the next norm in one
// pass; one block (256 threads) per row; y may not alias x
extern "C" __global__ void add_rmsnorm(float* x, const float* r, const float* w, float* y, int rows, int n, float eps)
{ PALU_GRID_START
    __shared__ float part[32];
    long row = blockIdx.x;
    float* xr = x + row * n;
    const float* rr = r + row * n;
    float ss = 0;
    for (int i = threadIdx.x; i < n; i += blockDim.x) { float v = xr[i] + rr[i]; xr[i] = v; ss += v * v; }
    float inv = rsqrtf(block_sum(ss, part) / n + eps);
    for (int i = threadIdx.x; i < n; i += blockDim.x) y[row * n + i] = w[i] * (xr[i] * inv);
}

// rmsnorm and add_rmsnorm for rows of n % 4 == 0 floats, 16-byte aligned, n ≤ 16·blockDim: each thread keeps its
// (at most 4) float4 pieces in registers between the sum of squares and the scaling, so x (and r) are read once.
// One block per row; with ADD, x += r first and y may not alias x; without, y may alias x.
template <bool ADD> __device__ void rmsnorm_vec(float* x, const float* r, const float* w, float* y, int n, float eps)
{
    __shared__ float part[32];
    long row = blockIdx.x;
    int n4 = n / 4;
    float4* xr = (float4*)(x + row * n);
    float4 v[4];
    float ss = 0;
#pragma unroll
    for (int k = 0; k < 4; k++)
    {
        int i = threadIdx.x + k * blockDim.x;
        if (i < n4)
        {
            float4 a = xr[i];
            if (ADD)
            {
                float4 b = ((const float4*)(r + row * n))[i];
                a.x += b.x; a.y += b.y; a.z += b.z; a.w += b.w;
                xr[i] = a;
            }
            v[k] = a;
            ss += a.x * a.x + a.y * a.y + a.z * a.z + a.w * a.w;
        }
    }
    float inv = rsqrtf(block_sum(ss, part) / n + eps);
    float4* yr = (float4*)(y + row * n);
#pragma unroll
    for (int k = 0; k < 4; k++)
    {
        int i = threadIdx.x + k * blockDim.x;
        if (i < n4)
        {
            float4 g = ((const float4*)w)[i], a = v[k], o;
            o.x = g.x * (a.x * inv); o.y = g.y * (a.y * inv); o.z = g.z * (a.z * inv); o.w = g.w * (a.w * inv);
            yr[i] = o;
        }
    }
}
extern "C" __global__ void rmsnorm4(const float* x, const float* w, float* y, int rows, int n, float eps)
{ PALU_GRID_START rmsnorm_vec<false>((float*)x, 0, w, y, n, eps); }
extern "C" __global__ void add_rmsnorm4(float* x, const float* r, const float* w, float* y, int rows, int n, float eps)
{ PALU_GRID_START rmsnorm_vec<true>(x, r, w, y, n, eps); }

// in-place rotate-half RoPE. x [T, heads, d]; row t at position start + *shift + t; cos, sin [positions, d/2].
// shift: a device int, 0 except in a replayed decode graph (the steps since the graph was recorded). One thread per
// rotated pair, consecutive threads on consecutive pairs (coalesced).
extern "C" __global__ void rope(float* x, const float* cs, const float* sn, int T, int heads, int d, int start, const int* shift)
{ PALU_GRID_START
    int half = d / 2;
    long total = (long)T * heads * half;
    int s0 = start + *shift;
    for (long i = blockIdx.x * (long)blockDim.x + threadIdx.x; i < total; i += (long)gridDim.x * blockDim.x)
    {
        long th = i / half;
        int j = (int)(i - th * half), t = (int)(th / heads);
        long p = s0 + t;
        float* xr = x + th * d;
        float c = cs[p * half + j], s = sn[p * half + j];
        float x0 = xr[j], x1 = xr[j + half];
        xr[j] = x0 * c - x1 * s;
        xr[j + half] = x1 * c + x0 * s;
    }
}

// one head's row xr [d] at position p rotated by a warp (lane: this thread's lane), two rotated pairs per lane
// (float2 reads at j and j + d/2); d % 4 == 0, xr 8-byte aligned
__device__ __forceinline__ void rope_warp(float* xr, const float* cs, const float* sn, long p, int d, int lane)
{
    int half = d / 2;
    for (int j = lane * 2; j < half; j += 64)
    {
        float2 a = *(float2*)(xr + j), b = *(float2*)(xr + j + half);
        float2 c = *(const float2*)(cs + p * half + j), s = *(const float2*)(sn + p * half + j), ra, rb;
        ra.x = a.x * c.x - b.x * s.x; ra.y = a.y * c.y - b.y * s.y;
        rb.x = b.x * c.x + a.x * s.x; rb.y = b.y * c.y + a.y * s.y;
        *(float2*)(xr + j) = ra;
        *(float2*)(xr + j + half) = rb;
    }
}
// the same RoPE for many rows (prefill): one warp per (row t, head h)
extern "C" __global__ void rope_rows(float* x, const float* cs, const float* sn, int T, int heads, int d, int start, const int* shift)
{ PALU_GRID_START
    int r = blockIdx.x * 8 + (threadIdx.x >> 5);
    if (r >= T * heads) return;
    rope_warp(x + (long)r * d, cs, sn, start + *shift + r / heads, d, threadIdx.x & 31);
}

// y [T, m] = x [T, n] columns cols [m]; with accumulate, y += instead
extern "C" __global__ void gather(const float* x, const int* cols, float* y, int T, int n, int m, int accumulate)
{ PALU_GRID_START
    long total = (long)T * m;
    for (long i = blockIdx.x * (long)blockDim.x + threadIdx.x; i < total; i += (long)gridDim.x * blockDim.x)
    {
        long t = i / m;
        int j = (int)(i % m);
        float v = x[t * n + cols[j]];
        y[i] = accumulate ? y[i] + v : v;
    }
}

// dst[t, dstCol + j] = src[t, srcCol + j] for t < rows, j < width
extern "C" __global__ void copy_block(const float* src, int srcStride, int srcCol, float* dst, int dstStride, int dstCol, int rows, int width)
{ PALU_GRID_START
    long total = (long)rows * width;
    for (long i = blockIdx.x * (long)blockDim.x + threadIdx.x; i < total; i += (long)gridDim.x * blockDim.x)
    {
        long t = i / width;
        int j = (int)(i % width);
        dst[t * dstStride + dstCol + j] = src[t * srcStride + srcCol + j];
    }
}

// cache store [heads, cap, width] (DT) rows [start, start + T) = src [T, rowStride] at column + h·width (start
// moved by *shift, as in rope); one thread per element, consecutive threads on consecutive columns
template <int DT> __device__ void store_rows(const float* src, int rowStride, int column, void* dst, int heads, int cap, int width, int start, int T)
{
    long total = (long)T * heads * width;
    for (long i = blockIdx.x * (long)blockDim.x + threadIdx.x; i < total; i += (long)gridDim.x * blockDim.x)
    {
        long th = i / width;
        int e = (int)(i - th * width), h = (int)(th % heads), t = (int)(th / heads);
        store<DT>(dst, ((long)h * cap + start + t) * width + e, src[(long)t * rowStride + column + (long)h * width + e]);
    }
}
// one head's row sr [width] stored by a warp at element base of the cache, four consecutive columns per lane;
// width % 4 == 0, sr 16-byte aligned
template <int DT> __device__ __forceinline__ void store_warp4(const float* sr, void* dst, long base, int width, int lane)
{
    for (int e = lane * 4; e < width; e += 128)
    {
        float4 v = *(const float4*)(sr + e);
        if (DT == 0) *(float4*)((float*)dst + base + e) = v;
        else
        {
            u16 a = DT == 1 ? f32_to_bf16(v.x) : f32_to_f16(v.x), b = DT == 1 ? f32_to_bf16(v.y) : f32_to_f16(v.y);
            u16 c = DT == 1 ? f32_to_bf16(v.z) : f32_to_f16(v.z), d = DT == 1 ? f32_to_bf16(v.w) : f32_to_f16(v.w);
            *(uint2*)((u16*)dst + base + e) = make_uint2(a | (u32)b << 16, c | (u32)d << 16);
        }
    }
}
// the same store for many rows (prefill): one warp per (row t, head h); the source columns 16-byte aligned (rowStride
// and column % 4 == 0)
template <int DT> __device__ void store_rows4(const float* src, int rowStride, int column, void* dst, int heads, int cap, int width, int start, int T)
{
    int r = blockIdx.x * 8 + (threadIdx.x >> 5);
    if (r >= T * heads) return;
    int t = r / heads, h = r - t * heads;
    store_warp4<DT>(src + (long)t * rowStride + column + (long)h * width, dst, ((long)h * cap + start + t) * width, width, threadIdx.x & 31);
}
extern "C" __global__ void store4_f32(const float* s, int rs, int c, void* d, int h, int cap, int w, int st, int T, const int* sh) { PALU_GRID_START store_rows4<0>(s, rs, c, d, h, cap, w, st + *sh, T); }
extern "C" __global__ void store4_bf16(const float* s, int rs, int c, void* d, int h, int cap, int w, int st, int T, const int* sh) { PALU_GRID_START store_rows4<1>(s, rs, c, d, h, cap, w, st + *sh, T); }
extern "C" __global__ void store4_f16(const float* s, int rs, int c, void* d, int h, int cap, int w, int st, int T, const int* sh) { PALU_GRID_START store_rows4<2>(s, rs, c, d, h, cap, w, st + *sh, T); }
extern "C" __global__ void store_f32(const float* s, int rs, int c, void* d, int h, int cap, int w, int st, int T, const int* sh) { PALU_GRID_START store_rows<0>(s, rs, c, d, h, cap, w, st + *sh, T); }
extern "C" __global__ void store_bf16(const float* s, int rs, int c, void* d, int h, int cap, int w, int st, int T, const int* sh) { PALU_GRID_START store_rows<1>(s, rs, c, d, h, cap, w, st + *sh, T); }
extern "C" __global__ void store_f16(const float* s, int rs, int c, void* d, int h, int cap, int w, int st, int T, const int* sh) { PALU_GRID_START store_rows<2>(s, rs, c, d, h, cap, w, st + *sh, T); }

// ---- matrix-vector: y [T, m] = x [T, n] · Wᵀ, W [m, n] with rows `stride` elements apart, T ≤ 8 ----------------
// One warp per output row, 8 warps per block. The vector path reads W in 16-byte pieces (8 bf16/f16 or 4 f32 per
// lane), used when every row start is 16-byte aligned and n fills whole pieces; the scalar path covers the rest.

template <int DT> __device__ __forceinline__ void load8(const void* w, long i, float* out)
{
    if (DT == 0)
    {
        float4 a = *(const float4*)((const float*)w + i), b = *(const float4*)((const float*)w + i + 4);
        out[0] = a.x; out[1] = a.y; out[2] = a.z; out[3] = a.w; out[4] = b.x; out[5] = b.y; out[6] = b.z; out[7] = b.w;
    }
    else
    {
        uint4 v = *(const uint4*)((const u16*)w + i);
        u32 q[4] = { v.x, v.y, v.z, v.w };
#pragma unroll
        for (int k = 0; k < 4; k++)
        {
            out[2 * k] = DT == 1 ? bf16_to_f32((u16)(q[k] & 0xffffu)) : f16_to_f32((u16)(q[k] & 0xffffu));
            out[2 * k + 1] = DT == 1 ? bf16_to_f32((u16)(q[k] >> 16)) : f16_to_f32((u16)(q[k] >> 16));
        }
    }
}

template <int DT> __device__ void gemv(const void* w, int stride, const float* x, float* y, int T, int n, int m, int vec)
{
    int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    int o = blockIdx.x * (blockDim.x >> 5) + warp;
    if (o >= m) return;
    float acc[8];
#pragma unroll
    for (int t = 0; t < 8; t++) acc[t] = 0.0f;
    long row = (long)o * stride;
    if (vec)
    {
        // four 16-byte pieces of W in flight per lane before they are used
        for (int i0 = lane * 8; i0 < n; i0 += 1024)
        {
            float wv[4][8];
#pragma unroll
            for (int u = 0; u < 4; u++)
            {
                int i = i0 + u * 256;
                if (i < n) load8<DT>(w, row + i, wv[u]);
            }
#pragma unroll
            for (int u = 0; u < 4; u++)
            {
                int i = i0 + u * 256;
#pragma unroll
                for (int t = 0; t < 8; t++)
                {
                    if (t < T && i < n)
                    {
                        const float4* xp = (const float4*)(x + (long)t * n + i);
                        float4 a = xp[0], b = xp[1];
                        acc[t] += wv[u][0] * a.x + wv[u][1] * a.y + wv[u][2] * a.z + wv[u][3] * a.w
                                + wv[u][4] * b.x + wv[u][5] * b.y + wv[u][6] * b.z + wv[u][7] * b.w;
                    }
                }
            }
        }
    }
    else
    {
        for (int i = lane; i < n; i += 32)
        {
            float wv = load<DT>(w, row + i);
#pragma unroll
            for (int t = 0; t < 8; t++) if (t < T) acc[t] += wv * x[(long)t * n + i];
        }
    }
#pragma unroll
    for (int t = 0; t < 8; t++)
    {
        if (t < T)
        {
            float s = warp_sum(acc[t]);
            if (lane == 0) y[(long)t * m + o] = s;
        }
    }
}
extern "C" __global__ void gemv_f32(const void* w, int s, const float* x, float* y, int T, int n, int m, int v) { PALU_GRID_START gemv<0>(w, s, x, y, T, n, m, v); }
extern "C" __global__ void gemv_bf16(const void* w, int s, const float* x, float* y, int T, int n, int m, int v) { PALU_GRID_START gemv<1>(w, s, x, y, T, n, m, v); }
extern "C" __global__ void gemv_f16(const void* w, int s, const float* x, float* y, int T, int n, int m, int v) { PALU_GRID_START gemv<2>(w, s, x, y, T, n, m, v); }

// ---- attention (flash-decoding style, f32 math) ----------------------------------------------------------------
// One warp per (query row t, head h, key split s); 4 warps per block. q [T, H, d]; k [Hkv, cap, d] and v [Hkv, cap, dv]
// (DT); query t (position p = start + t) of head h reads KV head h / (H / Hkv), keys j in [first, p] ∩ the split
// [s·splitLen, (s+1)·splitLen) with first = max(0, p − window + 1) when window > 0. Online softmax over the keys.
// With one split the result goes to out [T, H, dv]; with several, each writes its (max, sum, acc[dv]) to
// part [T·H, splits, 2 + dv] and attn_combine merges them. d, dv ≤ 256 (8 values per lane).

#define MAXPL 8

template <int DT> __device__ void attention(const float* q, const void* k, const void* v, float* out, float* part,
    int T, int start, int H, int Hkv, int d, int dv, int cap, int window, int splits, int splitLen, float scale)
{
    int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    long item = (long)blockIdx.x * (blockDim.x >> 5) + warp;   // t·H + h
    int s = blockIdx.y;
    if (item >= (long)T * H) return;
    int t = (int)(item / H), h = (int)(item % H);
    int kvh = h / (H / Hkv);
    int p = start + t;
    int first = window > 0 ? imax(0, p - window + 1) : 0;
    int j0 = imax(first, s * splitLen), j1 = imin(p + 1, (s + 1) * splitLen);
    float qv[MAXPL], acc[MAXPL];
    const float* qr = q + item * d;
#pragma unroll
    for (int e = 0; e < MAXPL; e++) { int i = lane + 32 * e; qv[e] = i < d ? qr[i] * scale : 0.0f; acc[e] = 0.0f; }
    float mx = NEG_INF, sum = 0.0f;
    long kbase = (long)kvh * cap * d, vbase = (long)kvh * cap * dv;
    // four keys at a time: their K loads, dot products and reductions, then their V loads, then the online updates
    for (int j = j0; j < j1; j += 4)
    {
        float dot[4], vv[4][MAXPL];
#pragma unroll
        for (int u = 0; u < 4; u++)
        {
            float a = 0.0f;
            if (j + u < j1)
            {
#pragma unroll
                for (int e = 0; e < MAXPL; e++) { int i = lane + 32 * e; if (i < d) a += qv[e] * load<DT>(k, kbase + (long)(j + u) * d + i); }
            }
            dot[u] = a;
        }
#pragma unroll
        for (int u = 0; u < 4; u++) dot[u] = warp_sum(dot[u]);
#pragma unroll
        for (int u = 0; u < 4; u++)
        {
#pragma unroll
            for (int e = 0; e < MAXPL; e++) { int i = lane + 32 * e; vv[u][e] = (j + u < j1 && i < dv) ? load<DT>(v, vbase + (long)(j + u) * dv + i) : 0.0f; }
        }
#pragma unroll
        for (int u = 0; u < 4; u++)
        {
            float du = j + u < j1 ? dot[u] : NEG_INF;   // past the split: weight 0, nothing changes
            float nm = fmaxf(mx, du);
            float corr = __expf(mx - nm), pj = __expf(du - nm);
            sum = sum * corr + pj;
#pragma unroll
            for (int e = 0; e < MAXPL; e++) acc[e] = acc[e] * corr + pj * vv[u][e];
            mx = nm;
        }
    }
    if (splits == 1)
    {
        float inv = sum > 0 ? 1.0f / sum : 0.0f;
#pragma unroll
        for (int e = 0; e < MAXPL; e++) { int i = lane + 32 * e; if (i < dv) out[item * dv + i] = acc[e] * inv; }
    }
    else
    {
        float* pr = part + (item * splits + s) * (2 + dv);
        if (lane == 0) { pr[0] = mx; pr[1] = sum; }
#pragma unroll
        for (int e = 0; e < MAXPL; e++) { int i = lane + 32 * e; if (i < dv) pr[2 + i] = acc[e]; }
    }
}
extern "C" __global__ void attn_f32(const float* q, const void* k, const void* v, float* o, float* part, int T, int st, int H, int Hkv, int d, int dv, int cap, int win, int sp, int sl, float sc)
{ PALU_GRID_START attention<0>(q, k, v, o, part, T, st, H, Hkv, d, dv, cap, win, sp, sl, sc); }
extern "C" __global__ void attn_bf16(const float* q, const void* k, const void* v, float* o, float* part, int T, int st, int H, int Hkv, int d, int dv, int cap, int win, int sp, int sl, float sc)
{ PALU_GRID_START attention<1>(q, k, v, o, part, T, st, H, Hkv, d, dv, cap, win, sp, sl, sc); }
extern "C" __global__ void attn_f16(const float* q, const void* k, const void* v, float* o, float* part, int T, int st, int H, int Hkv, int d, int dv, int cap, int win, int sp, int sl, float sc)
{ PALU_GRID_START attention<2>(q, k, v, o, part, T, st, H, Hkv, d, dv, cap, win, sp, sl, sc); }

// out [items, dv] = merge of part [items, splits, 2 + dv]; one warp per item, 4 per block
extern "C" __global__ void attn_combine(const float* part, float* out, int items, int splits, int dv)
{ PALU_GRID_START
    int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    long item = (long)blockIdx.x * (blockDim.x >> 5) + warp;
    if (item >= items) return;
    const float* pr = part + item * splits * (2 + dv);
    float M = NEG_INF;
    for (int s = 0; s < splits; s++) M = fmaxf(M, pr[s * (2 + dv)]);
    float l = 0.0f;
    for (int s = 0; s < splits; s++) { float m = pr[s * (2 + dv)]; if (m > NEG_INF) l += __expf(m - M) * pr[s * (2 + dv) + 1]; }
    float inv = l > 0 ? 1.0f / l : 0.0f;
    for (int i = lane; i < dv; i += 32)
    {
        float a = 0.0f;
        for (int s = 0; s < splits; s++) { float m = pr[s * (2 + dv)]; if (m > NEG_INF) a += __expf(m - M) * pr[s * (2 + dv) + 2 + i]; }
        out[item * dv + i] = a * inv;
    }
}

// ---- split-key decode attention (few query rows) ------------------------------------------------------------------
// One block of 128 threads per (query row t, head h, split s of 128 keys): thread j scores key s·128 + j (a whole
// K row per thread, 16-byte loads when vec), the block takes the split's max and sum, then thread i accumulates value
// column i over the split's keys. The partial (max, sum, acc[dv]) goes to part [T·H, splits, 2 + dv]; attn_combine
// merges the splits. q [T, H, d]; k [Hkv, cap, d], v [Hkv, cap, dv] (DT); d, dv ≤ 256.
template <int DT> __device__ void attention_split(const float* q, const void* k, const void* v, float* part,
    int T, int start, int H, int Hkv, int d, int dv, int cap, int window, int splits, float scale, int vec)
{
    // a split wholly past the query's position (a replayed graph's grid covers a bucket of positions) is empty
    if (blockIdx.y * 128 > start + (int)(blockIdx.x / H))
    {
        float* pe = part + ((long)blockIdx.x * splits + blockIdx.y) * (2 + dv);
        for (int i = threadIdx.x; i < 2 + dv; i += blockDim.x) pe[i] = i == 0 ? NEG_INF : 0.0f;
        return;
    }
    __shared__ float qs[256];
    __shared__ float ps[128];
    __shared__ float red[4];
    int item = blockIdx.x, s = blockIdx.y, tid = threadIdx.x;
    int t = item / H, h = item % H, kvh = h / (H / Hkv), p = start + t;
    int first = window > 0 ? imax(0, p - window + 1) : 0;
    for (int i = tid; i < d; i += blockDim.x) qs[i] = q[(long)item * d + i] * scale;
    __syncthreads();
    int j = s * 128 + tid;
    float sc = NEG_INF;
    if (j >= first && j <= p)
    {
        long kb = ((long)kvh * cap + j) * d;
        float a = 0.0f;
        if (vec)
        {
            for (int i = 0; i < d; i += 8)
            {
                float kv8[8];
                load8<DT>(k, kb + i, kv8);
#pragma unroll
                for (int e = 0; e < 8; e++) a += qs[i + e] * kv8[e];
            }
        }
        else
            for (int i = 0; i < d; i++) a += qs[i] * load<DT>(k, kb + i);
        sc = a;
    }
    float m = warp_max(sc);
    if ((tid & 31) == 0) red[tid >> 5] = m;
    __syncthreads();
    m = fmaxf(fmaxf(red[0], red[1]), fmaxf(red[2], red[3]));
    __syncthreads();
    float pj = sc == NEG_INF ? 0.0f : __expf(sc - m);
    ps[tid] = pj;
    float l = warp_sum(pj);
    if ((tid & 31) == 0) red[tid >> 5] = l;
    __syncthreads();
    l = red[0] + red[1] + red[2] + red[3];
    float* pr = part + ((long)item * splits + s) * (2 + dv);
    if (tid == 0) { pr[0] = m; pr[1] = l; }
    int n = imin(128, p + 1 - s * 128);
    for (int i = tid; i < dv; i += blockDim.x)
    {
        float acc = 0.0f;
        long vb = ((long)kvh * cap + (long)s * 128) * dv + i;
#pragma unroll 8
        for (int jj = 0; jj < n; jj++) acc += ps[jj] * load<DT>(v, vb + (long)jj * dv);
        pr[2 + i] = acc;
    }
}
extern "C" __global__ void attn_split_f32(const float* q, const void* k, const void* v, float* part, int T, int st, int H, int Hkv, int d, int dv, int cap, int win, int sp, float sc, int vec, const int* sh)
{ PALU_GRID_START attention_split<0>(q, k, v, part, T, st + *sh, H, Hkv, d, dv, cap, win, sp, sc, vec); }
extern "C" __global__ void attn_split_bf16(const float* q, const void* k, const void* v, float* part, int T, int st, int H, int Hkv, int d, int dv, int cap, int win, int sp, float sc, int vec, const int* sh)
{ PALU_GRID_START attention_split<1>(q, k, v, part, T, st + *sh, H, Hkv, d, dv, cap, win, sp, sc, vec); }
extern "C" __global__ void attn_split_f16(const float* q, const void* k, const void* v, float* part, int T, int st, int H, int Hkv, int d, int dv, int cap, int win, int sp, float sc, int vec, const int* sh)
{ PALU_GRID_START attention_split<2>(q, k, v, part, T, st + *sh, H, Hkv, d, dv, cap, win, sp, sc, vec); }
