#!/usr/bin/python3
"""Long-sequence attention (issue 11): tessera's fused kernel against PyTorch 1.13's explicit
softmax(q kᵀ/√d + mask) v, one process per configuration so each peak RSS is its own.

    /usr/bin/python3 bench/run_attention_bench.py [--lengths 512,1024,...] [--build-dir DIR]
                                                  [--threads 2] [--reps 3] [--no-write]

B = 1, H = 8, d = 64; forward and forward+backward; causal and not. GFLOP/s counts 4·B·H·L²·d
for the forward, 2.5× that for forward+backward, halved when causal. The anchor is the engine's
sgemm rate (a 2048³ product on the same threads) measured in the same run. "Memory" is peak RSS
minus the RSS once q, k, v (and the upstream gradient) exist. PyTorch runs while its estimated
need fits in --torch-limit-gb; beyond that the table says so. Lengths above 4096 run one
repetition (a repetition takes seconds to minutes). Writes bench/results_attention.md.
"""
import argparse
import datetime
import json
import os
import platform
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
PY = "/usr/bin/python3"
B, H, D = 1, 8, 64


def run_json(argv, env=None):
    out = subprocess.run(argv, check=True, capture_output=True, text=True, env=env).stdout
    return json.loads(out.strip().splitlines()[-1])


def torch_env():
    env = dict(os.environ)
    env["OMP_WAIT_POLICY"] = "PASSIVE"  # PyTorch's best setting beside another process
    return env


def torch_bytes(length, backward):
    """PyTorch's explicit form holds the scores and the weights ([B, H, L, L] each) in the
    forward, and their gradients too in the backward."""
    return B * H * length * length * 4 * (5 if backward else 3)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--lengths", default="512,1024,2048,4096,8192,16384")
    p.add_argument("--build-dir", default=os.environ.get("TESSERA_BUILD_DIR", "build"))
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--torch-limit-gb", type=float, default=16)
    p.add_argument("--no-write", action="store_true")
    p.add_argument("--approx-only", action="store_true", help="only the Performer / Linformer table")
    a = p.parse_args()
    exe = os.path.join(ROOT, a.build_dir, "bench", "bench_attention")
    if not os.path.exists(exe):
        sys.exit(f"run_attention_bench: {exe} not found; build it: ninja -C {a.build_dir} bench/bench_attention")
    lengths = [int(x) for x in a.lengths.split(",")]
    anchor = run_json([exe, "--impl", "sgemm", "--length", "1", "--reps", "5", "--threads", str(a.threads)])
    print(f"sgemm anchor: {anchor['gflops']:.1f} GFLOP/s (2048³ product, {a.threads} threads, OpenBLAS "
          f"{anchor.get('corename', '?')}); 64-row tiles: {anchor['tile_gflops']:.1f}", flush=True)
    rows = []
    for backward in ((False, True) if not a.approx_only else ()):
        for causal in (False, True):
            for length in lengths:
                reps = a.reps if length <= 4096 else 1
                common = ["--length", str(length), "--reps", str(reps), "--threads", str(a.threads),
                          "--batch", str(B), "--heads", str(H), "--dim", str(D)]
                common += (["--causal"] if causal else []) + (["--backward"] if backward else [])
                t = run_json([exe, "--impl", "fused"] + common)
                if torch_bytes(length, backward) <= a.torch_limit_gb * 2**30:
                    pt = run_json([PY, os.path.join(HERE, "bench_attention_torch.py")] + common, env=torch_env())
                else:
                    pt = None
                rows.append((length, backward, causal, t, pt))
                line = (f"L {length:6d} {'fwd+bwd' if backward else 'fwd':7s} {'causal' if causal else '      '} "
                        f"tessera {t['median_s']:.3f} s {t['gflops']:6.1f} GF/s "
                        f"{t['peak_rss_mb'] - t['inputs_rss_mb']:8.1f} MB")
                if pt:
                    line += (f" | torch {pt['median_s']:.3f} s {pt['gflops']:6.1f} GF/s "
                             f"{pt['peak_rss_mb'] - pt['inputs_rss_mb']:8.1f} MB")
                print(line, flush=True)

    # the approximations: time and memory growing linearly with L (m = k = 256), fwd+bwd, and their
    # error against exact attention (inputs N(0, 1) and N(0, 0.25²) for q and k)
    approx_rows = []
    for impl, causal in (("performer", False), ("performer", True), ("linformer", False)):
        for length in [x for x in lengths if x >= 1024]:
            argv = [exe, "--impl", impl, "--length", str(length), "--reps", "1", "--threads", str(a.threads),
                    "--features", "256", "--backward"] + (["--causal"] if causal else [])
            t = run_json(argv)
            errors = []
            if length <= 4096:
                for std in ("1", "0.25"):
                    e = run_json([exe, "--impl", impl, "--length", str(length), "--reps", "1", "--threads",
                                  str(a.threads), "--features", "256", "--error", "--input-std", std]
                                 + (["--causal"] if causal else []))
                    errors.append(e["rel_error"])
            approx_rows.append((impl, causal, length, t, errors))
            print(f"{impl:9s} {'causal' if causal else '      '} L {length:6d} fwd+bwd {t['median_s']:.3f} s "
                  f"{t['peak_rss_mb'] - t['inputs_rss_mb']:8.1f} MB  errors {errors}", flush=True)
    approx_lines = ["| method | causal | L | fwd+bwd | memory beyond inputs | rel. error, q,k ~ N(0,1) | "
                    "rel. error, q,k ~ N(0,0.25²) |", "| :--- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for impl, causal, length, t, errors in approx_rows:
        name = "Performer m=256" if impl == "performer" else "Linformer k=256 (untrained E, F)"
        errs = [f"{e:.3f}" for e in errors] if errors else ["—", "—"]
        approx_lines.append(f"| {name} | {'yes' if causal else 'no'} | {length} | {t['median_s']:.3f} s | "
                            f"{t['peak_rss_mb'] - t['inputs_rss_mb']:.1f} MB | {errs[0]} | {errs[1]} |")
    approx_table = "\n".join(approx_lines)
    print()
    print(approx_table)

    header = ("| L | pass | causal | tessera | GFLOP/s | % of sgemm | memory beyond inputs | PyTorch | "
              "PyTorch memory beyond inputs | time ratio | memory ratio |")
    lines = [header, "| " + " | ".join(["---:"] * 11) + " |"]
    for length, backward, causal, t, pt in rows:
        mem = t["peak_rss_mb"] - t["inputs_rss_mb"]
        cells = [str(length), "fwd+bwd" if backward else "fwd", "yes" if causal else "no",
                 f"{t['median_s']:.3f} s", f"{t['gflops']:.1f}", f"{100 * t['gflops'] / anchor['gflops']:.0f}%",
                 f"{mem:.1f} MB"]
        if pt:
            pmem = pt["peak_rss_mb"] - pt["inputs_rss_mb"]
            cells += [f"{pt['median_s']:.3f} s", f"{pmem:.1f} MB", f"{t['median_s'] / pt['median_s']:.3f}",
                      f"{mem / pmem:.3f}" if pmem > 0 else "—"]
        else:
            need = torch_bytes(length, backward) / 2**30
            cells += [f"does not fit (~{need:.0f} GB)", "—", "—", "—"]
        lines.append("| " + " | ".join(cells) + " |")
    table = "\n".join(lines)
    print()
    print(table)
    if not a.no_write and not a.approx_only:
        when = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
        cpu = platform.processor() or platform.machine()
        with open(os.path.join(HERE, "results_attention.md"), "w") as f:
            f.write(f"# Long-sequence attention: tessera's fused kernel vs PyTorch 1.13's explicit form\n\n"
                    f"`bench/run_attention_bench.py`, {when}, {os.cpu_count()} CPUs ({cpu}), {a.threads} threads, "
                    f"B={B} H={H} d={D}. OpenBLAS core: {anchor.get('corename', '?')} "
                    f"(OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '(unset)')}).\n"
                    f"sgemm anchor (2048³ through the engine's gemm, same run): {anchor['gflops']:.1f} GFLOP/s; "
                    f"one 64-row tile per thread: {anchor['tile_gflops']:.1f} GFLOP/s.\n\n{table}\n\n"
                    f"## Approximations (tessera only)\n\n{approx_table}\n")


if __name__ == "__main__":
    main()
