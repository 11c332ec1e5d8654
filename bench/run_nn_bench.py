#!/usr/bin/python3
"""tessera against PyTorch on the nn benchmarks of issues #3 (MLP, attention, Transformer) and #4
(convolution, attention CNN training steps): drives bench_nn (C++) and bench_nn_torch.py in one
invocation, prints a table and writes bench/results_nn.md. `run_nn_bench.py cnn` runs only the
issue-4 cases.

    /usr/bin/python3 bench/run_nn_bench.py [FILTER] [--build-dir DIR] [--threads 2] [--reps 5]
                                           [--rep-seconds 0.3] [--mem-steps 5] [--no-mem] [--no-write]

The build directory comes from --build-dir, else $TESSERA_BUILD_DIR, else "build"
(build it first: ninja -C DIR bench/bench_nn).

How it measures. tessera runs at --threads (default 2) through tessera::set_num_threads. PyTorch
runs under each of TORCH_SETTINGS (torch.set_num_threads 1 and 2, OMP_WAIT_POLICY=PASSIVE), each
in its own process since the environment must be set before torch is imported; each case keeps
PyTorch's fastest setting and the table names it. All processes start once in --serve mode; for
each case every process builds its model, warms up and calibrates a loop of steps to about
--rep-seconds (one at a time), then round by round each process times one repetition in turn
(the order rotates), so background load on this shared machine hits both sides alike. Other processes' CPU use is
watched (/proc/stat): a repetition during which they used >= 0.3 cores is noisy; rounds go on (up
to 2x --reps) until each side has --reps quiet ones. Times are medians of the quiet repetitions
(of all, when fewer than --reps were quiet), in ms per step. tessera's default OpenMP wait policy
spins, so it is hit much harder by other load than PyTorch under OMP_WAIT_POLICY=PASSIVE.

Cases that build a model report its parameter count from both sides; the run stops if they
differ (the two sides must build the same network).

Memory (the training-step cases with a memory target): a fresh process per side and case builds the model and runs
--mem-steps training steps, then reports its peak RSS (getrusage ru_maxrss). PyTorch's number
includes importing torch; the table also gives it minus the RSS right after `import torch`.
PyTorch's memory process uses the thread setting that won the timing.
"""
import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys

import blas_kernels

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
PY = "/usr/bin/python3"

TORCH_SETTINGS = [("1t", 1, {"OMP_WAIT_POLICY": "PASSIVE"}), ("2t", 2, {"OMP_WAIT_POLICY": "PASSIVE"})]

# case name -> (time ratio target tessera/PyTorch, memory target tessera/PyTorch or None)
CASES = [
    ("mlp train 784-512-512-10 b128", 1.0, None),
    ("mha fwd+bwd B32 L64 E128 H4", 1.0, None),
    ("mha fwd+bwd B8 L512 E512 H8", 1.0, None),
    ("transformer train d128 h4 ffn512 2+2 b32 l16", 0.5, 0.5),
    ("transformer train d256 h8 ffn1024 3+3 b64 l24", 0.8, 0.5),
    ("cnn conv2d 64->64 3x3 (32,64,16,16) fwd+bwd", 1.0, None),
    ("cnn train default w16,32,64 (128,1,28,28)", 1.0, 1.0),
    ("cnn train classic w64,128,256 (32,3,16,16)", 1.0, 1.0),
    ("cnn train classic w64,128,256 (32,3,32,32)", 1.0, 1.0),
]


def say(message):
    print(f"[nn-bench] {message}", file=sys.stderr, flush=True)


class Worker:
    """One --serve process: tessera, or PyTorch under one thread setting."""

    def __init__(self, label, argv, env):
        self.label = label
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env,
                                     cwd=ROOT)
        self.meta = self.read().get("meta", {})

    def read(self):
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"{self.label}: process ended (exit {self.proc.poll()})")
        return json.loads(line)

    def ask(self, command):
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        return self.read()

    def close(self):
        try:
            self.proc.stdin.write("quit\n")
            self.proc.stdin.flush()
            self.proc.wait(timeout=10)
        except Exception:
            self.proc.kill()


# PyTorch loads the system's libopenblas.so.0, which on a machine with tessera's pthread OpenBLAS
# installed is that variant (it has the higher alternatives priority). Every comparison so far ran
# PyTorch on the OpenMP variant, so it keeps that one where it is installed.
OPENMP_OPENBLAS = "/usr/lib/x86_64-linux-gnu/openblas-openmp"


def torch_env(changes):
    env = dict(os.environ)
    if os.path.isdir(OPENMP_OPENBLAS):
        env["LD_LIBRARY_PATH"] = OPENMP_OPENBLAS + (":" + env["LD_LIBRARY_PATH"] if env.get("LD_LIBRARY_PATH") else "")
    for key, value in changes.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
NCPU = os.cpu_count() or 1
QUIET_CORES = 0.3  # a repetition is quiet if other processes used less than this many cores meanwhile


def system_ticks():
    with open("/proc/stat") as f:
        user, nice, system, idle, iowait, irq, softirq, steal = [int(x) for x in f.readline().split()[1:9]]
    return user + nice + system + irq + softirq + steal, user + nice + system + idle + iowait + irq + softirq + steal


def process_ticks(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])
    except (OSError, IndexError, ValueError):
        return 0


def others_load(workers, body):
    """Runs body(); returns (its result, cores' worth of CPU other processes used meanwhile)."""
    def ours():
        t = os.times()
        return sum(process_ticks(w.proc.pid) for w in workers) + (t.user + t.system) * CLOCK_TICKS
    busy0, total0, ours0 = *system_ticks(), ours()
    result = body()
    busy1, total1 = system_ticks()
    elapsed = (total1 - total0) / NCPU
    load = max(0.0, (busy1 - busy0) - (ours() - ours0)) / elapsed if elapsed > 0 else 0.0
    return result, load


def time_case(name, workers, args):
    """{label: [seconds per step, ...]} for every worker that set the case up. Rounds continue
    (up to 2x --reps) until every worker has --reps quiet repetitions; the quiet ones are kept
    when there are at least --reps of them, else all."""
    live, parameters = [], {}
    for w in workers:
        answer = w.ask(f"setup {name}")
        if "error" in answer:
            say(f"{w.label}: {name}: {answer['error']}")
        else:
            live.append(w)
            if "parameters" in answer:
                parameters[w.label] = answer["parameters"]
    if len(set(parameters.values())) > 1:
        raise RuntimeError(f"{name}: the two sides built different networks: parameter counts {parameters}")
    if parameters:
        say(f"  parameters: {next(iter(parameters.values())):,} on every side")
    reps = {w.label: [] for w in live}
    quiet = {w.label: [] for w in live}
    noisy = 0
    for r in range(2 * args.reps):
        if r >= args.reps and all(len(quiet[w.label]) >= args.reps for w in live):
            break
        order = live[r % len(live):] + live[:r % len(live)] if live else []
        for w in order:
            answer, load = others_load(workers, lambda: w.ask("rep"))
            if "error" in answer:
                say(f"{w.label}: {name}: {answer['error']}")
                continue
            reps[w.label].append(answer["rep_s"])
            if load < QUIET_CORES:
                quiet[w.label].append(answer["rep_s"])
            else:
                noisy += 1
    if noisy:
        say(f"  {noisy} noisy repetitions (other processes used >= {QUIET_CORES} cores)")
    return {label: (quiet[label] if len(quiet[label]) >= args.reps else v) for label, v in reps.items() if v}


def run_json(argv, env=None):
    out = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=ROOT)
    for line in out.stdout.splitlines():
        obj = json.loads(line)
        if "maxrss_mb" in obj or "error" in obj:
            return obj
    return {"error": f"exit {out.returncode}: {out.stderr.strip()[-300:]}"}


def fmt_ms(seconds):
    return "—" if seconds is None else f"{seconds * 1e3:.2f}"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("filter", nargs="?", default="")
    parser.add_argument("--build-dir", default=os.environ.get("TESSERA_BUILD_DIR", "build"))
    parser.add_argument("--threads", type=int, default=2, help="tessera's thread count")
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--rep-seconds", type=float, default=0.3)
    parser.add_argument("--warmup-seconds", type=float, default=0.3)
    parser.add_argument("--mem-steps", type=int, default=5)
    parser.add_argument("--no-mem", action="store_true")
    parser.add_argument("--no-write", action="store_true")
    blas_kernels.add_argument(parser)
    args = parser.parse_args()
    blas_kernels.apply(args)
    if args.reps < 5:
        parser.error("--reps must be at least 5 (medians of >= 5 repetitions)")

    build = args.build_dir if os.path.isabs(args.build_dir) else os.path.join(ROOT, args.build_dir)
    binary = os.path.join(build, "bench", "bench_nn")
    if not os.path.exists(binary):
        sys.exit(f"{binary} not found: ninja -C {args.build_dir} bench/bench_nn")
    torch_script = os.path.join(HERE, "bench_nn_torch.py")
    timing = ["--rep-seconds", str(args.rep_seconds), "--warmup-seconds", str(args.warmup_seconds)]

    cases = [c for c in CASES if args.filter in c[0]]
    say(f"tessera: {args.threads} threads ({binary}); PyTorch settings: "
        + ", ".join(f"{label} = set_num_threads({n}) OMP_WAIT_POLICY=PASSIVE" for label, n, _ in TORCH_SETTINGS))

    workers = [Worker("tessera", [binary, "--serve", "--threads", str(args.threads)] + timing, dict(os.environ))]
    for label, n, env in TORCH_SETTINGS:
        workers.append(Worker(f"torch {label}", [PY, torch_script, "--serve", "--threads", str(n)] + timing,
                              torch_env(env)))
    say(f"tessera meta {workers[0].meta}; torch meta {workers[1].meta}")
    blas_line = blas_kernels.describe(workers[0].meta)
    say(blas_line)

    rows = []
    try:
        for name, target, mem_target in cases:
            say(f"timing: {name}")
            reps = time_case(name, workers, args)
            med = {label: statistics.median(v) for label, v in reps.items()}
            t = med.get("tessera")
            torch_labels = [lbl for lbl in med if lbl.startswith("torch")]
            best = min(torch_labels, key=lambda lbl: med[lbl]) if torch_labels else None
            p = med[best] if best else None
            ratio = t / p if t and p else None
            row = {"case": name, "tessera_s": t, "torch_s": p, "torch_setting": best and best.split(" ", 1)[1],
                   "torch_all": med, "reps": reps, "ratio": ratio, "target": target,
                   "met": ratio is not None and ratio <= target, "mem_target": mem_target}
            rows.append(row)
            say(f"  tessera {fmt_ms(t)} ms, torch {fmt_ms(p)} ms ({row['torch_setting']}; "
                + ", ".join(f"{lbl} {fmt_ms(v)}" for lbl, v in med.items() if lbl != 'tessera')
                + f"), ratio {ratio and round(ratio, 3)}")
    finally:
        for w in workers:
            w.close()

    # The GEMM floor of the Transformer steps, measured now: every Linear's three products with
    # cblas_sgemm alone, on OpenBLAS's own threads (bench_nn --floor).
    if any(r["case"].startswith("transformer train") for r in rows):
        say("GEMM floor of the Transformer steps (bench_nn --floor)")
        out = subprocess.run([binary, "--floor", "--threads", str(args.threads), "--reps", str(args.reps)],
                             capture_output=True, text=True, cwd=ROOT)
        floors = {}
        for line in out.stdout.splitlines():
            obj = json.loads(line)
            floors[obj["case"]] = obj
        for r in rows:
            f = floors.get(r["case"])
            if f and r["tessera_s"]:
                r["floor_s"], r["floor_core"] = f["floor_s"], f["corename"]
                r["floor_ratio"] = r["tessera_s"] / f["floor_s"]
                say(f"  {r['case']}: floor {fmt_ms(f['floor_s'])} ms ({f['gflop']:.2f} GFLOP at "
                    f"{f['gflops']:.0f} GFLOP/s, OpenBLAS {f['corename']}), step / floor {r['floor_ratio']:.2f}")

    if not args.no_mem:
        for row in rows:
            if row["mem_target"] is None:
                continue
            name = row["case"]
            say(f"memory: {name}")
            te = run_json([binary, "--mem", name, "--steps", str(args.mem_steps), "--threads", str(args.threads)])
            setting = next((s for s in TORCH_SETTINGS if s[0] == row["torch_setting"]), TORCH_SETTINGS[0])
            to = run_json([PY, torch_script, "--mem", name, "--steps", str(args.mem_steps), "--threads",
                           str(setting[1])], env=torch_env(setting[2]))
            row["mem"] = {"tessera": te, "torch": to, "torch_setting": setting[0]}
            if "maxrss_mb" in te and "maxrss_mb" in to:
                row["mem_tessera_mb"] = te["maxrss_mb"]
                row["mem_torch_mb"] = to["maxrss_mb"]
                row["mem_torch_net_mb"] = to["maxrss_mb"] - to["after_import_mb"]
                row["mem_ratio"] = te["maxrss_mb"] / to["maxrss_mb"]
                row["mem_ratio_net"] = te["maxrss_mb"] / row["mem_torch_net_mb"]
                row["mem_met"] = row["mem_ratio"] < row["mem_target"]
                say(f"  tessera {te['maxrss_mb']:.1f} MB; torch {to['maxrss_mb']:.1f} MB "
                    f"(after import {to['after_import_mb']:.1f} MB, net {row['mem_torch_net_mb']:.1f} MB)")
            else:
                say(f"  error: tessera {te.get('error')}, torch {to.get('error')}")

    # ---------------- the table ----------------
    header = ["case", "tessera ms", "PyTorch ms", "ratio", "target", "met?", "GEMM floor ms", "step / floor"]
    lines = []
    for r in rows:
        lines.append([r["case"], fmt_ms(r["tessera_s"]),
                      f"{fmt_ms(r['torch_s'])} ({r['torch_setting']})" if r["torch_s"] else "—",
                      f"{r['ratio']:.2f}" if r["ratio"] else "—", f"<= {r['target']}",
                      "yes" if r["met"] else "NO",
                      f"{fmt_ms(r['floor_s'])} ({r['floor_core']})" if "floor_s" in r else "—",
                      f"{r['floor_ratio']:.2f} (target <= 1.25)" if "floor_ratio" in r else "—"])
    mem_header = ["case (peak RSS)", "tessera MB", "PyTorch MB", "PyTorch MB minus import", "ratio (raw / net)",
                  "target", "met? (raw / net)"]
    mem_lines = []
    for r in rows:
        if "mem_ratio" in r:
            mem_lines.append([r["case"], f"{r['mem_tessera_mb']:.1f}", f"{r['mem_torch_mb']:.1f} ({r['mem']['torch_setting']})",
                              f"{r['mem_torch_net_mb']:.1f}", f"{r['mem_ratio']:.2f} / {r['mem_ratio_net']:.2f}",
                              f"< {r['mem_target']}",
                              f"{'yes' if r['mem_ratio'] < r['mem_target'] else 'NO'} / "
                              f"{'yes' if r['mem_ratio_net'] < r['mem_target'] else 'NO'}"])

    def plain(head, body):
        widths = [max(len(str(x)) for x in col) for col in zip(head, *body)]
        out = ["  ".join(str(x).ljust(w) for x, w in zip(head, widths))]
        out.append("  ".join("-" * w for w in widths))
        out += ["  ".join(str(x).ljust(w) for x, w in zip(row, widths)) for row in body]
        return "\n".join(out)

    def markdown(head, body):
        out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        out += ["| " + " | ".join(str(x) for x in row) + " |" for row in body]
        return "\n".join(out)

    threads_note = (f"tessera: {args.threads} threads. PyTorch {workers[1].meta.get('version', '?')}: best of "
                    + ", ".join(f"`{label}` = set_num_threads({n}) with OMP_WAIT_POLICY=PASSIVE"
                                for label, n, _ in TORCH_SETTINGS)
                    + f" per case (shown in brackets). Medians of {args.reps} interleaved repetitions, ms per step.")
    print(threads_note)
    print(blas_line)
    print(plain(header, lines))
    if mem_lines:
        print()
        print(plain(mem_header, mem_lines))
    print()
    for r in rows:
        print(f"{r['case']}: all medians (ms): "
              + ", ".join(f"{lbl} {fmt_ms(v)}" for lbl, v in r["torch_all"].items()))

    if not args.no_write:
        path = blas_kernels.results_path(os.path.join(HERE, "results_nn.md"), args)
        with open(path, "w") as f:
            f.write("# nn benchmarks (issues #3 and #4): tessera vs PyTorch\n\n")
            f.write(f"Generated by `bench/run_nn_bench.py` on {datetime.datetime.now():%Y-%m-%d %H:%M}, "
                    f"{platform.node()}, {os.cpu_count()} CPUs, build dir `{args.build_dir}`.\n\n")
            f.write(threads_note + "\n\n" + blas_line + ".\n\n")
            f.write(markdown(header, lines) + "\n\n")
            if mem_lines:
                f.write("Peak memory: max RSS (getrusage) of a fresh process per side and case after "
                        f"{args.mem_steps} training steps. PyTorch's raw number includes importing torch; "
                        "'minus import' subtracts its max RSS right after `import torch`. The target is judged "
                        "on the raw number and, for reference, on the net one.\n\n")
                f.write(markdown(mem_header, mem_lines) + "\n\n")
            f.write("Every repetition (ms):\n\n")
            for r in rows:
                f.write(f"- {r['case']}: " + "; ".join(
                    f"{lbl}: " + ", ".join(f"{x * 1e3:.2f}" for x in v) for lbl, v in r["reps"].items()) + "\n")
        say(f"wrote {os.path.relpath(path, ROOT)}")


if __name__ == "__main__":
    main()
