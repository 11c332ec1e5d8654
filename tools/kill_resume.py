#!/usr/bin/env python3
"""Kills training runs of both example programs at random moments and checks that nothing is lost
(issue 13, part 2; docs/reliability.md, "Kills, signals and full disks").

For each program, on a small quick configuration:
  1. a reference run, never interrupted;
  2. a chain of runs, each started with --resume (when a checkpoint exists) and stopped by
     SIGKILL at a random moment (seeded); every third kill is aimed at a checkpoint write: the
     script watches the run directory and kills as soon as a temporary file appears. After every
     kill the checkpoint, if any, must be a whole safetensors file whose position (epoch, step) never
     goes back; the next run must say it resumes from exactly that position. A few runs are stopped
     with SIGINT or SIGTERM instead: they must exit with 130 / 143 after printing where the
     checkpoint is and the command that resumes, and that command is what runs next. One run gets
     SIGINT twice: it must end at once. When the chain reaches the last epoch its checkpoint must
     equal the reference bit for bit (weights, optimizer, schedule, losses), and a new chain starts
     until all kills are spent;
  3. a full disk: the first epoch's checkpoint, then a resumed epoch under a file size limit
     (`ulimit -f`, RLIMIT_FSIZE) smaller than the checkpoint, and, as root, in a tmpfs too small
     for a second copy: the run must fail with an error naming the checkpoint, leave the previous
     checkpoint byte for byte as it was and no temporary file.

  tools/kill_resume.py                          # both programs, 50 kills each (a few minutes)
  tools/kill_resume.py --quick                  # translator only, 5 kills (what ./run test runs)
  tools/kill_resume.py --build build-h2 --kills 20 --only attention_cnn
"""
import argparse
import os
import random
import re
import resource
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import program_checks as pc  # noqa: E402

STOP_MESSAGE = re.compile(r"stopped by (SIGINT|SIGTERM) after step (\d+) \(epoch \d+, step \d+ of \d+\); "
                          r"checkpoint in (\S+); resume with: (.+)")
RESUMING = re.compile(r"resuming from \S+ after epoch (\d+)(?: and step (\d+) of epoch \d+)?")


class Failure(Exception):
    pass


def check(condition, message):
    if not condition:
        raise Failure(message)


class Example:
    """One program, its small configuration and where its checkpoint goes."""

    def __init__(self, name, program, args, run_dir, data_dir=None):
        self.name, self.run_dir = name, run_dir
        self.checkpoint = os.path.join(run_dir, "model.safetensors")
        if name == "translator":
            self.command = [program, "--threads", "1"] + args + ["--out", run_dir]
        else:
            extra = ["--data-dir", data_dir] if data_dir else []
            self.command = [program, "--threads", "1", "--checkpoint", self.checkpoint] + extra + args
        self.epochs = int(args[args.index("--epochs") + 1])

    def run_command(self):
        resume = os.path.exists(self.checkpoint)
        return self.command + (["--resume"] if resume else [])

    def finished(self):
        return os.path.exists(self.checkpoint) and pc.training_position(self.checkpoint) == (self.epochs, 0)


def start(command, **kwargs):
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            errors="replace", **kwargs)


def wait_for_line(process, pattern, timeout):
    """Reads stderr until a line matches (returns it) or the process ends (returns None)."""
    deadline = time.time() + timeout
    for line in process.stderr:
        if re.search(pattern, line):
            return line
        if time.time() > deadline:
            break
    return None


def run_to_end(command, timeout=600):
    done = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, errors="replace",
                          timeout=timeout)
    return done.returncode, done.stderr


class Chain:
    """Interrupted runs of one example until its training ends, then the bit-exact comparison."""

    def __init__(self, example, reference, rng, stats, train_seconds):
        self.example, self.reference, self.rng, self.stats = example, reference, rng, stats
        self.train_seconds = train_seconds
        self.position = None  # of the last complete checkpoint seen

    def check_after_stop(self):
        """The checkpoint after a run ended: whole, and never behind the one before."""
        if not os.path.exists(self.example.checkpoint):
            check(self.position is None, f"{self.example.name}: the checkpoint disappeared")
            return
        try:
            position = pc.training_position(self.example.checkpoint)
        except (pc.BadCheckpoint, ValueError, KeyError) as e:
            raise Failure(f"{self.example.name}: unreadable checkpoint after a kill: {e}")
        check(self.position is None or position >= self.position,
              f"{self.example.name}: checkpoint went back from {self.position} to {position}")
        self.position = position
        self.stats["checkpoints checked"] += 1

    def check_resume_line(self, stderr_text):
        """The run resumed from exactly the last complete checkpoint."""
        if self.position is None:
            return
        match = RESUMING.search(stderr_text)
        if match is None and not re.search(r"^epoch \d+", stderr_text, re.M):
            return  # stopped while still loading its data
        check(match is not None, f"{self.example.name}: no 'resuming from' line although a checkpoint exists")
        said = (int(match.group(1)), int(match.group(2) or 0))
        check(said == self.position, f"{self.example.name}: resumed from {said}, the last checkpoint is {self.position}")
        self.stats["resumes"] += 1

    def sigkill(self, aimed):
        command = self.example.run_command()
        process = start(command)
        if aimed:  # kill as soon as a checkpoint write is under way
            deadline = time.time() + 4 * self.train_seconds + 20
            while process.poll() is None and time.time() < deadline:
                if pc.temporaries(self.example.run_dir, process.pid):
                    break
                time.sleep(0.0005)
        else:
            time.sleep(self.rng.uniform(0.05, 0.6 * self.train_seconds + 0.5))
        self.stats["kill moments"] += 1
        killed = process.poll() is None
        if killed:
            process.send_signal(signal.SIGKILL)
            during_write = bool(pc.temporaries(self.example.run_dir, process.pid))
            self.stats["kills"] += 1
            self.stats["kills during checkpoint writes"] += during_write
        text = process.stderr.read()
        process.wait()
        self.check_resume_line(text)
        self.check_after_stop()
        return killed

    def graceful(self, sig, twice=False):
        """SIGINT or SIGTERM during training: exit 128+signal, the message, a whole checkpoint."""
        process = start(self.example.run_command())
        seen = wait_for_line(process, r"^epoch \d+/\d+|\bimg\b|batches", 120)
        if seen is None:  # finished before training showed progress
            process.wait()
            self.check_after_stop()
            return
        time.sleep(self.rng.uniform(0, 0.3 * self.train_seconds))
        process.send_signal(sig)
        if twice:
            time.sleep(0.02)
            process.send_signal(sig)
            sent = time.time()
        rest = process.stderr.read()
        process.wait()
        text = seen + rest
        if process.returncode in (0, -sig) and not twice:
            # the signal came after training's end (the checkpoint complete, its default action again)
            self.check_after_stop()
            return
        check(process.returncode == 128 + sig,
              f"{self.example.name}: exit status {process.returncode} after {signal.Signals(sig).name}, "
              f"not {128 + sig}: {text[-500:]}")
        self.stats["SIGINT/SIGTERM stops"] += 1
        if twice:
            check(time.time() - sent < 2, f"{self.example.name}: the second signal did not stop the run at once")
            self.stats["double SIGINT stops"] += 1
        else:
            match = STOP_MESSAGE.search(text)
            check(match is not None, f"{self.example.name}: no 'stopped by ... resume with' message: {text[-500:]}")
            check(match.group(3) == self.example.checkpoint,
                  f"{self.example.name}: the message names {match.group(3)}, not {self.example.checkpoint}")
            check(shlex.split(match.group(4)) == self.example.command + ["--resume"],
                  f"{self.example.name}: the resume command '{match.group(4)}' is not the run's command + --resume")
            check(pc.training_position(self.example.checkpoint)[1] > 0 or
                  pc.training_position(self.example.checkpoint)[0] > 0,
                  f"{self.example.name}: the checkpoint written at the stop is at the start")
        self.check_after_stop()

    def finish(self):
        """An uninterrupted resume to the end, then the comparison with the reference."""
        code, text = run_to_end(self.example.run_command())
        check(code == 0, f"{self.example.name}: the final resume failed ({code}): {text[-800:]}")
        self.check_resume_line(text)
        check(self.example.finished(), f"{self.example.name}: training did not reach the last epoch")
        check(not pc.temporaries(self.example.run_dir),
              f"{self.example.name}: temporaries left: {pc.temporaries(self.example.run_dir)}")
        check(pc.same_weights(self.example.checkpoint, self.reference),
              f"{self.example.name}: the resumed model differs from the uninterrupted run's")
        self.stats["chains equal to the reference"] += 1


def kill_and_resume(example, kills, graceful, rng):
    start_time = time.time()
    shutil.rmtree(example.run_dir, ignore_errors=True)
    t0 = time.time()
    code, text = run_to_end(example.command)
    check(code == 0, f"{example.name}: the reference run failed ({code}): {text[-800:]}")
    reference = example.checkpoint + ".reference"
    os.replace(example.checkpoint, reference)
    train_seconds = time.time() - t0
    stats = {k: 0 for k in ("kill moments", "kills", "kills during checkpoint writes", "SIGINT/SIGTERM stops", "double SIGINT stops",
                            "resumes", "checkpoints checked", "chains equal to the reference")}
    # the plan: SIGKILLs (every third aimed at a write), with the graceful stops spread among them
    plan = [("kill", i % 3 == 2) for i in range(kills)]
    for i in range(graceful):
        sig = signal.SIGINT if i % 2 == 0 else signal.SIGTERM
        plan.insert(rng.randrange(len(plan) + 1), ("graceful", sig))
    plan.insert(rng.randrange(len(plan) + 1), ("double", signal.SIGINT))
    chain = None
    for kind, detail in plan:
        if chain is None:
            for name in os.listdir(example.run_dir):
                if name != os.path.basename(reference):
                    path = os.path.join(example.run_dir, name)
                    shutil.rmtree(path) if os.path.isdir(path) else os.remove(path)
            chain = Chain(example, reference, rng, stats, train_seconds)
        if kind == "kill":
            while not chain.sigkill(aimed=detail) and not example.finished():
                pass  # the run ended before the moment: another one, so every planned kill lands
        else:
            chain.graceful(detail, twice=(kind == "double"))
        if example.finished():
            chain.finish()
            chain = None
    if chain is not None:
        chain.finish()
    stats["seconds"] = round(time.time() - start_time, 1)
    return stats


def full_disk(example):
    """A checkpoint that cannot be written: the error names it, the old one stays, no temporary."""
    results = {}
    shutil.rmtree(example.run_dir, ignore_errors=True)
    one_epoch = [("1" if w == str(example.epochs) and example.command[i - 1] == "--epochs" else w)
                 for i, w in enumerate(example.command)]
    code, text = run_to_end(one_epoch)
    check(code == 0, f"{example.name}: the first epoch failed: {text[-800:]}")
    before = open(example.checkpoint, "rb").read()
    limit = len(before) // 2

    def limited():
        signal.signal(signal.SIGXFSZ, signal.SIG_DFL)  # as a shell would leave it: the program must ignore it
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    done = subprocess.run(example.command + ["--resume"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                          text=True, errors="replace", timeout=600, preexec_fn=limited)
    error = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    check(done.returncode == 1, f"{example.name}: under ulimit -f the run ended with {done.returncode}: "
          f"{done.stderr[-500:]}")
    check(error and example.checkpoint in error[0] and "File too large" in error[0],
          f"{example.name}: the error does not name the checkpoint and the cause: {error}")
    check(open(example.checkpoint, "rb").read() == before, f"{example.name}: the previous checkpoint changed")
    check(not pc.temporaries(example.run_dir), f"{example.name}: temporaries left: {pc.temporaries(example.run_dir)}")
    results["ulimit -f"] = error[0]
    if os.geteuid() == 0 and shutil.which("mount"):
        mount_dir = tempfile.mkdtemp(prefix="tessera_tmpfs_")
        size_kb = len(before) * 3 // 2 // 1024  # the old checkpoint and half a new one
        if subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_kb}k", "tmpfs", mount_dir],
                          capture_output=True).returncode == 0:
            try:
                small = Example.__new__(Example)
                small.__dict__.update(example.__dict__)
                small.run_dir = mount_dir
                small.checkpoint = os.path.join(mount_dir, "model.safetensors")
                small.command = [small.checkpoint if w == example.checkpoint else (mount_dir if w == example.run_dir
                                 else w) for w in example.command]
                shutil.copy(example.checkpoint, small.checkpoint)
                done = subprocess.run(small.command + ["--resume"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                      text=True, errors="replace", timeout=600)
                error = [line for line in done.stderr.splitlines() if line.startswith("error:")]
                check(done.returncode == 1 and error and small.checkpoint in error[0] and
                      "No space left on device" in error[0],
                      f"{example.name}: in a full tmpfs: {done.returncode}, {done.stderr[-500:]}")
                check(open(small.checkpoint, "rb").read() == before, f"{example.name}: the tmpfs checkpoint changed")
                check(not pc.temporaries(mount_dir), f"{example.name}: temporaries left in the tmpfs")
                results["full tmpfs"] = error[0]
            finally:
                subprocess.run(["umount", mount_dir])
        os.rmdir(mount_dir)
    return results


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--build", default="build", help="build directory with the two programs")
    parser.add_argument("--kills", type=int, default=50, help="SIGKILLs per program")
    parser.add_argument("--graceful", type=int, default=4, help="SIGINT/SIGTERM stops per program")
    parser.add_argument("--only", choices=["translator", "attention_cnn"], help="one program only")
    parser.add_argument("--seed", type=int, default=1, help="seed of the kill moments")
    parser.add_argument("--quick", action="store_true", help="translator only, 5 kills, 2 graceful stops")
    parser.add_argument("--data-dir", help="attention_cnn's Fashion-MNIST (default: its own default)")
    options = parser.parse_args()
    if options.quick:
        options.only, options.kills, options.graceful = "translator", 5, 2
    rng = random.Random(options.seed)
    work = tempfile.mkdtemp(prefix="tessera_kill_resume_")
    names = [options.only] if options.only else ["translator", "attention_cnn"]
    programs = {"translator": os.path.join(options.build, "examples/translator/translator"),
                "attention_cnn": os.path.join(options.build, "examples/attention_cnn/attention_cnn")}
    configs = {"translator": pc.TRANSLATOR_SMALL, "attention_cnn": pc.CNN_SMALL}
    failed = False
    try:
        for name in names:
            example = Example(name, os.path.abspath(programs[name]), configs[name], os.path.join(work, name),
                              options.data_dir)
            try:
                stats = kill_and_resume(example, options.kills, options.graceful, rng)
                print(f"{name}: " + ", ".join(f"{k} {v}" for k, v in stats.items()), flush=True)
                for what, message in full_disk(example).items():
                    print(f"{name}: full disk ({what}): {message}", flush=True)
            except Failure as e:
                failed = True
                print(f"FAILED: {e}", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print("kill/resume: " + ("FAILED" if failed else "all checks passed"))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
