#!/usr/bin/python3
"""tests/check_mpi_examples.py MPIRUN TRANSLATOR ATTENTION_CNN — the examples' data-parallel
training, run as users run it (`mpirun -np 2 … train`), checked end to end (docs/distributed.md):

 1. the translator on 2 ranks learns what one process learns on the same global batches: the
    same loss per epoch (to 1e-3: Adam turns float32 rounding differences of the batch sums into
    small parameter differences, tests/test_distributed.cpp says why), validation BLEU and final
    test BLEU (split between the ranks, printed once by rank 0);
 2. a 2-rank run stopped after epoch 1 and resumed equals an uninterrupted 2-rank run, bit for bit
    (the translator; and the attention CNN, stopped with --stop-after, when Fashion-MNIST is
    installed);
 3. a 2-rank run with dropout, stopped in the middle of an epoch by SIGTERM sent to rank 1 alone,
    stops every rank after the same step (exit 143, rank 0's message naming the resume command),
    writes every rank's generator states, and resumed by that command equals an uninterrupted
    2-rank run bit for bit (the translator; the attention CNN, whose augmentation draws from a
    generator every rank shares, when Fashion-MNIST is installed);
 4. a rank that fails (rank 1 is given a data file that does not exist, with mpirun's
    `-np 1 … : -np 1 …` form) ends the whole job within seconds, with its message.
"""
import json
import os
import re
import shlex
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time

mpirun, translator, cnn = sys.argv[1:4]
TINY = ["--bundled-pairs", "3000", "--dropout", "0", "--d-model", "32", "--ffn", "64", "--encoder-layers", "1",
        "--decoder-layers", "1", "--eval-sentences", "100"]
DROPOUT = TINY.copy()
DROPOUT[DROPOUT.index("--dropout") + 1] = "0.1"
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


def rank_processes(program, marker):
    """{rank: pid} of the processes running `program` with `marker` (the run's own directory) in
    their command line; the rank is the OMPI_COMM_WORLD_RANK mpirun gave each"""
    ranks = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            argv = open(f"/proc/{pid}/cmdline", "rb").read().decode(errors="replace").split("\0")
            if os.path.basename(argv[0]) != os.path.basename(program) or not any(marker in w for w in argv):
                continue
            for entry in open(f"/proc/{pid}/environ", "rb").read().decode(errors="replace").split("\0"):
                if entry.startswith("OMPI_COMM_WORLD_RANK="):
                    ranks[int(entry.split("=", 1)[1])] = int(pid)
        except OSError:  # ended meanwhile, or not ours to read
            pass
    return ranks


def stop_rank_1_in_epoch_2(argv, program, marker, unit):
    """Runs argv (mpirun -np 2 … --epochs 2) and, as soon as rank 0's progress bar shows the first
    half of epoch 2 under way, sends SIGTERM to rank 1 alone. Returns (exit code, output)."""
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    watchdog = threading.Timer(180, proc.kill)
    watchdog.start()
    output, sent = [], False
    for line in proc.stdout:  # without a terminal the bar prints a line every few steps
        output.append(line)
        bar = re.match(rf"epoch 2/2 .*\] (\d+)/(\d+) {unit}", line)
        if not sent and bar and int(bar.group(1)) <= int(bar.group(2)) // 2:
            ranks = rank_processes(program, marker)
            if 1 in ranks:
                os.kill(ranks[1], signal.SIGTERM)
                sent = True
    code = proc.wait()
    watchdog.cancel()
    return code, "".join(output)


def mid_epoch(path):
    return json.loads(checkpoint(path)[1]["training"]).get("mid_epoch") if os.path.exists(path) else None


def check_signal_to_one_rank(name, program, train_argv, path, unit, reference, tmp):
    """Stops a 2-rank run of `program train train_argv` (writing its checkpoint to `path`; "@" in
    either is the run's directory) by SIGTERM to rank 1 in the middle of epoch 2 (its progress bar
    counts `unit`), resumes it with the command rank 0 printed, and compares the result with
    `reference`. The stop is retried (in a fresh directory) when it landed outside the epoch: a
    loaded machine may show the bar late."""
    start = time.time()
    for attempt in range(4):
        directory = os.path.join(tmp, f"{name.replace(' ', '_')}_signal_{attempt}")
        argv = [a.replace("@", directory) for a in train_argv]
        code, out = stop_rank_1_in_epoch_2(mpi(2, program, "train", *argv), program, directory, unit)
        stopped = path.replace("@", directory)
        if mid_epoch(stopped):
            break
        print(f"note: the stop landed outside epoch 2 (exit code {code}); again", flush=True)
    else:
        print(out)
        check(False, f"{name}: SIGTERM to rank 1 stops the run in the middle of epoch 2")
        return
    messages = [line for line in out.splitlines() if line.startswith("stopped by")]
    check(code == 143 and len(messages) == 1 and messages[0].startswith("stopped by SIGTERM after step") and
          "(epoch 2, step" in messages[0],
          f"{name}: SIGTERM to rank 1 alone stops every rank after the same step: exit code {code}, rank 0 "
          f"says it once: {messages[0][:50] if messages else '(no message)'}…")
    if code != 143 or len(messages) != 1:
        print(out)
    states = mid_epoch(stopped).get("generators_by_rank", [])
    check(len(states) == 2 and states[0] != states[1], f"{name}: the checkpoint holds both ranks' generator states")
    resume = shlex.split(messages[0].split("resume with: ", 1)[1]) if messages else []
    check(resume[:3] == ["mpirun", "-np", "2"] and resume[-1] == "--resume",
          f"{name}: the message names the resume command: {' '.join(resume[:4])} … {' '.join(resume[-2:])}")
    if resume[:3] == ["mpirun", "-np", "2"]:
        must_run([mpirun, "--oversubscribe", *resume[1:]])
    check(checkpoint(stopped)[0] == checkpoint(reference)[0],
          f"{name}: stopped mid-epoch by a signal to rank 1 and resumed = uninterrupted, bit for bit "
          f"({time.time() - start:.0f} s)")


with tempfile.TemporaryDirectory() as tmp:
    one, two, stopped = (os.path.join(tmp, d) for d in ("one", "two", "stopped"))
    out_one = must_run([translator, "train", *TINY, "--epochs", "2", "--out", one])
    out_two = must_run(mpi(2, translator, "train", *TINY, "--epochs", "2", "--out", two))
    # the final test score: each rank translates its share, rank 0 alone prints it, once
    test_one = re.findall(r"test BLEU \(greedy\): ([0-9.]+) on (\d+) sentences", out_one)
    test_two = re.findall(r"test BLEU \(greedy\): ([0-9.]+) on (\d+) sentences", out_two)
    check(len(test_one) == 1 and len(test_two) == 1 and test_one[0][1] == test_two[0][1]
          and abs(float(test_one[0][0]) - float(test_two[0][0])) <= 0.5,
          f"translator: the test BLEU of 2 ranks (split between them) {test_two} = one process's {test_one} "
          "(to 0.5), printed once")
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

    dropout = os.path.join(tmp, "dropout")
    must_run(mpi(2, translator, "train", *DROPOUT, "--epochs", "2", "--out", dropout))
    check_signal_to_one_rank("translator", translator, [*DROPOUT, "--epochs", "2", "--out", "@"],
                             "@/model.safetensors", "batches", os.path.join(dropout, "model.safetensors"), tmp)

    if os.path.isdir("/usr/share/datasets/fashion-mnist"):
        a, b = os.path.join(tmp, "cnn_a", "model.safetensors"), os.path.join(tmp, "cnn_b", "model.safetensors")
        small = ["--epochs", "2", "--limit", "512", "--batch-size", "16", "--no-eval"]  # 32 steps an epoch
        must_run(mpi(2, cnn, "train", *small, "--checkpoint", a, "--stop-after", "1"))
        must_run(mpi(2, cnn, "train", "--resume", "--no-eval", "--checkpoint", a))
        must_run(mpi(2, cnn, "train", *small, "--checkpoint", b))
        check(checkpoint(a)[0] == checkpoint(b)[0],
              "attention CNN: 2 ranks stopped after epoch 1 and resumed = 2 ranks uninterrupted, bit for bit")
        check_signal_to_one_rank("attention CNN", cnn, [*small, "--checkpoint", "@/model.safetensors"],
                                 "@/model.safetensors", "img", b, tmp)
    else:
        print("skipped: the attention CNN's resume checks (Fashion-MNIST is not installed; ./run cnn installs it)")

    # rank 1 gets a data file that does not exist; rank 0 would wait for it for ever
    code, out, seconds = run([mpirun, "--oversubscribe", "-np", "1", translator, "train", *TINY, "--out", one, ":",
                              "-np", "1", translator, "train", *TINY, "--data", os.path.join(tmp, "missing.tsv"),
                              "--out", one], timeout=120)
    check(code != 0 and "[rank 1] error:" in out and "missing.tsv" in out and seconds < 30,
          f"a failing rank ends the job: exit code {code} after {seconds:.1f} s with rank 1's message")
    if "[rank 1] error:" not in out:
        print(out)

sys.exit(1 if failures else 0)
