#!/usr/bin/env python3
"""Issue 12 on `small`, in one device call (run by tools/device/issue-12-small.sh, which unpacks .lean-carry first).

Trains `small` with the foundry's train.py (GPU), then compresses it on the CPU (SVD-LLM, Cat only, Skip only, Cat+Skip
at weight keeps 0.8/0.7/0.6, the KV-only model and KV + weights) while the GPU evaluates (WikiText-2 perplexity on the
whole file, zero-shot on the full sets of six tasks; low-bit KV models on the CPU). Jobs run in priority order as their
inputs and a slot are ready; every result is appended to $OUT/results.tsv as it comes and every job start/end to
$OUT/log.txt, and all jobs still running at the deadline are killed, so a run cut short returns what finished.
$OUT/summary.md holds the tables (also: python3 tools/device/issue12_small.py --summary results.tsv).

Environment: OUT (results folder), PALU_BIN (the CLI), DRY=1 (no training: ../shared's tiny stands for small, the
CPU for the GPU, a few items and windows, tiny calibration: tests the script's logic anywhere), DEADLINE_S (seconds
after --t0 at which everything stops; default 545), GPU_SLOTS (concurrent GPU processes, default 8), ZS_BATCH_ROWS
(zero-shot --batch-rows on the GPU, default 4096, a CUDA batched step's limit; 0 = one item per step), CPU_CORES
(cores for compressions and CPU evaluations, default: all but 4, left to the GPU processes), SMALL (use this model directory instead of
training one); DRY_CUDA=1 with DRY=1: the GPU jobs still ask for --device cuda (here: they fail, and the CPU
redoes them), FINAL_RESERVE_S (seconds kept before the deadline for the decode-speed runs, default 30).
"""
import argparse, json, os, shutil, signal, subprocess, sys, time

KEEPS = ["0.7", "0.8", "0.6"]   # priority: 30 % ppl first, then 20 %, then 40 %
METHODS = [("svdllm", ["--weights-method", "svdllm"]), ("cat", ["--weights-method", "skipcat", "--no-skip"]),
           ("skip", ["--weights-method", "skipcat", "--no-cat"]), ("cat+skip", ["--weights-method", "skipcat"])]
TASKS = ["hellaswag", "boolq", "arc-easy", "piqa", "arc-challenge", "openbookqa"]   # longest first
KV_ARGS = ["--kv-keep", "0.5", "--kv-bits", "4", "--hadamard"]


class Job:
    def __init__(self, name, pool, cost, argv, parse, deps=(), prio=0, fallback=None, final=False):
        self.name, self.pool, self.cost, self.argv, self.parse = name, pool, cost, argv, parse
        self.deps, self.prio, self.fallback, self.final = list(deps), prio, fallback, final
        self.proc = self.t0 = None
        self.state = "wait"   # wait | run | ok | fail


class Runner:
    def __init__(self, out, t0, deadline_s, gpu_slots, cpu_cores):
        self.out, self.t0, self.deadline = out, t0, t0 + deadline_s
        self.cap = {"gpu": gpu_slots, "cpu": cpu_cores}
        self.jobs, self.done = [], set()
        self.logs = os.path.join("/tmp", "i12-logs")
        os.makedirs(self.logs, exist_ok=True)
        self.results = os.path.join(out, "results.tsv")
        if not os.path.exists(self.results):
            with open(self.results, "w") as f:
                f.write("t_s\tmodel\twhat\tvalue\tdetail\n")

    def now(self):
        return time.time() - self.t0

    def log(self, msg):
        line = f"{time.strftime('%H:%M:%S', time.gmtime())} t+{self.now():6.1f}s {msg}"
        print(line, flush=True)
        with open(os.path.join(self.out, "log.txt"), "a") as f:
            f.write(line + "\n")

    def result(self, model, what, value, detail=""):
        with open(self.results, "a") as f:
            f.write(f"{self.now():.1f}\t{model}\t{what}\t{value}\t{detail}\n")

    def add(self, job):
        job.cost = min(job.cost, self.cap[job.pool])   # a job wider than its pool runs alone
        self.jobs.append(job)

    def used(self, pool):
        return sum(j.cost for j in self.jobs if j.state == "run" and j.pool == pool)

    def start(self, j):
        j.t0 = time.time()
        j.err = os.path.join(self.logs, j.name.replace("/", "_") + ".err")
        j.stdout = os.path.join(self.logs, j.name.replace("/", "_") + ".out")
        j.proc = subprocess.Popen(j.argv, stdout=open(j.stdout, "w"), stderr=open(j.err, "w"), start_new_session=True)
        j.state = "run"
        self.log(f"start {j.name} ({j.pool} {j.cost}): {' '.join(j.argv[1:])}")

    def finish(self, j, rc):
        dt = time.time() - j.t0
        if rc == 0:
            try:
                j.parse(self, j, open(j.stdout).read(), dt)
                j.state = "ok"
            except Exception as e:   # noqa: BLE001 — a parse failure is a failed job, logged
                j.state = "fail"
                self.log(f"parse failed {j.name}: {e!r}")
        else:
            j.state = "fail"
        if j.state == "ok":
            self.done.add(j.name)
            self.log(f"done  {j.name} in {dt:.1f}s")
        else:
            tail = open(j.err, errors="replace").read().strip().splitlines()[-8:]
            self.log(f"FAIL  {j.name} rc {rc} after {dt:.1f}s: " + " | ".join(tail))
            if j.fallback:
                fb = j.fallback()
                self.log(f"queue {fb.name} instead")
                self.add(fb)

    def step(self):
        for j in self.jobs:
            if j.state == "run" and (rc := j.proc.poll()) is not None:
                self.finish(j, rc)
        for j in sorted((x for x in self.jobs if x.state == "wait" and not x.final), key=lambda x: x.prio):
            if any(x.name in j.deps and x.state == "fail" for x in self.jobs):
                j.state = "fail"
                self.log(f"skip  {j.name}: an input failed")
            elif all(d in self.done for d in j.deps) and self.used(j.pool) + j.cost <= self.cap[j.pool]:
                self.start(j)

    def kill(self, jobs, why):
        never = []
        for j in jobs:
            if j.state == "run":
                try:
                    os.killpg(j.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                j.proc.wait()
                j.state = "fail"
                self.log(f"kill  {j.name} ({why}) after {time.time() - j.t0:.1f}s")
            elif j.state == "wait":
                j.state = "fail"
                never.append(j.name)
        if never:
            self.log(f"never started ({why}): {len(never)} jobs: " + ", ".join(never))

    def loop(self, final_reserve, until=None):
        """Runs the jobs until none is left or final_reserve seconds before the deadline; then, alone one after the
        other on a quiet machine, the final ones (speed measurements) until the deadline. True if nothing was cut.
        With until: only until it holds (or the deadline), nothing killed."""
        def busy():
            return any(j.state in ("wait", "run") and not j.final for j in self.jobs)
        if until is not None:
            while not until() and time.time() < self.deadline:
                self.step()
                time.sleep(0.25)
            return True
        while busy() and time.time() < self.deadline - final_reserve:
            self.step()
            time.sleep(0.25)
        cut = busy()
        self.kill([j for j in self.jobs if not j.final], "time for the speed runs")
        for j in sorted((x for x in self.jobs if x.final), key=lambda x: x.prio):
            if not all(d in self.done for d in j.deps):
                j.state = "fail"
                self.log(f"skip  {j.name}: an input is missing")
                continue
            self.start(j)
            while j.proc.poll() is None and time.time() < self.deadline:
                time.sleep(0.1)
            if j.proc.poll() is None:
                self.kill(self.jobs, "deadline")
                return False
            self.finish(j, j.proc.returncode)
        return not cut


# ---------------------------------------------------------------- parsers
def parse_json(s):
    return json.loads(s[s.index("{"):])


def p_compress(model):
    def f(r, j, s, dt):
        d = parse_json(s)
        if d.get("weights"):
            r.result(model, "realized_keep", round(d["weights"]["realized_keep"], 4))
        r.result(model, "compress_s", round(dt, 1))
    return f


def p_ppl(model):
    def f(r, j, s, dt):
        d = parse_json(s)
        r.result(model, "ppl", round(d["ppl"], 3), f"device={d['device']} windows={d['windows']} tokens={d['tokens']} "
                 f"kv_bytes_per_token={d.get('kv_bytes_per_token')} s={dt:.1f}")
    return f


def p_zs(model):
    def f(r, j, s, dt):
        d = parse_json(s)
        r.result(model, "zs:" + d["task"], round(100 * d[d["metric"]], 2), f"metric={d['metric']} n={d['n']} s={dt:.1f}")
    return f


def p_bench(model, device):
    def f(r, j, s, dt):
        d = parse_json(s)
        row = d["rows"][0]
        r.result(model, f"decode_tok_s_{device}", round(row["tokens_per_s"], 1),
                 f"context={row['context']} batch={row['batch']} steps={row['steps']} {d.get('device_name', '')}")
    return f


def p_inspect(model):
    def f(r, j, s, dt):
        d = parse_json(s)
        for k in ["kv_bytes_per_token", "weight_bytes", "decode_weight_bytes_per_token", "parameters", "parameters_dense"]:
            r.result(model, k, d.get(k))
    return f


# ---------------------------------------------------------------- plan
def plan(r, palu, small, work, dry, zs_batch):
    zs_lim = ["--limit", "20"] if dry else []
    # zs_batch > 0: GPU zero-shot in batched steps (one forward per item or more, not one per choice); the CPU
    # fallback is unbatched
    ppl_lim = ["--max-windows", "4"] if dry else []
    wcal = ["--weights-calib-samples", "8", "--calib-seq-len", "256"] if dry else ["--weights-calib-samples", "64", "--calib-seq-len", "1024"]
    kvcal = ["--calib-samples", "8"] if dry else ["--calib-samples", "64"]
    bench = ["--context", "128", "--steps", "4"] if dry else ["--context", "1024", "--steps", "32"]
    cpu_eval_t = max(1, r.cap["cpu"] // 2)   # two CPU evaluations side by side
    comp_t = 2 if dry else 4
    path = {"dense": small}

    def ev(name, model, kind, prio, deps=(), task=None, cpu_only=False):
        """A GPU job (dry: on the CPU) or, cpu_only, a CPU one on cpu_eval_t threads; a failed GPU run is redone on the
        CPU. Decode speed runs are final: alone at the end, the CPU ones on every core."""
        m = path[model]
        device = "cpu" if cpu_only or (dry and os.environ.get("DRY_CUDA") != "1") else "cuda"
        if kind == "bench":
            t = usable_cores() if cpu_only else 2
            return Job(name, "gpu", 0, [palu, "bench", "decode", m, "--json", *bench, "--device", device, "-t", str(t)],
                       p_bench(model, "cpu" if cpu_only else "gpu"), deps, prio, final=True)
        if kind == "ppl":
            argv, parse = [palu, "eval", "ppl", m, "--json", *ppl_lim], p_ppl(model)
        else:
            argv, parse = [palu, "eval", "zeroshot", m, "--task", task, "--json", *zs_lim], p_zs(model)
        if cpu_only:
            return Job(name, "cpu", cpu_eval_t, argv + ["--device", "cpu", "-t", str(cpu_eval_t)], parse, deps, prio)
        fb = lambda: Job(name + " @cpu", "cpu", cpu_eval_t, argv + ["--device", "cpu", "-t", str(cpu_eval_t)], parse, deps, prio)
        batch = ["--batch-rows", str(zs_batch)] if kind == "zs" and zs_batch > 0 else []
        return Job(name, "gpu", 1, argv + batch + ["--device", device, "-t", "1" if dry else "2"], parse, deps, prio, fb)

    # compressions (CPU): the first fills the gram cache alone; the KV-only one needs no weight grams
    cprio = 0
    first = None
    for keep in ["0.7", "0.8"]:
        for m, args in METHODS:
            name = f"{m}-{keep}"
            path[name] = os.path.join(work, name)
            t = r.cap["cpu"] - comp_t if first is None else comp_t
            r.add(Job("compress " + name, "cpu", max(1, t),
                      [palu, "compress", small, "--out", path[name], "--weights-keep", keep, *args, *wcal,
                       "--weights-gram-cache", os.path.join(work, "grams"), "--overwrite", "--json", "-t", str(max(1, t))],
                      p_compress(name), [] if first is None else [first], cprio))
            first = first or "compress " + name
            cprio += 1
            if keep == "0.7" and m == "svdllm":   # KV-only beside the gram-filling one
                path["kv"] = os.path.join(work, "kv")
                r.add(Job("compress kv", "cpu", comp_t, [palu, "compress", small, "--out", path["kv"], *KV_ARGS, *kvcal,
                                                         *wcal[2:], "--overwrite", "--json", "-t", str(comp_t)],
                          p_compress("kv"), [], cprio))
                cprio += 1
    path["kv+w"] = os.path.join(work, "kv+w")
    r.add(Job("compress kv+w", "cpu", comp_t,
              [palu, "compress", small, "--out", path["kv+w"], *KV_ARGS, *kvcal, "--weights-keep", "0.8",
               "--weights-method", "skipcat", *wcal, "--overwrite", "--json", "-t", str(comp_t)],
              p_compress("kv+w"), [], 20))
    for m, args in METHODS:
        name = f"{m}-0.6"
        path[name] = os.path.join(work, name)
        r.add(Job("compress " + name, "cpu", comp_t,
                  [palu, "compress", small, "--out", path[name], "--weights-keep", "0.6", *args, *wcal,
                   "--weights-gram-cache", os.path.join(work, "grams"), "--overwrite", "--json", "-t", str(comp_t)],
                  p_compress(name), [first], 40))

    # evaluations, in the priority order; the perplexities (~20 s each on the GPU) before any zero-shot set,
    # so that long zero-shot runs holding the GPU slots cannot keep a table's column out
    p = 100
    r.add(ev("ppl dense", "dense", "ppl", p))
    for keep in ["0.7", "0.8", "0.6"]:
        for m, _ in METHODS:
            p += 1; r.add(ev(f"ppl {m}-{keep}", f"{m}-{keep}", "ppl", p, [f"compress {m}-{keep}"]))
    for t in TASKS:
        p += 1; r.add(ev(f"zs dense {t}", "dense", "zs", p, task=t))
    for t in TASKS:
        for m, _ in METHODS:
            p += 1; r.add(ev(f"zs {m}-0.8 {t}", f"{m}-0.8", "zs", p, [f"compress {m}-0.8"], task=t))
    # KV-only and KV + weights (low-bit latents: CPU only) beside dense and weights-only (Cat+Skip 0.8)
    for model, dep in [("dense", []), ("kv", ["compress kv"]), ("cat+skip-0.8", ["compress cat+skip-0.8"]), ("kv+w", ["compress kv+w"])]:
        p += 1; r.add(Job(f"inspect {model}", "cpu", 0, [palu, "inspect", path[model], "--json"], p_inspect(model), dep, p))
        if model in ("kv", "kv+w"):
            p += 1; r.add(ev(f"ppl {model}", model, "ppl", p, dep, cpu_only=True))
        p += 1; r.add(ev(f"bench {model} cpu", model, "bench", p, dep, cpu_only=True))
        if model in ("dense", "cat+skip-0.8"):
            p += 1; r.add(ev(f"bench {model} gpu", model, "bench", p, dep))
    for keep in ["0.6", "0.7"]:
        for t in TASKS:
            for m, _ in METHODS:
                p += 1; r.add(ev(f"zs {m}-{keep} {t}", f"{m}-{keep}", "zs", p, [f"compress {m}-{keep}"], task=t))


# ---------------------------------------------------------------- summary
def summary(results_tsv):
    rows = [l.rstrip("\n").split("\t") for l in open(results_tsv)][1:]
    v = {}
    detail = {}
    for row in rows:
        if len(row) < 4:
            continue
        v[(row[1], row[2])] = row[3]
        detail[(row[1], row[2])] = row[4] if len(row) > 4 else ""
    out = ["| model | params removed | realised keep | WikiText-2 ppl | zero-shot avg (6) | " + " | ".join(TASKS) + " |",
           "|---|---|---|---|---|" + "---|" * len(TASKS)]
    models = ["dense"] + [f"{m}-{k}" for k in ["0.8", "0.7", "0.6"] for m, _ in METHODS]
    for m in models:
        zs = [v.get((m, "zs:" + t)) for t in TASKS]
        avg = f"{sum(float(z) for z in zs) / len(zs):.2f}" if all(zs) else "-"
        removed = "0 %" if m == "dense" else f"{round(100 * (1 - float(m.rsplit('-', 1)[1])))} %"
        out.append(f"| {m} | {removed} | {v.get((m, 'realized_keep'), '1' if m == 'dense' else '-')} | {v.get((m, 'ppl'), '-')} | "
                   f"{avg} | " + " | ".join(z or "-" for z in zs) + " |")
    out += ["", "| model | WikiText-2 ppl | KV bytes/token | weight bytes | weight bytes read/token | parameters | "
            "decode tok/s CPU | decode tok/s GPU |", "|---|---|---|---|---|---|---|---|"]
    for m in ["dense", "kv", "cat+skip-0.8", "kv+w"]:
        out.append(f"| {m} | {v.get((m, 'ppl'), '-')} | {v.get((m, 'kv_bytes_per_token'), '-')} | {v.get((m, 'weight_bytes'), '-')} | "
                   f"{v.get((m, 'decode_weight_bytes_per_token'), '-')} | {v.get((m, 'parameters'), '-')} | "
                   f"{v.get((m, 'decode_tok_s_cpu'), '-')} | {v.get((m, 'decode_tok_s_gpu'), '-')} |")
    return "\n".join(out) + "\n"


# ---------------------------------------------------------------- main
def usable_cores():
    """Cores this process may use: the affinity mask, capped by a cgroup v2 CPU quota (a container's os.cpu_count()
    can be the host's)."""
    n = len(os.sched_getaffinity(0))
    try:
        quota, period = open("/sys/fs/cgroup/cpu.max").read().split()
        if quota != "max":
            n = min(n, max(1, int(int(quota) / int(period))))
    except (OSError, ValueError):
        pass
    return n


def batch_check(r, files, rows):
    """rows if the batched warm-up run agreed with the one-item-at-a-time run, else 0: the same pick (largest
    log-likelihood) on at least 99 % of the items and every log-likelihood within 1e-2 relative (the GPU holds weights
    and products in bf16, and a batch of rows takes cuBLAS where one item may take the GEMV kernels: ~1e-3 apart)."""
    try:
        a, b = ([json.loads(l)["loglikelihoods"] for l in open(f)] for f in files)
        worst = max(abs(x - y) / max(1.0, abs(x)) for p, q in zip(a, b, strict=True) for x, y in zip(p, q, strict=True))
        same = sum(p.index(max(p)) == q.index(max(q)) for p, q in zip(a, b, strict=True)) / max(1, len(a))
    except (OSError, ValueError, KeyError) as e:
        r.log(f"batched zero-shot check failed ({e!r}): zero-shot one item at a time")
        return 0
    ok = worst < 1e-2 and same >= 0.99
    r.log(f"batched zero-shot check: largest relative log-likelihood difference {worst:.2e}, same pick on {same:.1%} of "
          f"{len(a)} items -> " + (f"--batch-rows {rows}" if ok else "one item at a time"))
    return rows if ok else 0


def wait_for_model(r, train, model_dir):
    """Until the trained model's weights, config and tokenizer are final (goldens under way) or training ended."""
    marker = os.path.join(model_dir, "golden", "logits.safetensors")
    while time.time() < r.deadline:
        if os.path.exists(marker):
            return True
        if train.poll() is not None:
            return os.path.exists(os.path.join(model_dir, "config.json"))
        r.step()
        time.sleep(1)
    return False


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--t0", type=float, default=time.time())
    ap.add_argument("--summary", help="print the tables of this results.tsv and exit")
    a = ap.parse_args()
    if a.summary:
        print(summary(a.summary), end="")
        return 0
    out = os.environ["OUT"]
    os.makedirs(out, exist_ok=True)
    dry = os.environ.get("DRY") == "1"
    gpu_slots = int(os.environ.get("GPU_SLOTS", "2" if dry else "8"))
    cores = usable_cores()
    cpu_cores = int(os.environ.get("CPU_CORES", cores if dry else max(2, cores - 4)))
    r = Runner(out, a.t0, float(os.environ.get("DEADLINE_S", "545")), gpu_slots, cpu_cores)
    palu = os.environ["PALU_BIN"]
    work = "/tmp/i12"
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    r.log(f"issue-12 small: dry={dry} gpu_slots={gpu_slots} cpu_cores={cpu_cores} of {cores} deadline t+{r.deadline - r.t0:.0f}s")

    # first (while small trains): compile the CUDA kernels into the cache, time the GPU path on tiny, and check that
    # batched zero-shot scoring gives the same log-likelihoods as one item at a time on this GPU
    tiny = os.path.join(os.environ.get("PALU_LEAN", "/tmp/palu-lean"), "models", "tiny")
    dev = "cpu" if dry else "cuda"
    zs_batch = int(os.environ.get("ZS_BATCH_ROWS", "4096"))
    r.add(Job("warm tiny ppl", "gpu", 1, [palu, "eval", "ppl", tiny, "--json", "--max-windows", "32", "--device", dev],
              p_ppl("tiny(warm-up, 32 windows)"), [], -3))
    warm = []
    for b in ([0, zs_batch] if zs_batch > 0 else [0]):
        warm.append(f"/tmp/i12-warm-zs-{b}.jsonl")
        if os.path.exists(warm[-1]):
            os.remove(warm[-1])
        r.add(Job(f"warm tiny zs batch {b}", "gpu", 1, [palu, "eval", "zeroshot", tiny, "--task", "hellaswag", "--limit", "200",
                                                         "--batch-rows", str(b), "--samples", warm[-1], "--json", "--device", dev],
                  p_zs(f"tiny(warm-up, 200 items, batch {b})"), ["warm tiny ppl"], -2))

    train = None
    small = os.environ.get("SMALL")
    if small is None and dry:
        small = os.path.join(os.environ.get("PALU_LEAN", "/tmp/palu-lean"), "models", "tiny")
    if small is None:
        # the foundry's training of small alone (device_run.sh would also pack and split ~100 MB we do not need)
        train = subprocess.Popen(["python3", ".foundry/scripts/train.py", "--data", ".foundry", "--work", "/tmp/fd",
                                  "--mode", "full", "--only", "small"],
                                 stdout=open(os.path.join(out, "train_log.txt"), "w"), stderr=subprocess.STDOUT,
                                 env=dict(os.environ, PYTHONUNBUFFERED="1", TOKENIZERS_PARALLELISM="true"))
        r.log("training small (train.py --only small)")
        trained = "/tmp/fd/out/models/small"
        if not wait_for_model(r, train, trained):
            r.log("no trained model before the deadline / training failed")
            r.kill(r.jobs, "no model")
            train.kill()
            return 1
        small = "/tmp/m/small"
        shutil.rmtree(small, ignore_errors=True)
        os.makedirs(small)
        for f in os.listdir(trained):
            if os.path.isfile(os.path.join(trained, f)) and f != "foundry.json":
                shutil.copy(os.path.join(trained, f), small)
        r.log(f"small trained: {sorted(os.listdir(small))}")
    r.loop(0, until=lambda: not any(j.state in ("wait", "run") for j in r.jobs if j.name.startswith("warm")))
    if zs_batch > 0:
        zs_batch = batch_check(r, warm, zs_batch)
    plan(r, palu, small, work, dry, zs_batch)
    finished = r.loop(float(os.environ.get("FINAL_RESERVE_S", "30")))
    if train is not None:
        if train.poll() is None:
            try:
                train.wait(timeout=max(1, r.deadline - time.time()))
            except subprocess.TimeoutExpired:
                train.kill()
        for f in ["foundry.json", "golden/perplexity.json"]:
            p = os.path.join("/tmp/fd/out/models/small", f)
            if os.path.exists(p):
                shutil.copy(p, os.path.join(out, os.path.basename(p)))
    with open(os.path.join(out, "summary.md"), "w") as f:
        f.write(summary(r.results))
    r.log(f"end ({'all jobs ran' if finished else 'deadline'}); "
          f"{sum(j.state == 'ok' for j in r.jobs)} ok, {sum(j.state == 'fail' for j in r.jobs)} failed or not run")
    return 0


if __name__ == "__main__":
    sys.exit(main())
