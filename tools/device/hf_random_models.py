"""Device-side: builds small random-weight checkpoints of the families we have no trained model for, with
transformers itself (save_pretrained, bf16 weights), and records transformers' float32 eager logits for a fixed
id sequence. The C# tests load these directories and must reproduce the logits.

usage: python3 hf_random_models.py OUT_DIR
"""
import json, os, sys
import torch
import transformers
from transformers import AutoModelForCausalLM, LlamaConfig, MistralConfig, Qwen2Config, Qwen3Config
from safetensors.torch import save_file

out = sys.argv[1]
os.makedirs(out, exist_ok=True)
torch.backends.cuda.matmul.allow_tf32 = False
torch.backends.cudnn.allow_tf32 = False

common = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
              num_key_value_heads=2, head_dim=16, vocab_size=512, max_position_embeddings=128,
              rms_norm_eps=1e-6, bos_token_id=1, eos_token_id=2, tie_word_embeddings=False)

def llama3():
    rp = {"rope_type": "llama3", "rope_theta": 500000.0, "factor": 8.0, "low_freq_factor": 1.0,
          "high_freq_factor": 4.0, "original_max_position_embeddings": 16}
    try:
        return LlamaConfig(**common, rope_parameters=rp)
    except TypeError:
        return LlamaConfig(**common, rope_theta=500000.0, rope_scaling=rp)

def linear():
    rp = {"rope_type": "linear", "rope_theta": 10000.0, "factor": 4.0}
    try:
        return LlamaConfig(**common, rope_parameters=rp)
    except TypeError:
        return LlamaConfig(**common, rope_scaling=rp)

configs = {
    "llama3-scaled": llama3,
    "llama-linear": linear,
    "mistral-window": lambda: MistralConfig(**common, sliding_window=8),
    "qwen2-bias": lambda: Qwen2Config(**common, use_sliding_window=False),
    "qwen3-norm": lambda: Qwen3Config(**common, use_sliding_window=False),
}

g = torch.Generator().manual_seed(1234)
ids = torch.randint(3, 512, (40,), generator=g)
ids[0] = 1
report = {"transformers": transformers.__version__, "torch": torch.__version__, "models": {}}
for i, (name, make) in enumerate(configs.items()):
    torch.manual_seed(100 + i)
    cfg = make()
    cfg._attn_implementation = "eager"
    model = AutoModelForCausalLM.from_config(cfg)
    with torch.no_grad():   # default init is tiny for some weights; widen so every path matters
        for n, p in model.named_parameters():
            if p.dim() == 2:
                p.normal_(0, 0.08)
            elif "norm" in n:
                p.copy_(1 + 0.1 * torch.randn_like(p))
            else:
                p.normal_(0, 0.2)   # biases
    d = os.path.join(out, name)
    model.to(torch.bfloat16).save_pretrained(d, safe_serialization=True)
    # Reload in float32: Module.to(bfloat16) also rounds the RoPE inv_freq buffer, which a fresh load recomputes.
    m = AutoModelForCausalLM.from_pretrained(d, dtype=torch.float32, attn_implementation="eager").eval()
    with torch.no_grad():
        logits = m(ids[None]).logits[0].float().contiguous()
    save_file({"input_ids": ids.to(torch.int64).contiguous(), "logits": logits}, os.path.join(d, "golden_logits.safetensors"))
    report["models"][name] = {"architectures": cfg.architectures if cfg.architectures else type(model).__name__,
                              "argmax_last": int(logits[-1].argmax())}
    print(name, type(model).__name__, logits.shape, float(logits.abs().max()))
json.dump(report, open(os.path.join(out, "report.json"), "w"), indent=1)
