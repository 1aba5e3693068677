#!/usr/bin/env python3
"""Merges the before and after runs of catalogue.py into docs/reliability-catalogue.md: one row per case, totals."""
import re, sys
from collections import Counter, OrderedDict

BAD = ['silent-wrong', 'data-loss', 'stack-trace', 'unclear-error', 'refused', 'left-files', 'hang']
# raw .NET I/O messages name a path but give neither the why nor the fix: not a clear error
RAW = re.compile(r"error: (Could not find (file|a part of the path)|Is a directory|The file '.*' already exists|Access to the path|Directory not empty)")

def load(path):
    rows = OrderedDict()
    for line in open(path, encoding='utf-8', errors='replace'):
        f = line.rstrip('\n').split('\t')
        if len(f) < 8: continue
        cid, kind, expect, desc, cmd, verdict, rc, note = f[:8]
        if verdict == 'clear-error' and RAW.search(note): verdict = 'unclear-error'
        rows[cid] = dict(kind=kind, expect=expect, desc=desc, cmd=cmd, verdict=verdict, rc=rc, note=note)
    return rows

def cell(s, n=150):
    s = s.replace('|', '\\|').replace('\n', ' ')
    s = re.sub(r'/tmp/palu-catalogue-\w+/[\w.-]+', 'W', s)
    return s if len(s) <= n else s[:n - 1] + '…'

def main(before_path, after_path, out_path):
    before, after = load(before_path), load(after_path)
    ids = [i for i in after if i in before] + [i for i in after if i not in before]
    kinds = OrderedDict()
    for i in ids: kinds.setdefault(after[i]['kind'], []).append(i)
    tb, ta = Counter(before[i]['verdict'] for i in ids if i in before), Counter(after[i]['verdict'] for i in ids)
    o = []
    o.append('# Reliability catalogue (issue 13)\n')
    o.append('Every case runs the `palu` CLI on a fresh copy of `tiny` with one fault (or one hostile option) and classifies the')
    o.append('outcome. Made by `tools/reliability/catalogue.py PALU_CLI_DLL OUT.tsv` (run once on the build of `main` before this')
    o.append('work, once on this branch) and `tools/reliability/catalogue_md.py before.tsv after.tsv docs/reliability-catalogue.md`.')
    o.append('Every input file of a case is hashed before and after its run; a changed or deleted input is **data-loss**.\n')
    o.append('Verdicts: **clear-error** (exit 1, one `error:` line naming the file or option; for faults in config.json,')
    o.append('palu.json, tokenizer.json and the index, naming that file), **ok** (success where success is right and its check of the')
    o.append('output passed), **cancelled** (exit 130, nothing left behind); bad ones: ' + ', '.join(f'**{b}**' for b in BAD) + '.')
    o.append('"refused" is an error where success is right; "hang" is still running 240 s after the start or the signal.\n')
    o.append('## Totals\n')
    o.append('| verdict | before | after |')
    o.append('|---|---:|---:|')
    for v in ['clear-error', 'ok', 'cancelled'] + BAD:
        o.append(f'| {v} | {tb.get(v, 0)} | {ta.get(v, 0)} |')
    o.append(f'| **all cases** | {sum(tb.values())} | {sum(ta.values())} |')
    o.append(f'| **bad outcomes** | {sum(tb.get(b, 0) for b in BAD)} | {sum(ta.get(b, 0) for b in BAD)} |\n')
    o.append('## By fault kind\n')
    o.append('| kind | cases | bad before | bad after |')
    o.append('|---|---:|---:|---:|')
    for k, cs in kinds.items():
        o.append(f'| {k} | {len(cs)} | {sum(1 for i in cs if i in before and before[i]["verdict"] in BAD)} | {sum(1 for i in cs if after[i]["verdict"] in BAD)} |')
    o.append('')
    for k, cs in kinds.items():
        o.append(f'## {k}\n')
        o.append('| case | fault | command | before | after | after: message |')
        o.append('|---|---|---|---|---|---|')
        for i in cs:
            a, b = after[i], before.get(i)
            bv = f'{b["verdict"]}' if b else '—'
            o.append(f'| {i} | {cell(a["desc"], 90)} | `{cell(a["cmd"], 110)}` | {bv} | {a["verdict"]} | {cell(a["note"])} |')
        o.append('')
    open(out_path, 'w').write('\n'.join(o) + '\n')

main(*sys.argv[1:4])
