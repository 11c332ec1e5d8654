#!/usr/bin/env python3
"""bench/distributed_cost_model.py — what data-parallel training would cost on a cluster, on paper.

A ring all-reduce of S bytes over N ranks sends and receives 2(N−1)/N · S bytes per rank and
takes 2(N−1) steps, each paying the link's latency α, once per bucket:

    T_comm(N) = 2(N−1)/N · S / bandwidth  +  buckets · 2(N−1) · α

One step of the model is T_c of computing on one machine (measured on the project machine, two
cores, per-rank batch as the examples use; bench/run_distributed_bench.py measures it). With a
fixed batch per rank (weak scaling: the global batch grows with N) a step takes
    no overlap:   T_c + T_comm
    overlap:      the buckets as DistributedDataParallel makes them (the first ≤ 1 MiB, then
                  ≤ 25 MB, last layers first), the forward taking T_c/3 and the backward 2T_c/3;
                  bucket b is ready when the backward has produced its share of the gradient bytes,
                  starts when it is ready and the previous bucket is done, and takes its share of
                  T_comm. The step ends at max(T_c, end of the last bucket): the last bucket (the
                  first layers) is ready only at the end of the backward and never hides.
and with a fixed global batch (strong scaling) T_c becomes T_c / N, so communication wins once
T_comm > T_c / N (the overlap column of the strong-scaling step uses the same bucket schedule).
Prints the tables docs/distributed.md quotes.

    python3 bench/distributed_cost_model.py [--translator-ms 37.1] [--cnn-ms 52.2]
"""
import argparse

MODELS = {
    # name: (parameters, what); the translator's 4.30 MB and the CNN's 0.31 MB are what the
    # programs print under mpirun
    "translator": (1_075_000, "the demo translator, d=128, 2+2 layers, batch 64 sentences"),
    "attention_cnn": (78_283, "the Fashion-MNIST attention CNN, batch 128 images"),
    "transformer_100m": (100_000_000, "a 100 M-parameter Transformer, 8,192 tokens per rank"),
}
LINKS = {"1 Gb/s": (1e9 / 8, 50e-6), "10 Gb/s": (10e9 / 8, 20e-6)}  # bytes/s, latency per message
RANKS = [2, 4, 8, 16, 32, 64]
FIRST_BUCKET, BUCKET = 1024 * 1024, 25e6  # bytes, as DistributedDataParallel's defaults


def buckets_of(size):
    """Bucket sizes in bytes, in the order they are sent (parameters taken as finely divisible)."""
    out = [min(size, FIRST_BUCKET)]
    while sum(out) < size:
        out.append(min(BUCKET, size - sum(out)))
    return out


def comm_seconds(size, n, bandwidth, latency):
    """Ring all-reduce of `size` bytes (one message) over n ranks."""
    return 2.0 * (n - 1) / n * size / bandwidth + 2 * (n - 1) * latency


def step_with_overlap(t_c, buckets, n, bandwidth, latency):
    """The step's time when each bucket is all-reduced as soon as it is ready (module docstring)."""
    total, done, end = sum(buckets), 0.0, 0.0
    for b in buckets:
        done += b
        ready = t_c / 3 + (2 * t_c / 3) * done / total
        end = max(ready, end) + comm_seconds(b, n, bandwidth, latency)
    return max(t_c, end)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--translator-ms", type=float, default=37.1,
                        help="one training step of the translator on one machine (ms; measured 2026-12-06)")
    parser.add_argument("--cnn-ms", type=float, default=52.2, help="one step of the attention CNN (ms; measured)")
    parser.add_argument("--flops-per-second", type=float, default=300e9,
                        help="sustained GEMM rate of one machine for the 100 M model (this one: ~300 GFLOP/s)")
    args = parser.parse_args()
    compute = {
        "translator": args.translator_ms / 1e3,
        "attention_cnn": args.cnn_ms / 1e3,
        # 6 FLOPs per parameter per token (forward 2, backward 4)
        "transformer_100m": 6 * 100e6 * 8192 / args.flops_per_second,
    }
    for name, (params, what) in MODELS.items():
        t_c, size = compute[name], 4.0 * params
        buckets = buckets_of(size)
        print(f"\n{name}: {what}; {params / 1e6:.2f} M parameters = {size / 1e6:.1f} MB of gradients in "
              f"{len(buckets)} bucket(s); one step computes for {t_c * 1e3:.0f} ms")
        print("| link | N | all-reduce ms | weak scaling: efficiency no overlap / overlap | "
              "strong scaling: step ms no overlap / overlap | speed-up over 1 (overlap) |")
        print("|---|---|---|---|---|---|")
        for link, (bandwidth, latency) in LINKS.items():
            for n in RANKS:
                t = sum(comm_seconds(b, n, bandwidth, latency) for b in buckets)
                weak = step_with_overlap(t_c, buckets, n, bandwidth, latency)
                strong = t_c / n + t
                strong_overlap = step_with_overlap(t_c / n, buckets, n, bandwidth, latency)
                print(f"| {link} | {n} | {t * 1e3:.1f} | {100 * t_c / (t_c + t):.0f} % / {100 * t_c / weak:.0f} % | "
                      f"{strong * 1e3:.1f} / {strong_overlap * 1e3:.1f} | {t_c / strong_overlap:.2f}× |")


if __name__ == "__main__":
    main()
