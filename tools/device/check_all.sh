#!/usr/bin/env bash
# Device-side reference checks, one call: HF random-model goldens, tokenizer goldens vs Python tokenizers, Fisher vs
# PyTorch autograd. Expects .device-carry/{tok,tiny,fisher} (see the lead's notes); writes into $OUT.
set -uo pipefail
export PYTHONUNBUFFERED=1
python3 -c 'import torch, transformers, tokenizers; print("torch", torch.__version__, "transformers", transformers.__version__, "tokenizers", tokenizers.__version__)'
python3 tools/device/hf_random_models.py /tmp/hfr 2>&1 | grep -v Writing && tar -C /tmp -cf "$OUT/hfr.tar" hfr
python3 tools/device/hf_tokenizer_check.py tests/Palu.Tests/Text/goldens .device-carry/tok "$OUT/tokenizer_check.json"
python3 tools/device/torch_fisher_check.py .device-carry/tiny .device-carry/fisher/tiny-samples.json \
  .device-carry/fisher/tiny-fisher.safetensors "$OUT/fisher_check.json"
