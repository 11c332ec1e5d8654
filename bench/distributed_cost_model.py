#!/usr/bin/env python3
"""bench/distributed_cost_model.py — what data-parallel training would cost on a cluster, on paper.

A ring all-reduce of S bytes over N ranks sends and receives 2(N−1)/N · S bytes per rank and
takes 2(N−1) steps, each paying the link's latency α, once per bucket:

    T_comm(N) = 2(N−1)/N · S / bandwidth  +  buckets · 2(N−1) · α

One step of the model is T_c of computing on one machine (measured on the project machine, two
cores, per-rank batch as the examples use; bench/run_distributed_bench.py measures it). With a
fixed batch per rank (weak scaling: the global batch grows with N) a step takes
    no overlap:        T_c + T_comm
    full overlap:      max(T_c, T_comm + T_tail)   (DDP's buckets hide the all-reduce behind the
                       backward, ~2/3 of T_c; the last bucket's all-reduce, T_tail, cannot hide)
and with a fixed global batch (strong scaling) T_c becomes T_c / N, so communication wins once
T_comm > T_c / N. Prints the tables docs/distributed.md quotes.

    python3 bench/distributed_cost_model.py [--translator-ms 39] [--cnn-ms 107]
"""
import argparse

MODELS = {
    # name: (parameters, bucket count at 25 MB, per-step compute ms on one 2-core machine, what)
    "translator": (1_002_000, 1, None, "the demo translator, d=128, 2+2 layers, batch 64 sentences"),
    "attention_cnn": (78_283, 1, None, "the Fashion-MNIST attention CNN, batch 128 images"),
    "transformer_100m": (100_000_000, 16, None, "a 100 M-parameter Transformer, 8,192 tokens per rank"),
}
LINKS = {"1 Gb/s": (1e9 / 8, 50e-6), "10 Gb/s": (10e9 / 8, 20e-6)}  # bytes/s, latency per message
RANKS = [2, 4, 8, 16, 32, 64]


def comm_seconds(params, buckets, n, bandwidth, latency):
    size = 4.0 * params  # float32 gradients
    return 2.0 * (n - 1) / n * size / bandwidth + buckets * 2 * (n - 1) * latency


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--translator-ms", type=float, default=39.0,
                        help="one training step of the translator on one machine (ms)")
    parser.add_argument("--cnn-ms", type=float, default=107.0, help="one step of the attention CNN (ms)")
    parser.add_argument("--flops-per-second", type=float, default=300e9,
                        help="sustained GEMM rate of one machine for the 100 M model (this one: ~300 GFLOP/s)")
    args = parser.parse_args()
    compute = {
        "translator": args.translator_ms / 1e3,
        "attention_cnn": args.cnn_ms / 1e3,
        # 6 FLOPs per parameter per token (forward 2, backward 4)
        "transformer_100m": 6 * 100e6 * 8192 / args.flops_per_second,
    }
    for name, (params, buckets, _, what) in MODELS.items():
        t_c = compute[name]
        print(f"\n{name}: {what}; {params / 1e6:.2f} M parameters = {4 * params / 1e6:.1f} MB of gradients; "
              f"one step computes for {t_c * 1e3:.0f} ms")
        print("| link | N | all-reduce ms | weak scaling: efficiency no overlap / overlap | "
              "strong scaling: step ms (T_c/N + T_comm) | speed-up over 1 |")
        print("|---|---|---|---|---|---|")
        for link, (bandwidth, latency) in LINKS.items():
            for n in RANKS:
                t = comm_seconds(params, buckets, n, bandwidth, latency)
                tail = t / buckets
                no_overlap = t_c / (t_c + t)
                overlap = t_c / max(t_c, (t_c / 3) + t) if buckets > 1 else t_c / (t_c + tail)
                strong = t_c / n + t
                print(f"| {link} | {n} | {t * 1e3:.1f} | {100 * no_overlap:.0f} % / {100 * overlap:.0f} % | "
                      f"{strong * 1e3:.1f} | {t_c / strong:.2f}× |")


if __name__ == "__main__":
    main()
