"""What tools/kill_resume.py and tools/bad_inputs.py share: reading a safetensors checkpoint and
checking it is whole, a tiny Fashion-MNIST in IDX format, and the small training runs of both
programs. Python 3 standard library only.
"""
import gzip
import json
import os
import struct

# Small, quick configurations of both programs (seconds per epoch on one core).
TRANSLATOR_SMALL = ["train", "--bundled-pairs", "4000", "--epochs", "4", "--d-model", "64", "--heads", "2",
                    "--encoder-layers", "1", "--decoder-layers", "1", "--ffn", "128", "--eval-sentences", "20",
                    "--batch-size", "32"]
TRANSLATOR_TINY = ["train", "--bundled-pairs", "600", "--epochs", "2", "--d-model", "16", "--heads", "2",
                   "--encoder-layers", "1", "--decoder-layers", "1", "--ffn", "32", "--eval-sentences", "5",
                   "--batch-size", "32"]
CNN_SMALL = ["train", "--limit", "3000", "--epochs", "4", "--widths", "8,16,16", "--no-eval", "--batch-size", "64"]
CNN_TINY = ["train", "--limit", "64", "--epochs", "1", "--widths", "4,8,8", "--no-eval", "--batch-size", "32"]


class BadCheckpoint(Exception):
    pass


def read_safetensors(path):
    """(tensor entries without __metadata__, data bytes, metadata dict); raises BadCheckpoint when
    the file is not a whole safetensors file: short, a header that is not JSON, tensors that do not
    tile the data section exactly."""
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 8:
        raise BadCheckpoint(f"{path}: {len(data)} bytes, shorter than the header size")
    (n,) = struct.unpack("<Q", data[:8])
    if 8 + n > len(data):
        raise BadCheckpoint(f"{path}: header of {n} bytes runs past the end ({len(data)} bytes)")
    try:
        header = json.loads(data[8:8 + n])
    except ValueError as e:
        raise BadCheckpoint(f"{path}: header is not JSON ({e})")
    metadata = header.pop("__metadata__", {})
    body = data[8 + n:]
    spans = sorted(tuple(entry["data_offsets"]) for entry in header.values())
    end = 0
    for begin, stop in spans:
        if begin != end:
            raise BadCheckpoint(f"{path}: tensor data does not tile the data section at byte {begin}")
        end = stop
    if end != len(body):
        raise BadCheckpoint(f"{path}: tensors end at {end} but the data section has {len(body)} bytes")
    return header, body, metadata


def training_position(path):
    """(epochs completed, steps of the next epoch done) of a checkpoint, read from its "training"
    record: the point a resume must start from."""
    _, _, metadata = read_safetensors(path)
    if "training" not in metadata:
        raise BadCheckpoint(f"{path}: no training record in the metadata")
    training = json.loads(metadata["training"])
    mid = training.get("mid_epoch")
    return (training["epoch"], mid["steps"] if mid else 0)


def same_weights(path_a, path_b):
    """True when both checkpoints hold the same tensors bit for bit (model, optimizer, schedule)
    and the same per-epoch losses; the metadata's timings may differ."""
    a, data_a, meta_a = read_safetensors(path_a)
    b, data_b, meta_b = read_safetensors(path_b)
    losses = lambda meta: [r["train_loss"] for r in json.loads(meta["training"])["history"]]
    return a == b and data_a == data_b and losses(meta_a) == losses(meta_b)


def temporaries(directory, pid=None):
    """The leftovers of atomic writes (`<file>.tmp.<pid>.<n>`) in a directory; of process `pid` only
    when given."""
    if not os.path.isdir(directory):
        return []
    mark = ".tmp." if pid is None else f".tmp.{pid}."
    return sorted(name for name in os.listdir(directory) if mark in name)


def write_tiny_fashion_mnist(directory, train_count=96, test_count=40):
    """A few random images and labels in Fashion-MNIST's file names and gzip IDX format, for quick
    runs of attention_cnn with --data-dir."""
    os.makedirs(directory, exist_ok=True)
    state = 12345

    def next_byte():
        nonlocal state
        state = (state * 1103515245 + 12345) % (1 << 31)
        return state >> 23

    for split, count in (("train", train_count), ("t10k", test_count)):
        pixels = bytes(next_byte() for _ in range(count * 28 * 28))
        labels = bytes(i % 10 for i in range(count))
        with gzip.open(os.path.join(directory, f"{split}-images-idx3-ubyte.gz"), "wb") as f:
            f.write(struct.pack(">IIII", 0x803, count, 28, 28) + pixels)
        with gzip.open(os.path.join(directory, f"{split}-labels-idx1-ubyte.gz"), "wb") as f:
            f.write(struct.pack(">II", 0x801, count) + labels)
