#!/usr/bin/python3
"""PyTorch's half of the long-sequence attention benchmark (bench/run_attention_bench.py runs it).

PyTorch 1.13 (Debian's) has no fused attention on the CPU, so its reference is the explicit
softmax(q kᵀ/√d + mask) v, one configuration per process so the peak RSS is that configuration's:
    bench_attention_torch.py --length L [--batch 1] [--heads 8] [--dim 64] [--causal] [--backward]
                             [--reps 3] [--threads 2]
Prints one JSON line like bench_attention: median and repetitions in seconds, GFLOP/s (4·B·H·L²·d
forward, 2.5× with the backward, halved when causal), peak RSS and the RSS once the inputs exist.
"""
import argparse
import json
import math
import resource
import statistics
import time

import torch


def rss_mb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return float(line.split()[1]) / 1024.0
    return 0.0


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--length", type=int, required=True)
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--heads", type=int, default=8)
    p.add_argument("--dim", type=int, default=64)
    p.add_argument("--causal", action="store_true")
    p.add_argument("--backward", action="store_true")
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    shape = (a.batch, a.heads, a.length, a.dim)
    q, k, v = (torch.randn(shape, requires_grad=a.backward) for _ in range(3))
    g = torch.randn(shape)
    mask = None
    if a.causal:  # an additive −inf above the diagonal, as the explicit form is written
        mask = torch.full((a.length, a.length), float("-inf")).triu(1)
    inputs = rss_mb()
    scale = 1 / math.sqrt(a.dim)
    times = []
    for _ in range(a.reps):
        t0 = time.perf_counter()
        with torch.set_grad_enabled(a.backward):
            s = (q * scale) @ k.transpose(-2, -1)
            if mask is not None:
                s = s + mask
            out = torch.softmax(s, dim=-1) @ v
            if a.backward:
                out.backward(g)
        del s, out
        times.append(time.perf_counter() - t0)
        if a.backward:
            q.grad = k.grad = v.grad = None
    median = statistics.median(times)
    flops = 4.0 * a.batch * a.heads * a.length * a.length * a.dim * (2.5 if a.backward else 1) * (0.5 if a.causal else 1)
    print(json.dumps({"impl": "torch", "length": a.length, "causal": a.causal, "backward": a.backward,
                      "median_s": median, "reps_s": times, "gflops": flops / median / 1e9,
                      "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
                      "inputs_rss_mb": inputs}))


if __name__ == "__main__":
    main()
