"""Summarises an ncu --csv --page raw file of decode steps: the kernels of the last step, grouped by name, with GPU
time, DRAM bytes and bandwidth, and the step's sum (the step's wall time minus this sum is launch gaps and idle).
usage: python3 ncu_summary.py FILE.csv --steps N   (N = steps the run made; the last len/N kernels are one step)"""
import argparse, collections, csv, io

ap = argparse.ArgumentParser()
ap.add_argument("file")
ap.add_argument("--steps", type=int, default=5)
a = ap.parse_args()
text = open(a.file, errors="replace").read()
start = text.find('"ID"')
rows = list(csv.DictReader(io.StringIO(text[start:])))
rows = [r for r in rows if r.get("Kernel Name") and r["Kernel Name"] != "Kernel Name" and r.get("gpu__time_duration.sum", "").replace(".", "").replace(",", "").isdigit()]

def num(r, k):
    return float(r[k].replace(",", "")) if r.get(k) else 0.0

per = len(rows) // a.steps
step = rows[-per:] if per else rows
# units: ncu raw page reports gpu__time_duration in ns (usecond if the unit row says so) and bytes in byte
by = collections.OrderedDict()
for r in step:
    name = r["Kernel Name"].split("(")[0]
    t, rd, wr = num(r, "gpu__time_duration.sum"), num(r, "dram__bytes_read.sum"), num(r, "dram__bytes_write.sum")
    c, tt, rr, ww = by.get(name, (0, 0.0, 0.0, 0.0))
    by[name] = (c + 1, tt + t, rr + rd, ww + wr)
total = sum(v[1] for v in by.values())
print(f"{len(rows)} kernels profiled, {per} per step; one step: {total / 1e3:.1f} us of kernel time")
print(f"{'kernel':40s} {'calls':>6s} {'us':>10s} {'%':>6s} {'MB read':>10s} {'GB/s':>8s} {'us/call':>8s}")
for name, (c, t, rd, wr) in sorted(by.items(), key=lambda kv: -kv[1][1]):
    print(f"{name[:40]:40s} {c:6d} {t / 1e3:10.1f} {100 * t / total:6.1f} {rd / 1e6:10.1f} {rd / t if t else 0:8.0f} {t / c / 1e3:8.2f}")
