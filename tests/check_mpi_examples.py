#!/usr/bin/python3
"""tests/check_mpi_examples.py MPIRUN TRANSLATOR ATTENTION_CNN — the examples' data-parallel
training, run as users run it (`mpirun -np 2 … train`), checked end to end (docs/distributed.md):

 1. the translator on 2 ranks learns what one process learns on the same global batches: the
    same loss per epoch (to 1e-3: Adam turns float32 rounding differences of the batch sums into
    small parameter differences, tests/test_distributed.cpp says why) and validation BLEU;
 2. a 2-rank run stopped after epoch 1 and resumed equals an uninterrupted 2-rank run, bit for bit
    (the translator; and the attention CNN, stopped with --stop-after, when Fashion-MNIST is
    installed);
 3. a rank that fails (rank 1 is given a data file that does not exist, with mpirun's
    `-np 1 … : -np 1 …` form) ends the whole job within seconds, with its message.
"""
import json
import os
import struct
import subprocess
import sys
import tempfile
import time

mpirun, translator, cnn = sys.argv[1:4]
TINY = ["--bundled-pairs", "3000", "--dropout", "0", "--d-model", "32", "--ffn", "64", "--encoder-layers", "1",
        "--decoder-layers", "1", "--eval-sentences", "100"]
failures = []


def run(argv, timeout=300):
    start = time.time()
    p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=timeout)
    return p.returncode, p.stdout, time.time() - start


def mpi(n, *argv):
    return [mpirun, "-np", str(n), "--oversubscribe", *argv]


def checkpoint(path):
    """(tensor bytes, metadata) of a safetensors file"""
    data = open(path, "rb").read()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    return data[8 + n:], header.get("__metadata__", {})


def check(ok, what):
    print(("ok:   " if ok else "FAIL: ") + what, flush=True)
    if not ok:
        failures.append(what)


def must_run(argv):
    code, out, seconds = run(argv)
    if code != 0:
        print(out)
        raise SystemExit(f"FAIL: {' '.join(argv)} exited with {code}")
    return out


with tempfile.TemporaryDirectory() as tmp:
    one, two, stopped = (os.path.join(tmp, d) for d in ("one", "two", "stopped"))
    must_run([translator, "train", *TINY, "--epochs", "2", "--out", one])
    must_run(mpi(2, translator, "train", *TINY, "--epochs", "2", "--out", two))
    h1 = json.loads(checkpoint(os.path.join(one, "model.safetensors"))[1]["training"])["history"]
    h2 = json.loads(checkpoint(os.path.join(two, "model.safetensors"))[1]["training"])["history"]
    for a, b in zip(h1, h2):
        check(abs(a["train_loss"] - b["train_loss"]) <= 1e-3 * abs(a["train_loss"]),
              f"translator epoch {a['epoch']}: loss of 2 ranks {b['train_loss']:.6f} = one process's "
              f"{a['train_loss']:.6f} (to 1e-3)")
        check(abs(a["valid_bleu"] - b["valid_bleu"]) <= 0.5,
              f"translator epoch {a['epoch']}: validation BLEU 2 ranks {b['valid_bleu']:.2f}, one process "
              f"{a['valid_bleu']:.2f}")

    must_run(mpi(2, translator, "train", *TINY, "--epochs", "1", "--out", stopped))
    must_run(mpi(2, translator, "train", *TINY, "--epochs", "2", "--resume", "--out", stopped))
    check(checkpoint(os.path.join(stopped, "model.safetensors"))[0] == checkpoint(os.path.join(two, "model.safetensors"))[0],
          "translator: 2 ranks stopped after epoch 1 and resumed = 2 ranks uninterrupted, bit for bit")

    if os.path.isdir("/usr/share/datasets/fashion-mnist"):
        a, b = os.path.join(tmp, "cnn_a", "model.safetensors"), os.path.join(tmp, "cnn_b", "model.safetensors")
        small = ["--epochs", "2", "--limit", "512"]
        must_run(mpi(2, cnn, "train", *small, "--checkpoint", a, "--stop-after", "1"))
        must_run(mpi(2, cnn, "train", "--resume", "--checkpoint", a))
        must_run(mpi(2, cnn, "train", *small, "--checkpoint", b))
        check(checkpoint(a)[0] == checkpoint(b)[0],
              "attention CNN: 2 ranks stopped after epoch 1 and resumed = 2 ranks uninterrupted, bit for bit")
    else:
        print("skipped: the attention CNN's resume check (Fashion-MNIST is not installed; ./run cnn installs it)")

    # rank 1 gets a data file that does not exist; rank 0 would wait for it for ever
    code, out, seconds = run([mpirun, "--oversubscribe", "-np", "1", translator, "train", *TINY, "--out", one, ":",
                              "-np", "1", translator, "train", *TINY, "--data", os.path.join(tmp, "missing.tsv"),
                              "--out", one], timeout=120)
    check(code != 0 and "[rank 1] error:" in out and "missing.tsv" in out and seconds < 30,
          f"a failing rank ends the job: exit code {code} after {seconds:.1f} s with rank 1's message")
    if "[rank 1] error:" not in out:
        print(out)

sys.exit(1 if failures else 0)
