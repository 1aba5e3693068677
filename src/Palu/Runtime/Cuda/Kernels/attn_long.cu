// Long-context decode attention (appended after decode.cu, whose helpers it uses), taken when C > 1 chunks per block
// still leave 4 blocks per multiprocessor (CudaBackend.LongSplits; PALU_CUDA_ATTN_CHUNKS=C forces C). attn_decode
// gives each block one split of 128 keys: at
// 16K context and batch 8 that is 32,768 blocks per layer, each paying its start, its reductions, a partial and a
// merge count for 64 KiB of keys and values. Here a block walks C consecutive chunks of 128 keys (its split is 128·C
// keys) with an online softmax, and the next chunk's K rows are in flight while this chunk's softmax and values run
// (its V rows while the next scores run), in the same registers: C times fewer blocks, partials and merge inputs.
//
// Same layout and contract as attn_decode (q [T, H, D], k/v [Hkv, cap, D] bf16, query t at p = start + *shift + t
// sees [first, p]; part [T·H, splits, 2 + D]; a split without visible keys is written empty; the last block of an
// item merges), splits counted in blocks of 128·C keys. One block of 4 warps; D = 64 or 128.
template <int D> __device__ void attn_decode_chunks(const float* q, const u16* k, const u16* v, float* part, float* out, int* cnt,
    const int* shift, int T, int start, int H, int Hkv, int cap, int window, int splits, int chunks, float scale)
{
    constexpr int LPK = D / 8, KPW = 32 / LPK, NIT = 32 / KPW;   // lanes per key, keys per warp load, loads per warp
    __shared__ float ps[128];      // this chunk's scores, then weights: warp w owns [32w, 32w + 32)
    __shared__ float red[4];
    __shared__ float accs[4][D];
    int item = blockIdx.x, s = blockIdx.y, tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
    int t = item / H, h = item % H, kvh = h / (H / Hkv), p = start + *shift + t;
    int first = window > 0 ? imax(0, p - window + 1) : 0;
    int k0 = s * 128 * chunks;                       // this block's first key
    float* pr = part + ((long)item * splits + s) * (2 + D);
    if (k0 > p || k0 + 128 * chunks - 1 < first)
    {
        for (int i = tid; i < 2 + D; i += blockDim.x) pr[i] = i == 0 ? NEG_INF : 0.0f;
        merge_if_last<D>(part + (long)item * splits * (2 + D), out + (long)item * D, cnt + item, splits);
        return;
    }
    // chunks cFirst..cLast hold visible keys (the first one holds `first` or starts after it, the last one holds p)
    int cFirst = imax(0, (first - k0) / 128), cLast = imin(chunks - 1, (p - k0) / 128);
    int sub = lane / LPK, col = (lane % LPK) * 8;   // this lane's key within a warp load, its 8 columns
    const float4* qp = (const float4*)(q + (long)item * D + col);
    float4 qa = qp[0], qb = qp[1];
    qa.x *= scale; qa.y *= scale; qa.z *= scale; qa.w *= scale; qb.x *= scale; qb.y *= scale; qb.z *= scale; qb.w *= scale;
    const u16* kbase = k + (long)kvh * cap * D + col;
    const u16* vbase = v + (long)kvh * cap * D + col;
    uint4 rk[NIT], rv[NIT];
    warp_rows<D>(rk, kbase, k0 + cFirst * 128 + warp * 32, sub, first, p);
    warp_rows<D>(rv, vbase, k0 + cFirst * 128 + warp * 32, sub, first, p);
    float M = NEG_INF, l = 0.0f, acc[8];   // running max (block-wide), this thread's share of Σ weights, its values
#pragma unroll
    for (int e = 0; e < 8; e++) acc[e] = 0.0f;
    for (int c = cFirst; c <= cLast; c++)
    {
        int kb = k0 + c * 128 + warp * 32;           // this warp's first key of the chunk
        warp_scores<D>(ps, rk, qa, qb, kb, warp, lane, first, p);
        if (c < cLast) warp_rows<D>(rk, kbase, kb + 128, sub, first, p);   // the next keys, while this chunk's softmax and values run
        __syncthreads();
        float sc = ps[tid];
        float m = warp_max(sc);
        if (lane == 0) red[warp] = m;
        __syncthreads();
        float Mnew = fmaxf(M, fmaxf(fmaxf(red[0], red[1]), fmaxf(red[2], red[3])));   // finite: the chunk has a visible key
        float corr = M == NEG_INF ? 0.0f : __expf(M - Mnew);
        M = Mnew;
        float pj = sc == NEG_INF ? 0.0f : __expf(sc - M);
        ps[tid] = pj;
        l = l * corr + pj;
        __syncwarp();
#pragma unroll
        for (int e = 0; e < 8; e++) acc[e] *= corr;
        warp_values<D>(acc, ps, rv, warp, sub);
        if (c < cLast) warp_rows<D>(rv, vbase, kb + 128, sub, first, p);   // the next values, while its scores run
        __syncwarp();   // this warp's ps reads are done before the next chunk's scores overwrite them
    }
    l = warp_sum(l);
    __syncthreads();   // every thread read red in the last chunk
    if (lane == 0) red[warp] = l;
    write_split<D>(acc, accs, red, M, pr);
    merge_if_last<D>(part + (long)item * splits * (2 + D), out + (long)item * D, cnt + item, splits);
}
extern "C" __global__ void attn_decodec64_bf16(const float* q, const u16* k, const u16* v, float* part, float* o, int* cnt, const int* sh, int T, int st, int H, int Hkv, int cap, int win, int sp, int ch, float sc)
{ PALU_GRID_START attn_decode_chunks<64>(q, k, v, part, o, cnt, sh, T, st, H, Hkv, cap, win, sp, ch, sc); }
extern "C" __global__ void attn_decodec128_bf16(const float* q, const u16* k, const u16* v, float* part, float* o, int* cnt, const int* sh, int T, int st, int H, int Hkv, int cap, int win, int sp, int ch, float sc)
{ PALU_GRID_START attn_decode_chunks<128>(q, k, v, part, o, cnt, sh, T, st, H, Hkv, cap, win, sp, ch, sc); }

// the same for up to 8 sequences in one launch (grid z = sequence; as attn_decode_multi)
template <int D> __device__ void attn_decode_chunks_multi(const float* q, float* part, float* out, int* cnt, const int* shift, const SeqTable& tab,
    int H, int Hkv, int window, int splits, int chunks, float scale)
{
    int b = blockIdx.z, st, cap;
    const u16* k; const u16* v;
    seq_entry(tab, b, k, v, st, cap);
    attn_decode_chunks<D>(q + (long)b * H * D, k, v, part + (long)b * H * splits * (2 + D), out + (long)b * H * D, cnt + b * H, shift,
        1, st, H, Hkv, cap, window, splits, chunks, scale);
}
extern "C" __global__ void attn_decodemc64_bf16(const float* q, float* part, float* o, int* cnt, const int* sh, SeqTable tab, int H, int Hkv, int win, int sp, int ch, float sc)
{ PALU_GRID_START attn_decode_chunks_multi<64>(q, part, o, cnt, sh, tab, H, Hkv, win, sp, ch, sc); }
extern "C" __global__ void attn_decodemc128_bf16(const float* q, float* part, float* o, int* cnt, const int* sh, SeqTable tab, int H, int Hkv, int win, int sp, int ch, float sc)
{ PALU_GRID_START attn_decode_chunks_multi<128>(q, part, o, cnt, sh, tab, H, Hkv, win, sp, ch, sc); }
