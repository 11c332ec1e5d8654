#!/usr/bin/python3
"""PyTorch's side of the attention CNN's data-parallel measurement (bench/run_distributed_bench.py).

One epoch of `attention_cnn train` in PyTorch on the first --limit Fashion-MNIST training images:
the network of examples/attention_cnn (AttentionCNN of bench/bench_nn_torch.py, layer for layer,
the same parameter count), batches of --batch-size images in a seeded random order, random
left-right flips (attention_cnn's default augmentation), cross-entropy with label smoothing 0.1,
AdamW (lr 4e-3, weight decay 5e-4) on attention_cnn's one-cycle schedule. As in tessera, the
timed loop includes making each batch (gathering, normalising and flipping the images).

    attention_cnn_reference.py [--threads N] [--ddp-ranks N] [--limit 6400] [--batch-size 128]

--ddp-ranks N: N processes (torch.multiprocessing) with DistributedDataParallel over gloo,
--threads each, as tessera under mpirun: every rank builds the same global batch and takes its
contiguous rows (tessera's shard_range); BatchNorm statistics per rank (PyTorch's default; buffers
not broadcast each step: tessera broadcasts them once per epoch). Rank 0 prints one JSON line:
images, seconds of the epoch, images/s, parameters, ranks, threads.

OMP_WAIT_POLICY must be set before torch is imported (the runner sets it in the environment).
"""
import argparse
import gzip
import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_nn_torch import AttentionCNN, count_parameters  # noqa: E402
from translator_reference import run_ranks, shard_range  # noqa: E402

FASHION_MNIST = "/usr/share/datasets/fashion-mnist"  # dataset-fashion-mnist (examples/attention_cnn/idx.h)
MEAN, STD = 0.2860, 0.3530                           # kFashionMnistMean / kFashionMnistStd


def load_images(limit):
    with gzip.open(os.path.join(FASHION_MNIST, "train-images-idx3-ubyte.gz")) as f:
        pixels = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 1, 28, 28)[:limit]
    with gzip.open(os.path.join(FASHION_MNIST, "train-labels-idx1-ubyte.gz")) as f:
        labels = np.frombuffer(f.read(), np.uint8, offset=8)[:limit]
    return torch.from_numpy(pixels.copy()), torch.from_numpy(labels.astype(np.int64))


def one_cycle(step, total, warmup_fraction=0.2, div=25.0, final_div=1e4):
    """examples/attention_cnn/train.cpp's one_cycle_factor."""
    start = 1 / div
    end = start / final_div
    warmup = round(warmup_fraction * total)
    if step < warmup:
        return start + (1 - start) * step / warmup
    progress = min(max((step - warmup) / max(1, total - 1 - warmup), 0.0), 1.0)
    return end + (1 - end) * (1 + math.cos(math.pi * progress)) / 2


def train(args, rank=0, world=1):
    pixels, labels = load_images(args.limit)
    torch.manual_seed(1)
    model = AttentionCNN(1, [16, 32, 64])
    trained = model
    if world > 1:
        trained = torch.nn.parallel.DistributedDataParallel(model, broadcast_buffers=False, bucket_cap_mb=25)
    opt = torch.optim.AdamW(model.parameters(), lr=4e-3, weight_decay=5e-4)
    steps = (len(labels) + args.batch_size - 1) // args.batch_size
    schedule = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: one_cycle(step, steps))
    generator = torch.Generator().manual_seed(1)  # the same batches and flips on every rank
    model.train()
    start = time.perf_counter()
    order = torch.randperm(len(labels), generator=generator)
    for first in range(0, len(labels), args.batch_size):
        rows = order[first:first + args.batch_size]
        flips = torch.rand(len(rows), generator=generator) < 0.5
        images = (pixels[rows].float() / 255 - MEAN) / STD
        images = torch.where(flips[:, None, None, None], images.flip(3), images)
        targets = labels[rows]
        if world > 1:  # this rank's rows; equal shards, so each loss weight N n_r / n is 1
            begin, end = shard_range(len(rows), rank, world)
            images, targets = images[begin:end], targets[begin:end]
        loss = F.cross_entropy(trained(images), targets, label_smoothing=0.1)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        schedule.step()
        loss.item()
    seconds = time.perf_counter() - start
    if rank == 0:
        print(json.dumps({"images": len(labels), "steps": steps, "seconds": seconds,
                          "images_per_second": len(labels) / seconds, "parameters": count_parameters(model),
                          "ranks": world, "threads": torch.get_num_threads(), "torch": torch.__version__}), flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=1, help="torch.set_num_threads (per rank)")
    parser.add_argument("--ddp-ranks", type=int, default=1, help="processes, with DistributedDataParallel over gloo")
    parser.add_argument("--limit", type=int, default=6400, help="train on the first N images")
    parser.add_argument("--batch-size", type=int, default=128)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    run_ranks(train, args)


if __name__ == "__main__":
    main()
