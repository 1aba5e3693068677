"""On the GPU machine: transformers (sdpa attention, bf16, StaticCache) on the same weights as palu bench, same
protocol: decode at context C (the static cache counts C positions, never written: zeros), B sequences per step,
3 warm-up + N timed steps; prefill of N tokens without a cache (through the compiled forward too). Optionally torch.compile (--compile-mode, default
reduce-overhead; "default" is inductor without CUDA graphs); then one eager step first makes the static cache's
tensors outside the compiled function, and a decode row that fails reports its error instead of ending the run.
Prints one JSON object. usage: python3 torch_bench.py MODEL --context 1024,16384 --batch 1,8 --prefill 512,4096 [--compile [--compile-mode M]]"""
import argparse, inspect, json, signal, sys, time
import torch, transformers
from transformers import AutoModelForCausalLM, StaticCache

ap = argparse.ArgumentParser()
ap.add_argument("model")
ap.add_argument("--context", default="1024")
ap.add_argument("--batch", default="1")
ap.add_argument("--steps", type=int, default=16)
ap.add_argument("--prefill", default="")
ap.add_argument("--compile", action="store_true")
ap.add_argument("--compile-mode", default="reduce-overhead")
a = ap.parse_args()
model = AutoModelForCausalLM.from_pretrained(a.model, dtype=torch.bfloat16, attn_implementation="sdpa").cuda().eval()
V = model.config.vocab_size

def make_cache(B, L):
    p = inspect.signature(StaticCache.__init__).parameters
    kw = {"config": model.config, "max_cache_len": L}
    if "max_batch_size" in p: kw["max_batch_size"] = B
    elif "batch_size" in p: kw["batch_size"] = B
    if "device" in p: kw["device"] = "cuda"
    if "dtype" in p: kw["dtype"] = torch.bfloat16
    return StaticCache(**kw)

fwd = model.forward
if a.compile:
    fwd = torch.compile(model.forward, mode=a.compile_mode, fullgraph=True)
graphs = a.compile and "overhead" in a.compile_mode

def decode(C, B, G):
    cache = make_cache(B, C + 3 + G)
    gen = torch.Generator(device="cuda").manual_seed(C + B)
    def step(pos):
        ids = torch.randint(2, V, (B, 1), device="cuda", generator=gen)
        cp = torch.tensor([pos], device="cuda")
        if graphs: torch.compiler.cudagraph_mark_step_begin()   # each step a new CUDA-graph replay (the cache is updated in place)
        out = fwd(input_ids=ids, past_key_values=cache, cache_position=cp, position_ids=cp.expand(B, 1), use_cache=True)
        return out.logits
    with torch.no_grad():
        if a.compile:   # the cache's lazily made tensors come into being here, outside the compiled function
            ids = torch.randint(2, V, (B, 1), device="cuda", generator=gen); cp = torch.tensor([C - 1], device="cuda")
            model.forward(input_ids=ids, past_key_values=cache, cache_position=cp, position_ids=cp.expand(B, 1), use_cache=True)
        t = time.perf_counter()
        for i in range(3): step(C + i)
        torch.cuda.synchronize()
        print(f"warm-up (with compilation when --compile): {time.perf_counter() - t:.1f} s", file=sys.stderr, flush=True)
        t = time.perf_counter()
        for i in range(G): step(C + 3 + i)
        torch.cuda.synchronize(); s = time.perf_counter() - t
    del cache; torch.cuda.empty_cache()
    return {"context": C, "batch": B, "steps": G, "ms_per_step": s * 1000 / G, "tokens_per_s": B * G / s}

rows = []
for C in [int(x) for x in a.context.split(",") if x]:
    for B in [int(x) for x in a.batch.split(",") if x]:
        try: rows.append(decode(C, B, a.steps))
        except torch.OutOfMemoryError as e:
            rows.append({"context": C, "batch": B, "error": "does not fit (out of memory)"}); torch.cuda.empty_cache()
        except RuntimeError as e:
            rows.append({"context": C, "batch": B, "error": str(e).splitlines()[0][:300]}); torch.cuda.empty_cache()
        print(rows[-1], file=sys.stderr, flush=True)
pre = []
for N in [int(x) for x in a.prefill.split(",") if x]:
    ids = torch.randint(2, V, (1, N), device="cuda")
    def run():   # compiled (with --compile) like the decode steps; CUDA-graph modes mark each call a new replay
        if graphs: torch.compiler.cudagraph_mark_step_begin()
        return fwd(input_ids=ids, use_cache=False)
    with torch.no_grad():
        t = time.perf_counter(); run(); run(); torch.cuda.synchronize()
        print(f"prefill {N} warm-up (with compilation when --compile): {time.perf_counter() - t:.1f} s", file=sys.stderr, flush=True)
        ts = []
        for _ in range(3):
            t = time.perf_counter(); run(); torch.cuda.synchronize(); ts.append(time.perf_counter() - t)
    ts.sort(); pre.append({"tokens": N, "seconds": ts[1], "tokens_per_s": N / ts[1]})
    print(pre[-1], file=sys.stderr, flush=True)
print(json.dumps({"bench": "transformers", "transformers": transformers.__version__, "torch": torch.__version__, "compile": a.compile and a.compile_mode, "decode": rows, "prefill": pre}))
