#!/usr/bin/python3
"""PyTorch's half of the side-by-side benchmarks (bench/run_bench.py runs it).

The same cases as bench/bench_engine.cpp, under the same names, timed the same way: warm-up,
calibrate a loop of `iters` calls to about --rep-seconds, then repetitions of that loop; each
repetition reports seconds per call. Output: one JSON object per line on stdout, the first a
{"meta": ...} line. Alone, it runs every (matching) case --reps times; with --serve it answers
"setup NAME" / "rep" / "quit" on stdin like `bench_engine --serve`, which lets run_bench.py
interleave PyTorch's repetitions with tessera's. One process runs one thread setting:
OMP_WAIT_POLICY and OPENBLAS_NUM_THREADS must be set before torch is imported, so run_bench.py
starts a process per setting.

    OMP_WAIT_POLICY=PASSIVE /usr/bin/python3 bench/bench_torch.py --threads 2 [--filter exp]
"""
import argparse
import json
import os
import statistics
import sys
import time

import torch


def calibrate(body, rep_seconds, warmup_seconds):
    """Warms body up, then returns how many calls make one repetition about rep_seconds long."""
    start = time.perf_counter()
    calls, last = 0, 0.0
    while calls < 2 or time.perf_counter() - start < warmup_seconds:
        t0 = time.perf_counter()
        body()
        last = time.perf_counter() - t0
        calls += 1
    probe = max(1, int(0.2 * rep_seconds / max(last, 1e-9)))
    t0 = time.perf_counter()
    for _ in range(probe):
        body()
    per_call = (time.perf_counter() - t0) / probe
    return min(10_000_000, max(1, round(rep_seconds / max(per_call, 1e-9))))


def one_rep(body, iters):
    # one untimed call first: in serve mode other processes ran since this one last did (cold
    # caches, sleeping OpenMP threads), exactly as bench_engine.cpp does
    body()
    t0 = time.perf_counter()
    for _ in range(iters):
        body()
    return (time.perf_counter() - t0) / iters


def run_case(name, body, args):
    iters = calibrate(body, args.rep_seconds, args.warmup_seconds)
    reps = [one_rep(body, iters) for _ in range(args.reps)]
    emit({"case": name, "impl": "torch", "median_s": statistics.median(reps), "reps_s": reps, "iters": iters})


def emit(obj):
    print(json.dumps(obj), flush=True)


def serve(cases, args):
    """Answers "setup NAME", "rep", "quit" on stdin, one JSON line each (as bench_engine --serve)."""
    makers = dict(cases)
    name, body, iters = None, None, 0
    for line in sys.stdin:
        line = line.rstrip("\n")
        if line == "quit":
            break
        try:
            if line.startswith("setup "):
                name, body = line[len("setup "):], None  # drop the previous case's tensors first
                if name not in makers:
                    emit({"case": name, "error": "no such case"})
                    continue
                body = makers[name]()
                iters = calibrate(body, args.rep_seconds, args.warmup_seconds)
                emit({"case": name, "iters": {"torch": iters}})
            elif line == "rep":
                if body is None:
                    emit({"error": "rep before a successful setup"})
                    continue
                emit({"case": name, "reps_s": {"torch": one_rep(body, iters)}})
            else:
                emit({"error": f"unknown command: {line}"})
        except Exception as e:  # report and go on: one broken case must not hide the others
            body = None
            emit({"case": name, "impl": "torch", "error": f"{type(e).__name__}: {e}"})


# ---------------- the cases (keep in step with bench_engine.cpp) ----------------

def overhead_case():
    # 1,000 ops on one-element tensors (add and mul alternating, a constant as the other
    # operand) from a leaf that requires grad, then backward and dropping the gradient.
    x = torch.ones(1, requires_grad=True)
    c = torch.full((1,), 1e-3)
    d = torch.full((1,), 0.999)

    def body():
        y = x
        for _ in range(500):
            y = torch.add(y, c)
            y = torch.mul(y, d)
        y.backward()
        x.grad = None
    return body


def matmul_case(n, transpose_b):
    a, b = torch.randn(n, n), torch.randn(n, n)
    if transpose_b:
        return lambda: torch.matmul(a, b.t())
    return lambda: torch.matmul(a, b)


def forward_backward(op, inputs):
    # y = op(inputs); y.backward(g) with a preallocated g of ones (the implicit seed for a
    # one-element output), then the leaves' gradients are dropped.
    for t in inputs:
        t.requires_grad_(True)
    g = None

    def body():
        nonlocal g
        y = op(*inputs)
        if y.numel() == 1:
            y.backward()
        else:
            if g is None:
                g = torch.ones_like(y)
            y.backward(g)
        for t in inputs:
            t.grad = None
    return body


def pointwise_case(op, arity, n, backward):
    inputs = [torch.randn(n) for _ in range(arity)]
    if backward:
        return forward_backward(op, inputs)
    return lambda: op(*inputs)


def softmax_case(op, rows, cols, backward):
    x = torch.randn(rows, cols)
    fn = lambda t: op(t, -1)  # noqa: E731
    if backward:
        return forward_backward(fn, [x])
    return lambda: fn(x)


def all_cases():
    cases = [("overhead 1000 tiny ops + backward", overhead_case)]
    for transpose_b in (False, True):
        for n in (256, 512, 1024, 2048):
            cases.append((f"matmul {n}" + (" a@bT" if transpose_b else ""),
                          lambda n=n, t=transpose_b: matmul_case(n, t)))
    for label, n in (("1M", 1 << 20), ("16M", 1 << 24)):
        for backward in (False, True):
            suffix = f" {label} " + ("fwd+bwd" if backward else "fwd")
            for op_name, op, arity in (("add", torch.add, 2), ("mul", torch.mul, 2),
                                       ("exp", torch.exp, 1), ("relu", torch.relu, 1)):
                cases.append((op_name + suffix,
                              lambda op=op, arity=arity, n=n, b=backward: pointwise_case(op, arity, n, b)))
    for backward in (False, True):
        suffix = " 16M " + ("fwd+bwd" if backward else "fwd")
        cases.append(("sum" + suffix, lambda b=backward: pointwise_case(torch.sum, 1, 1 << 24, b)))
        cases.append(("mean" + suffix, lambda b=backward: pointwise_case(torch.mean, 1, 1 << 24, b)))
    for log in (False, True):
        for backward in (False, True):
            name = ("log_softmax" if log else "softmax") + " 4096x1024 " + ("fwd+bwd" if backward else "fwd")
            op = torch.log_softmax if log else torch.softmax
            cases.append((name, lambda op=op, b=backward: softmax_case(op, 4096, 1024, b)))
    return cases


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=1, help="torch.set_num_threads")
    parser.add_argument("--reps", type=int, default=7)
    parser.add_argument("--rep-seconds", type=float, default=0.1)
    parser.add_argument("--warmup-seconds", type=float, default=0.05)
    parser.add_argument("--filter", default="", help="run the cases whose name contains this")
    parser.add_argument("--list", action="store_true")
    parser.add_argument("--serve", action="store_true", help="answer setup/rep/quit commands on stdin")
    args = parser.parse_args()
    cases = all_cases()
    if args.list:
        for name, _ in cases:
            print(name)
        return
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    emit({"meta": {
        "torch": torch.__version__, "threads": torch.get_num_threads(),
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", ""),
        "openblas_num_threads": os.environ.get("OPENBLAS_NUM_THREADS", ""),
        "reps": args.reps, "rep_seconds": args.rep_seconds}})
    if args.serve:
        serve(cases, args)
        return
    for name, make in cases:
        if args.filter and args.filter not in name:
            continue
        try:
            run_case(name, make(), args)
        except Exception as e:  # report and go on: one broken case must not hide the others
            emit({"case": name, "impl": "torch", "error": f"{type(e).__name__}: {e}"})


if __name__ == "__main__":
    sys.exit(main())
