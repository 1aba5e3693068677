"""Device-side: re-checks the committed Llama-3 / Qwen3 tokenizer goldens (made with the JS library @lenml/tokenizers)
against Python `tokenizers` (the reference implementation) on the same tokenizer.json files.

usage: python3 hf_tokenizer_check.py GOLDENS_DIR TOKENIZERS_DIR OUT_JSON
  GOLDENS_DIR: tests/Palu.Tests/Text/goldens (llama3.tokenize.json, qwen3.tokenize.json)
  TOKENIZERS_DIR: holds llama3/tokenizer.json and qwen3/tokenizer.json
"""
import json, os, sys
import tokenizers
from tokenizers import Tokenizer

gdir, tdir, out = sys.argv[1:4]
report = {"tokenizers": tokenizers.__version__, "files": {}}
for name in ("llama3", "qwen3"):
    g = json.load(open(os.path.join(gdir, f"{name}.tokenize.json"), encoding="utf-8"))
    tok = Tokenizer.from_file(os.path.join(tdir, name, "tokenizer.json"))
    bad = []
    for c in g["cases"]:
        ids = tok.encode(c["text"], add_special_tokens=False).ids
        ids_s = tok.encode(c["text"], add_special_tokens=True).ids
        dec = tok.decode(c["ids"], skip_special_tokens=False)
        problems = []
        if ids != c["ids"]: problems.append({"field": "ids", "python": ids})
        if "ids_with_special" in c and ids_s != c["ids_with_special"]: problems.append({"field": "ids_with_special", "python": ids_s})
        if "decoded" in c and dec != c["decoded"]: problems.append({"field": "decoded", "python": dec})
        if problems: bad.append({"text": c["text"], "problems": problems})
    report["files"][name] = {"cases": len(g["cases"]), "mismatches": len(bad), "details": bad[:20]}
    print(name, len(g["cases"]), "cases,", len(bad), "mismatches")
json.dump(report, open(out, "w"), indent=1, ensure_ascii=False)
