#!/usr/bin/python3
"""tessera against PyTorch, side by side: drives bench_engine (C++) and bench_torch.py, prints a table.

    ./run bench [FILTER] [--quick]                 (builds ./build first)
    /usr/bin/python3 bench/run_bench.py [FILTER] [--quick] [--build-dir DIR] [--threads N]
                                        [--reps N] [--max-wait SECONDS] [--no-write]

FILTER keeps the cases whose name contains it ("matmul", "16M fwd+bwd", "softmax").

How it measures. tessera runs at a fixed thread count (--threads, default 2, set through
tessera::set_num_threads). PyTorch runs under several thread settings (TORCH_SETTINGS), each in
its own process because OMP_WAIT_POLICY and OPENBLAS_NUM_THREADS must be set before torch is
imported; each case keeps PyTorch's fastest setting and the table names it. All processes start
once and wait for commands (`--serve`): for each case every process builds its inputs, warms up
and calibrates a loop of calls to about 0.1 s; then, round by round, each process times one
repetition of its loop in turn (the order rotates). So tessera and PyTorch are measured
interleaved, and background load hits both alike.

The machine is shared (2 cores; others compile and test), so run_bench also watches the CPU time
that other processes use (/proc/stat minus the benchmark's own processes). A repetition during
which they used more than QUIET_CORES of a core counts as noisy; rounds continue until every
side has --reps quiet repetitions (at most 2x --reps rounds), and after a noisy round it waits
(up to --max-wait seconds over the whole run) for the machine to calm down. The table shows
medians of the quiet repetitions when there are at least 3 of them, else of all, and says how
many were quiet.

Output: the table on stdout, and as markdown in bench/results.md (overwritten each run).
The build directory comes from --build-dir, else $TESSERA_BUILD_DIR, else "build".
"""
import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import time

import blas_kernels

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

# PyTorch thread settings: (label, torch.set_num_threads, environment changes; None = unset)
TORCH_SETTINGS = [
    ("1t", 1, {"OMP_WAIT_POLICY": "PASSIVE", "OPENBLAS_NUM_THREADS": None}),
    ("2t", 2, {"OMP_WAIT_POLICY": "PASSIVE", "OPENBLAS_NUM_THREADS": None}),
    ("1t blas1", 1, {"OMP_WAIT_POLICY": "PASSIVE", "OPENBLAS_NUM_THREADS": "1"}),
    ("2t blas1", 2, {"OMP_WAIT_POLICY": "PASSIVE", "OPENBLAS_NUM_THREADS": "1"}),
    ("2t spin", 2, {"OMP_WAIT_POLICY": None, "OPENBLAS_NUM_THREADS": None}),
]
SETTINGS_LEGEND = (
    "PyTorch settings: `1t`/`2t` = torch.set_num_threads(1/2) with OMP_WAIT_POLICY=PASSIVE; "
    "`blas1` adds OPENBLAS_NUM_THREADS=1; `2t spin` = 2 threads with OpenMP's default wait policy "
    "(as tessera runs).")

MATMUL_TARGET = 1 / 0.95  # tessera throughput >= 0.95x raw sgemm
QUIET_CORES = 0.3         # a repetition is quiet if other processes used less than this much CPU
MIN_QUIET = 3             # fewest quiet repetitions whose median is trusted over all repetitions


def target_for(case):
    """(kind, limit): kind 'torch' judges tessera/PyTorch, 'sgemm' judges tessera/raw sgemm."""
    if case.startswith("overhead"):
        return "torch", 0.08  # issue 10, part 3
    if case.startswith("matmul"):
        return "sgemm", MATMUL_TARGET
    return "torch", 1.0


def fmt_time(seconds):
    if seconds is None:
        return "—"
    if seconds < 1e-3:
        return f"{seconds * 1e6:.1f} µs"
    if seconds < 1:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds:.3f} s"


def say(message):
    print(f"[bench] {message}", file=sys.stderr, flush=True)


# ---------------- CPU time of everyone else ----------------

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
NCPU = os.cpu_count() or 1


def system_ticks():
    """(busy, total) ticks summed over all CPUs; steal counts as busy (another VM ran)."""
    with open("/proc/stat") as f:
        values = [int(x) for x in f.readline().split()[1:9]]
    user, nice, system, idle, iowait, irq, softirq, steal = values
    return user + nice + system + irq + softirq + steal, sum(values)


def process_ticks(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])  # utime + stime, all threads
    except (OSError, IndexError, ValueError):
        return 0


class LoadMeter:
    """Cores' worth of CPU that processes other than ours used between start() and stop()."""

    def __init__(self, workers):
        self.workers = workers

    def _ours(self):
        t = os.times()
        return sum(process_ticks(w.proc.pid) for w in self.workers) + (t.user + t.system) * CLOCK_TICKS

    def start(self):
        self.busy0, self.total0 = system_ticks()
        self.ours0 = self._ours()

    def stop(self):
        busy, total = system_ticks()
        elapsed = (total - self.total0) / NCPU
        if elapsed <= 0:
            return 0.0
        return max(0.0, (busy - self.busy0) - (self._ours() - self.ours0)) / elapsed


# ---------------- the benchmark processes ----------------

class Worker:
    """A bench_engine or bench_torch.py process in --serve mode."""

    def __init__(self, label, cmd, env):
        self.label = label
        self.proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     text=True, bufsize=1)
        self.alive = True
        self.meta = {}

    def read(self):
        while True:
            line = self.proc.stdout.readline()
            if not line:
                self.alive = False
                say(f"{self.label}: the process exited (status {self.proc.poll()}); its results stop here")
                return None
            line = line.strip()
            if not line.startswith("{"):
                continue
            try:
                return json.loads(line)
            except json.JSONDecodeError:
                say(f"{self.label}: ignoring a malformed line: {line[:100]}")

    def ask(self, command):
        if not self.alive:
            return None
        try:
            self.proc.stdin.write(command + "\n")
            self.proc.stdin.flush()
        except BrokenPipeError:
            self.alive = False
            return None
        return self.read()

    def close(self):
        if self.alive:
            try:
                self.proc.stdin.write("quit\n")
                self.proc.stdin.close()
            except (BrokenPipeError, OSError):
                pass
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def start_workers(engine, threads, timing):
    workers = [Worker("tessera", [engine, "--serve", "--threads", str(threads)] + timing, dict(os.environ))]
    for label, torch_threads, changes in TORCH_SETTINGS:
        env = dict(os.environ)
        # PyTorch keeps the OpenMP OpenBLAS of every earlier comparison (the system default is
        # tessera's pthread variant once that is installed: higher alternatives priority)
        openmp_blas = "/usr/lib/x86_64-linux-gnu/openblas-openmp"
        if os.path.isdir(openmp_blas):
            env["LD_LIBRARY_PATH"] = openmp_blas + (":" + env["LD_LIBRARY_PATH"] if env.get("LD_LIBRARY_PATH") else "")
        for key, value in changes.items():
            if value is None:
                env.pop(key, None)
            else:
                env[key] = value
        cmd = ["/usr/bin/python3", os.path.join(HERE, "bench_torch.py"), "--serve", "--threads",
               str(torch_threads)] + timing
        workers.append(Worker(f"PyTorch {label}", cmd, env))
    for w in workers:  # all start in parallel; now collect their meta lines
        first = w.read()
        if first and "meta" in first:
            w.meta = first["meta"]
    return workers


def measure_case(case, workers, meter, reps, budget):
    """Runs one case on every worker. Returns {(worker label, impl): [(seconds, quiet), ...]}
    and {worker label: error message}."""
    samples, errors = {}, {}
    ready = []
    for w in workers:
        reply = w.ask(f"setup {case}")
        if reply is None:
            errors[w.label] = "process exited"
        elif "error" in reply:
            errors[w.label] = reply["error"]
        else:
            ready.append(w)
            for impl in reply["iters"]:
                samples[(w.label, impl)] = []
    noisy_before = False
    for round_index in range(2 * reps):
        labels = {w.label for w in ready}
        active = [v for (label, _), v in samples.items() if label in labels]
        if not active or all(sum(q for _, q in v) >= reps for v in active):
            break
        if round_index >= reps and budget["seconds"] <= 0:
            break  # no quiet time left to wait for: take what there is
        if noisy_before:
            wait_for_quiet(meter, budget)
        noisy_before = False
        shift = round_index % len(ready) if ready else 0
        for w in ready[shift:] + ready[:shift]:
            meter.start()
            reply = w.ask("rep")
            foreign = meter.stop()
            if reply is None or "error" in reply:
                if reply is not None:
                    errors[w.label] = reply["error"]
                continue
            quiet = foreign < QUIET_CORES
            noisy_before = noisy_before or not quiet
            for impl, seconds in reply["reps_s"].items():
                samples[(w.label, impl)].append((seconds, quiet))
        ready = [w for w in ready if w.alive and w.label not in errors]
    return samples, errors


def wait_for_quiet(meter, budget, probe=0.3, longest=5.0):
    """Waits until other processes use less than QUIET_CORES, spending at most `longest` seconds
    here and never more than what is left of the run's budget."""
    start = time.time()
    while budget["seconds"] > 0 and time.time() - start < longest:
        meter.start()
        time.sleep(probe)
        if meter.stop() < QUIET_CORES:
            break
    budget["seconds"] -= time.time() - start


def summarize(values):
    """(median, quiet count, total count): the median of the quiet repetitions if there are
    enough of them, else of all."""
    if not values:
        return None, 0, 0
    quiet = [s for s, q in values if q]
    chosen = quiet if len(quiet) >= MIN_QUIET else [s for s, _ in values]
    return statistics.median(chosen), len(quiet), len(values)


def paired_ratio(first, second):
    """Median over repetitions of first/second, where both were timed in the same repetition of
    the same process (tessera and raw sgemm, back to back): a slow phase of the machine then
    cancels out of each ratio instead of landing on one side's median. Quiet repetitions only
    when there are enough."""
    pairs = [(a, b, qa and qb) for (a, qa), (b, qb) in zip(first, second) if b > 0]
    if not pairs:
        return None
    quiet = [a / b for a, b, q in pairs if q]
    return statistics.median(quiet if len(quiet) >= MIN_QUIET else [a / b for a, b, _ in pairs])


def table(headers, rows, numeric):
    """A markdown table with padded columns (readable as plain text too); columns 1..numeric are
    right-aligned."""
    widths = [max(3, max(len(str(x)) for x in col)) for col in zip(headers, *rows)]

    def line(cells):
        return "| " + " | ".join(str(c).rjust(w) if 1 <= i <= numeric else str(c).ljust(w)
                                 for i, (c, w) in enumerate(zip(cells, widths))) + " |"
    sep = "| " + " | ".join(("-" * (w - 1) + ":") if 1 <= i <= numeric else (":" + "-" * (w - 1))
                            for i, w in enumerate(widths)) + " |"
    return "\n".join([line(headers), sep] + [line(r) for r in rows])


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("filter", nargs="?", default="", help="run the cases whose name contains this")
    parser.add_argument("--quick", action="store_true", help="3 short repetitions per case (development)")
    parser.add_argument("--build-dir", default=os.environ.get("TESSERA_BUILD_DIR", "build"))
    parser.add_argument("--threads", type=int, default=2, help="tessera's thread count")
    parser.add_argument("--reps", type=int, help="quiet repetitions wanted per case (default 7, quick 3)")
    parser.add_argument("--max-wait", type=float, default=120,
                        help="seconds the whole run may spend waiting for a quiet machine (default 120)")
    parser.add_argument("--no-write", action="store_true", help="do not write bench/results.md")
    blas_kernels.add_argument(parser)
    args = parser.parse_args()
    blas_kernels.apply(args)

    reps = args.reps or (3 if args.quick else 7)
    rep_seconds = 0.03 if args.quick else 0.1
    timing = ["--rep-seconds", str(rep_seconds), "--warmup-seconds", "0.02" if args.quick else "0.05"]

    build_dir = args.build_dir if os.path.isabs(args.build_dir) else os.path.join(ROOT, args.build_dir)
    engine = os.path.join(build_dir, "bench", "bench_engine")
    if not os.path.exists(engine):
        sys.exit(f"run_bench: {engine} does not exist; build it first: ninja -C {args.build_dir} bench/bench_engine")
    listing = subprocess.run([engine, "--list"], stdout=subprocess.PIPE, text=True, check=True).stdout
    cases = [c for c in listing.splitlines() if c and args.filter in c]
    if not cases:
        sys.exit(f"run_bench: no case name contains '{args.filter}'")

    start = time.time()
    workers = start_workers(engine, args.threads, timing)
    meter = LoadMeter(workers)
    budget = {"seconds": args.max_wait}
    results = {}
    try:
        for case in cases:
            samples, errors = measure_case(case, workers, meter, reps, budget)
            results[case] = (samples, errors)
            t = summarize(samples.get(("tessera", "tessera"), []))[0]
            say(f"{case}: tessera {fmt_time(t)}" + (f"; errors: {errors}" if errors else ""))
    except KeyboardInterrupt:
        say("interrupted: printing what was measured")
    finally:
        for w in workers:
            w.close()
    engine_meta = workers[0].meta
    torch_meta = next((w.meta for w in workers[1:] if w.meta), {})
    say(f"done in {time.time() - start:.0f} s ({args.max_wait - budget['seconds']:.0f} s waiting for quiet)")

    main_rows, matmul_rows = [], []
    met_count = total = 0
    for case, (samples, errors) in results.items():
        t, t_quiet, t_all = summarize(samples.get(("tessera", "tessera"), []))
        per_setting = {}
        for label, _, _ in TORCH_SETTINGS:
            median, q, n = summarize(samples.get((f"PyTorch {label}", "torch"), []))
            if median is not None:
                per_setting[label] = (median, q, n)
        best = min(per_setting, key=lambda k: per_setting[k][0]) if per_setting else None
        pt, pt_quiet, pt_all = per_setting[best] if best else (None, 0, 0)
        ratio = t / pt if t and pt else None
        kind, limit = target_for(case)
        raw, raw_quiet, raw_all = summarize(samples.get(("tessera", "sgemm"), []))
        if kind == "sgemm":
            judged = paired_ratio(samples.get(("tessera", "tessera"), []), samples.get(("tessera", "sgemm"), []))
            target = f"≤ {limit:.3f}× sgemm"
        else:
            judged = ratio
            target = f"≤ {limit:g}× PyTorch"
        if judged is None:
            result = ("error: " + "; ".join(f"{k}: {v}" for k, v in errors.items()))[:100] if errors else "no data"
        else:
            total += 1
            ok = judged <= limit
            met_count += ok
            result = f"{'met' if ok else 'MISSED'} ({judged:.2f}×)"
        quiet_counts = [(t_quiet, t_all), (pt_quiet, pt_all)] + ([(raw_quiet, raw_all)] if kind == "sgemm" else [])
        quiet = "/".join(str(q) for q, _ in quiet_counts) + f" of {max(n for _, n in quiet_counts)}"
        main_rows.append([case, fmt_time(t), fmt_time(pt), f"{ratio:.2f}" if ratio else "—", target, result,
                          best or "—", quiet])
        if kind == "sgemm":
            n = int(case.split()[1])
            flops = 2.0 * n ** 3
            gf = lambda s: f"{flops / s / 1e9:.0f}" if s else "—"  # noqa: E731
            matmul_rows.append([case, fmt_time(t), fmt_time(raw), fmt_time(pt), gf(t), gf(raw), gf(pt),
                                f"{judged:.3f}" if judged else "—"])

    main_table = table(["case", "tessera", "PyTorch", "tessera/PyTorch", "target", "result", "PyTorch setting",
                        "quiet reps"], main_rows, numeric=3)
    matmul_table = table(["matmul", "tessera", "raw sgemm", "PyTorch", "GFLOP/s tessera", "GFLOP/s sgemm",
                          "GFLOP/s PyTorch", "tessera/sgemm (paired)"], matmul_rows, numeric=7) if matmul_rows else ""

    cpu = ""
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), "")
    except OSError:
        pass
    header = [
        f"tessera: {engine_meta.get('threads', args.threads)} threads (tessera::set_num_threads), "
        f"OMP_WAIT_POLICY={engine_meta.get('omp_wait_policy') or 'default'}; "
        f"{engine_meta.get('openblas_config', 'OpenBLAS ?')}.",
        blas_kernels.describe(engine_meta) + ".",
        f"PyTorch {torch_meta.get('torch', '?')}: the fastest of {len(TORCH_SETTINGS)} thread settings per case. "
        + SETTINGS_LEGEND,
        f"Times are medians of ≥ {reps} repetitions (each a loop of ≈{rep_seconds:g} s after warm-up), "
        "tessera and PyTorch interleaved. Ratios: lower is better. \"quiet reps\": repetitions during which "
        f"other processes used < {QUIET_CORES} core, for tessera / PyTorch (best setting) / raw sgemm; "
        f"medians use only those when there are ≥ {MIN_QUIET}. The matmul target is judged on the median of "
        "per-repetition tessera/sgemm ratios (both timed back to back in one process), not on the ratio of medians.",
        f"Machine: {cpu or platform.processor()}, {NCPU} CPUs; "
        f"{datetime.datetime.now().strftime('%Y-%m-%d %H:%M')}"
        + (f"; filter '{args.filter}'" if args.filter else "") + ("; --quick" if args.quick else "") + ".",
    ]
    summary = f"Targets met: {met_count} of {total}."
    body = main_table + "\n\n" + summary + "\n" + ("\n" + matmul_table + "\n" if matmul_table else "")
    print("\n".join(header) + "\n\n" + body)

    if not args.no_write:
        path = blas_kernels.results_path(os.path.join(HERE, "results.md"), args)
        temp = path + ".tmp"
        with open(temp, "w") as f:
            f.write("# tessera vs PyTorch: benchmark results\n\n"
                    "Written by `bench/run_bench.py` (`./run bench`); overwritten on each run.\n\n"
                    + "\n\n".join(header) + "\n\n" + body)
        os.replace(temp, path)
        say(f"wrote {os.path.relpath(path, ROOT)}")


if __name__ == "__main__":
    main()
