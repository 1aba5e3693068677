"""On the GPU machine: a random-weight model of Llama-2-7B shape in bf16 (hidden 4096, 32 layers, 32 heads x 128,
ffn 11008, vocab 32000; max_position_embeddings raised to cover 64K contexts), saved with transformers'
save_pretrained, and beside it a Palu checkpoint of the same weights whose K/V projections are random low-rank
factors of the keep-0.5 G-LRD shape (groups of 4 KV heads, rank 256 each): for speed measurements, not quality.
usage: python3 make_llama7b.py OUT_DIR [--layers 32] [--max-pos 66000]"""
import argparse, json, os, sys, time
import torch
from safetensors.torch import save_file
from transformers import LlamaConfig, LlamaForCausalLM

ap = argparse.ArgumentParser()
ap.add_argument("out")
ap.add_argument("--layers", type=int, default=32)
ap.add_argument("--max-pos", type=int, default=66000)
a = ap.parse_args()
t0 = time.time()
cfg = LlamaConfig(hidden_size=4096, intermediate_size=11008, num_hidden_layers=a.layers, num_attention_heads=32,
                  num_key_value_heads=32, vocab_size=32000, max_position_embeddings=a.max_pos, rms_norm_eps=1e-5,
                  rope_theta=10000.0, tie_word_embeddings=False, bos_token_id=1, eos_token_id=2, torch_dtype="bfloat16")
torch.manual_seed(0)
with torch.device("cuda"):
    model = LlamaForCausalLM(cfg).to(torch.bfloat16)
with torch.no_grad():
    for n, p in model.named_parameters():
        if p.dim() == 2: p.normal_(0, 0.02)
dense = os.path.join(a.out, "llama7b")
model.save_pretrained(dense, safe_serialization=True, max_shard_size="4GB")
print(f"dense model: {sum(p.numel() for p in model.parameters())/1e9:.2f} B params, saved in {time.time()-t0:.1f} s", flush=True)

# Palu checkpoint: same tensors minus k/v_proj, plus factors; shards shared through symlinks
palu = os.path.join(a.out, "llama7b-palu")
os.makedirs(palu, exist_ok=True)
index = json.load(open(os.path.join(dense, "model.safetensors.index.json")))
wm = {k: v for k, v in index["weight_map"].items() if ".k_proj." not in k and ".v_proj." not in k}
for f in set(index["weight_map"].values()):
    dst = os.path.join(palu, f)
    if not os.path.exists(dst): os.symlink(os.path.join(dense, f), dst)
g, s, dh, r, d = 8, 4, 128, 256, 4096
factors, modules = {}, []
for l in range(a.layers):
    for kv in "kv":
        m = f"model.layers.{l}.self_attn.{kv}_proj"
        factors[m + ".down.weight"] = (torch.randn(g * r, d, device="cuda") * 0.02).to(torch.bfloat16).cpu()
        groups = []
        for gi in range(g):
            factors[f"{m}.up.{gi}.weight"] = (torch.randn(s * dh, r, device="cuda") * 0.05).to(torch.bfloat16).cpu()
            groups.append({"heads": list(range(gi * s, (gi + 1) * s)), "rank": r, "up": f"{m}.up.{gi}.weight"})
        modules.append({"name": m, "kind": "kv_latent", "down": m + ".down.weight", "groups": groups})
save_file(factors, os.path.join(palu, "palu-factors.safetensors"), metadata={"format": "pt"})
for k in factors: wm[k] = "palu-factors.safetensors"
json.dump({"metadata": {}, "weight_map": wm}, open(os.path.join(palu, "model.safetensors.index.json"), "w"))
c = json.load(open(os.path.join(dense, "config.json")))
c["architectures"] = ["PaluLlamaForCausalLM"]
c["palu"] = {"original_architecture": "LlamaForCausalLM", "original_model_type": "llama", "manifest": "palu.json"}
json.dump(c, open(os.path.join(palu, "config.json"), "w"), indent=2)
json.dump({"format": "palu.net/plan", "version": 2, "tool_version": "bench", "original_architecture": "LlamaForCausalLM",
           "original_model_type": "llama", "modules": modules}, open(os.path.join(palu, "palu.json"), "w"), indent=1)
print(f"palu model (random factors, keep 0.5, s=4, r=256) written; total {time.time()-t0:.1f} s", flush=True)
