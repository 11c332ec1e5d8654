#!/usr/bin/python3
"""Issue 14's measurement: data-parallel training on this machine, tessera and PyTorch.

    /usr/bin/python3 bench/run_distributed_bench.py [--build-dir DIR] [--rounds 3] [--bundled-pairs 30000]
        [--cnn-limit 60000] [--max-wait 2400] [--out runs/bench-distributed] [--no-torch] [--no-write]

Needs `ninja -C DIR examples/translator/translator examples/attention_cnn/attention_cnn` (DIR:
--build-dir, else $TESSERA_BUILD_DIR, else build), Open MPI, dataset-fashion-mnist, python3-torch.

For each example, one epoch, the same work four ways:
  tessera 1x2   one process, 2 engine threads
  tessera 2x1   `mpirun -np 2`, 1 thread per rank (docs/distributed.md): throughput, and the share
                of the epoch rank 0 waited for the gradient all-reduce (the line the programs print)
  PyTorch 1x2   torch.set_num_threads(2), OMP_WAIT_POLICY=PASSIVE (as the other benches)
  PyTorch 2x1   2 processes (torch.multiprocessing) with DistributedDataParallel over gloo, 1 thread each
Translator: the bundled corpus (--bundled-pairs), the default model, batch 64; target tokens/s.
PyTorch runs bench/translator_reference.py on the batches `translator export` wrote (same data,
same batches, same order; --ddp-ranks 2 shards each batch as tessera does). CNN: the first
--cnn-limit Fashion-MNIST images, the default network, batch 128; images/s; PyTorch runs
bench/attention_cnn_reference.py (the same network, loss, optimizer and flips).

Rounds alternate the order of the runs (forward, then backward); medians over --rounds. Before
each run the runner waits (at most --max-wait s over the whole run) until no compiler runs and
other processes use < 0.3 cores (/proc/stat minus this run's own children: the load average would
count our previous run), and records the cores other processes used during each run. OpenBLAS:
the environment's kernels (OPENBLAS_CORETYPE as set); the table names the core. Writes
bench/results_distributed.md and prints the per-step compute times bench/distributed_cost_model.py
takes.
"""
import argparse
import ctypes
import datetime
import json
import math
import os
import platform
import re
import statistics
import subprocess
import sys
import time

from run_nn_bench import OPENMP_OPENBLAS, system_ticks, torch_env  # /proc/stat sampling, PyTorch's environment
from run_translator_bench import (NCPU, QUIET_CORES, built_programs, children_ticks,  # cores other processes use
                                  other_cores)

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
PY = "/usr/bin/python3"
MPI_ENV = {"OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1"}
CONFIGS = ["tessera 1x2", "tessera 2x1", "PyTorch 1x2", "PyTorch 2x1"]


def say(message):
    print(f"[distributed-bench] {message}", file=sys.stderr, flush=True)


def compiler_running():
    return subprocess.run(["pgrep", "-f", "cc1plus"], capture_output=True).returncode == 0


class QuietBudget:
    """Waits for a quiet machine before each timed run, at most max_wait seconds in all."""

    def __init__(self, max_wait):
        self.left = max_wait

    def wait(self, what):
        while self.left > 0:
            compiling, load = compiler_running(), other_cores(3.0)
            if not compiling and load < QUIET_CORES:
                return
            say(f"busy ({'a compiler runs, ' if compiling else ''}other processes use {load:.2f} cores); "
                f"waiting before {what} ({self.left:.0f} s of waiting left)")
            time.sleep(min(30, self.left))
            self.left -= 33
        say(f"waited long enough: {what} runs on a busy machine (the list of runs gives the cores others used)")


def run(argv, env):
    """(stdout + stderr, cores other processes used meanwhile); exits on failure."""
    busy0, total0, ours0 = *system_ticks(), children_ticks()
    proc = subprocess.run(argv, env=env, cwd=ROOT, capture_output=True, text=True)
    busy1, total1 = system_ticks()
    elapsed = (total1 - total0) / NCPU
    others = max(0.0, (busy1 - busy0) - (children_ticks() - ours0)) / elapsed if elapsed > 0 else 0.0
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr[-3000:])
        raise SystemExit(f"{' '.join(argv[:6])} ... failed (exit {proc.returncode})")
    return proc.stdout + proc.stderr.replace("\r", "\n"), others


def parse_tessera(text, unit):
    """(throughput, waited % of the epoch or None) from rank 0's epoch lines."""
    throughput = float(re.search(r"^epoch 1: .*?([0-9.]+) " + unit + r"\s*$", text, re.M).group(1))
    waited = re.search(r"rank 0 waited [0-9.]+ s for them this epoch \(([0-9.]+) % of the epoch\)", text)
    return throughput, float(waited.group(1)) if waited else None


def openblas_core(binary):
    """OpenBLAS's core name in this environment for the library `binary` loads (ldd + ctypes)."""
    found = re.search(r"libopenblas\S* => (\S+)", subprocess.run(["ldd", binary], capture_output=True,
                                                                    text=True).stdout)
    return (openblas_core_of_path(found.group(1)), found.group(1)) if found else ("?", "?")


def openblas_core_of_path(path):
    try:
        library = ctypes.CDLL(path)
        library.openblas_get_corename.restype = ctypes.c_char_p
        return library.openblas_get_corename().decode()
    except (AttributeError, OSError):
        return "?"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--build-dir", default=os.environ.get("TESSERA_BUILD_DIR", "build"))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--bundled-pairs", type=int, default=30000, help="translator: pairs of the bundled corpus")
    parser.add_argument("--cnn-limit", type=int, default=60000, help="attention CNN: training images")
    parser.add_argument("--max-wait", type=float, default=2400, help="seconds to wait for a quiet machine, in all")
    parser.add_argument("--out", default="runs/bench-distributed", help="work directory")
    parser.add_argument("--no-torch", action="store_true", help="tessera only")
    parser.add_argument("--no-write", action="store_true", help="do not write bench/results_distributed.md")
    args = parser.parse_args()

    translator, cnn = built_programs(args.build_dir, "examples/translator/translator",
                                     "examples/attention_cnn/attention_cnn")
    out = os.path.join(ROOT, args.out)
    os.makedirs(out, exist_ok=True)
    started = time.perf_counter()
    tessera_env = {**os.environ, **MPI_ENV}
    pytorch_env = torch_env({"OMP_WAIT_POLICY": "PASSIVE"})
    tessera_core, tessera_blas = openblas_core(translator)
    torch_lib = os.path.join(OPENMP_OPENBLAS, "libopenblas.so.0")  # what torch_env makes PyTorch load
    torch_core = openblas_core_of_path(torch_lib if os.path.exists(torch_lib) else "libopenblas.so.0")

    # the data the PyTorch translator trains on: tessera's batches of epoch 1
    data = os.path.join(out, "translator-data")
    subprocess.run([translator, "export", "--data", "bundled", "--bundled-pairs", str(args.bundled_pairs), "--epochs",
                    "1", "--out", data], cwd=ROOT, check=True, capture_output=True)
    with open(os.path.join(data, "options.json")) as f:
        translator_steps = json.load(f)["steps"]
    cnn_steps = math.ceil(args.cnn_limit / 128)

    translator_args = ["train", "--data", "bundled", "--bundled-pairs", str(args.bundled_pairs), "--epochs", "1",
                       "--eval-sentences", "50", "--out", os.path.join(out, "translator")]
    cnn_args = ["--checkpoint", os.path.join(out, "cnn", "model.safetensors"), "train", "--limit",
                str(args.cnn_limit), "--epochs", "1", "--no-eval"]
    mpirun = ["mpirun", "-np", "2", "--oversubscribe"]
    reference = os.path.join(HERE, "translator_reference.py")
    cnn_reference = os.path.join(HERE, "attention_cnn_reference.py")

    def measure(case, config):
        """(throughput, waited %, other processes' cores) of one run."""
        if config.startswith("tessera"):
            launcher, threads = ([], "2") if config.endswith("1x2") else (mpirun, "1")
            binary, rest, unit = ((translator, translator_args, "target tokens/s") if case == "translator"
                                  else (cnn, cnn_args, "images/s"))
            text, others = run([*launcher, binary, "--threads", threads, *rest], tessera_env)
            return (*parse_tessera(text, unit), others)
        threads, ranks = ("2", "1") if config.endswith("1x2") else ("1", "2")
        if case == "translator":
            argv = [PY, reference, "--threads", threads, "train", "--data", data, "--out",
                    os.path.join(out, "reference"), "--max-steps", str(translator_steps), "--ddp-ranks", ranks]
            key = "tokens_per_second"
        else:
            argv = [PY, cnn_reference, "--threads", threads, "--ddp-ranks", ranks, "--limit", str(args.cnn_limit)]
            key = "images_per_second"
        text, others = run(argv, pytorch_env)
        results = [json.loads(line) for line in text.split("\n") if line.startswith("{")]
        return results[-1][key], None, others

    cases = ["translator", "attention_cnn"]
    configs = [c for c in CONFIGS if not (args.no_torch and c.startswith("PyTorch"))]
    order = [(case, config) for case in cases for config in configs]
    runs = {key: [] for key in order}
    budget = QuietBudget(args.max_wait)
    for round_index in range(args.rounds):
        for case, config in (order if round_index % 2 == 0 else order[::-1]):
            budget.wait(f"round {round_index + 1}: {case}, {config}")
            throughput, waited, others = measure(case, config)
            runs[(case, config)].append({"throughput": throughput, "waited": waited, "others": others})
            say(f"round {round_index + 1}: {case}, {config}: {throughput:.0f}/s"
                + (f", rank 0 waited {waited:.1f} % of the epoch" if waited is not None else "")
                + f" (other processes: {others:.2f} cores)")

    def median(case, config, key="throughput"):
        """Over the quiet runs (other processes < 0.3 cores), or all when fewer than 2 were quiet."""
        done = runs.get((case, config), [])
        quiet = [r for r in done if r["others"] < QUIET_CORES]
        values = [r[key] for r in (quiet if len(quiet) >= 2 else done) if r[key] is not None]
        return statistics.median(values) if values else None

    units = {"translator": "target tokens/s", "attention_cnn": "images/s"}
    names = {"translator": f"translator, bundled corpus ({args.bundled_pairs} pairs), batch 64, {translator_steps} steps",
             "attention_cnn": f"attention CNN, {args.cnn_limit} Fashion-MNIST images, batch 128, {cnn_steps} steps"}
    fmt = lambda v, digits=0: "—" if v is None else f"{v:,.{digits}f}"  # noqa: E731
    ratio = lambda a, b: None if a is None or b is None else a / b  # noqa: E731
    header = ["case", "tessera 1×2", "tessera 2×1", "ratio", "comm wait %", "PyTorch 1×2", "PyTorch 2×1", "ratio",
              "tessera/PyTorch (2×1)"]
    rows = []
    for case in cases:
        t1, t2, p1, p2 = (median(case, c) for c in CONFIGS)
        rows.append([f"{names[case]} ({units[case]})", fmt(t1), fmt(t2), fmt(ratio(t2, t1), 2),
                     fmt(median(case, "tessera 2x1", "waited"), 1), fmt(p1), fmt(p2), fmt(ratio(p2, p1), 2),
                     fmt(ratio(t2, p2), 2)])
    table = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)] + ["| " + " | ".join(r) + " |" for r in rows]
    # per-step compute of one 2-thread process (the cost model's T_c): epoch seconds / steps
    with open(os.path.join(data, "train.tsv"), encoding="utf-8") as f:  # target tokens + <eos> per pair
        tokens_per_step = sum(len(line.rstrip("\n").split("\t")[1].split(" ")) + 1 for line in f) / translator_steps
    step_ms = {"translator": 1e3 * tokens_per_step / median("translator", "tessera 1x2"),
               "attention_cnn": 1e3 * (args.cnn_limit / cnn_steps) / median("attention_cnn", "tessera 1x2")}
    core_line = (f"OpenBLAS core: tessera {tessera_core} ({tessera_blas}), PyTorch {torch_core} ({torch_lib}); "
                 f"OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '(unset)')}")
    print("\n" + core_line + "\n")
    print("\n".join(table) + "\n")
    print(f"per-step compute, tessera 1×2: translator {step_ms['translator']:.1f} ms, attention CNN "
          f"{step_ms['attention_cnn']:.1f} ms  ->  /usr/bin/python3 bench/distributed_cost_model.py --translator-ms "
          f"{step_ms['translator']:.1f} --cnn-ms {step_ms['attention_cnn']:.1f}")

    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    lines = [
        "# Data-parallel training on the project machine (issue 14)", "",
        f"Written by `bench/run_distributed_bench.py --rounds {args.rounds} --bundled-pairs {args.bundled_pairs} "
        f"--cnn-limit {args.cnn_limit}` on {datetime.datetime.now().strftime('%Y-%m-%d %H:%M')}, {platform.node()} "
        f"({NCPU} cores), build `{args.build_dir}` at commit {commit}; whole run "
        f"{(time.perf_counter() - started) / 60:.1f} min.", "",
        f"- {core_line}.",
        "- One epoch each; 1×2 = one process with 2 threads, 2×1 = 2 processes (tessera: `mpirun -np 2`; PyTorch: "
        "DistributedDataParallel over gloo, torch.multiprocessing) with 1 thread each, each rank taking its rows of "
        "the same global batches. ratio = 2×1 / 1×2 throughput. comm wait % = the share of the epoch tessera's rank 0 "
        "spent waiting for the gradient all-reduce (the line the programs print).",
        f"- Medians of {args.rounds} rounds, the runs alternating (each round reverses the order of the previous); "
        "a run during which other processes used 0.3 cores or more is left out when 2 others of its kind were quiet.",
        "- PyTorch with OMP_WAIT_POLICY=PASSIVE (as the other benches); tessera runs its own thread pool.", "",
    ] + table + ["",
        f"Per-step compute of tessera 1×2 (the cost model's T_c): translator {step_ms['translator']:.1f} ms "
        f"({tokens_per_step:.0f} target tokens a step), attention CNN {step_ms['attention_cnn']:.1f} ms.", "",
        "All runs (throughput; rank 0's wait %; cores other processes used during the run):", ""]
    for (case, config), values in runs.items():
        lines.append(f"- {case}, {config}: " + "; ".join(
            f"{r['throughput']:.0f}" + (f" ({r['waited']:.1f} %)" if r["waited"] is not None else "")
            + f" [{r['others']:.2f}]" for r in values))
    lines.append("")
    if not args.no_write:
        with open(os.path.join(HERE, "results_distributed.md"), "w") as f:
            f.write("\n".join(lines))
        say("wrote bench/results_distributed.md")


if __name__ == "__main__":
    main()
