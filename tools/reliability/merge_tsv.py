#!/usr/bin/env python3
"""merge_tsv.py FULL.tsv RERUN.tsv OUT.tsv: the rows of a partial rerun (catalogue.py --only) replace those of a full run."""
import sys
full = [l.rstrip('\n').split('\t') for l in open(sys.argv[1])]
rerun = {l.split('\t')[0]: l.rstrip('\n').split('\t') for l in open(sys.argv[2])}
with open(sys.argv[3], 'w') as f:
    for r in full: f.write('\t'.join(rerun.get(r[0], r)) + '\n')
