"""Device-side: Fisher information of a model with PyTorch autograd (transformers, float32, eager), on the same token
samples, compared with a Fisher file written by `palu fisher --elementwise`.

F_W = sqrt(mean over samples of (dL/dW)^2), L = HF causal-LM loss with labels = input_ids (mean next-token CE).
usage: python3 torch_fisher_check.py MODEL_DIR SAMPLES_JSON OUR_FISHER.safetensors OUT_JSON
"""
import json, sys
import torch
from safetensors import safe_open
from transformers import AutoModelForCausalLM

model_dir, samples_path, ours_path, out = sys.argv[1:5]
torch.backends.cuda.matmul.allow_tf32 = False
model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32, attn_implementation="eager").eval()
samples = json.load(open(samples_path))
kinds = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
params = {n: p for n, p in model.named_parameters() if n.endswith(".weight") and any(k in n for k in kinds)}
acc = {n: torch.zeros_like(p, dtype=torch.float64) for n, p in params.items()}
for ids in samples:
    model.zero_grad(set_to_none=True)
    x = torch.tensor([ids])
    model(input_ids=x, labels=x).loss.backward()
    for n, p in params.items():
        acc[n] += p.grad.double() ** 2
report = {"samples": len(samples), "tensors": {}}
worst = 0.0
with safe_open(ours_path, "pt") as f:
    for n in acc:
        ref = (acc[n] / len(samples)).sqrt()
        ours = f.get_tensor(n[: -len(".weight")] + ".fisher").double()
        rel = float((ours - ref).abs().max() / ref.abs().max())
        rows_rel = float(((ours.mean(1) - ref.mean(1)).abs() / ref.mean(1).abs().clamp_min(1e-30)).max())
        report["tensors"][n] = {"max_abs_diff_over_max": rel, "row_mean_max_rel": rows_rel}
        worst = max(worst, rel)
report["worst_max_abs_diff_over_max"] = worst
json.dump(report, open(out, "w"), indent=1)
print(f"fisher: {len(acc)} tensors, worst max|Δ|/max|F| = {worst:.3e}")
