#!/usr/bin/python3
"""Issue 5's PyTorch comparison of the translator on the real English-German pairs: trains tessera
and the PyTorch reference (bench/translator_reference.py) side by side on the same data, batches
and schedule, scores both with tessera's corpus BLEU, times greedy decoding of a 10-word sentence
on both, prints a table and writes bench/results_translator.md.

    /usr/bin/python3 bench/run_translator_bench.py [--build-dir DIR] [--epochs 4] [--threads 2]
        [--out runs/bench-translator] [--decode-rounds 5] [--max-wait 180] [--no-parity] [--no-write]
        [--translator-args '--subwords 4000 ...']

Needs `ninja -C DIR examples/translator/translator bench/bench_translator` (DIR: --build-dir, else
$TESSERA_BUILD_DIR, else build) and dict-freedict-eng-deu installed.

  1. `translator export` writes the tokenised splits, both vocabularies and the batches of every
     epoch (rows of the train split, tessera's bucketing and seeded order) for the default model
     and training options with --epochs; the reference reads exactly these, so data, tokenisation,
     batch composition and order and the number of steps are the same by construction.
  2. PyTorch's thread setting: 30 training steps at torch.set_num_threads 1 and 2 (both with
     OMP_WAIT_POLICY=PASSIVE); the faster one trains.
  3. tessera trains (`translator --threads N train --data freedict --epochs E`), then the reference.
     Throughput = target tokens (non-pad, with <eos>) / seconds of the training steps, summed over
     the epochs (tessera's per-epoch record in its checkpoint; the reference's result.json). Before
     each, the runner waits (up to --max-wait s in all) for other processes to use < 0.3 cores; if
     the machine is still busy, tessera runs with OMP_WAIT_POLICY=PASSIVE (its spinning OpenMP
     threads collapse under contention) and the table says so, with the cores other processes used
     during each run.
  4. Test BLEU: both sides' greedy translations of the test split (tessera: `translator translate
     --beam 1`, the KV-cached greedy search; the reference: its prefix-re-running loop) scored by
     `translator score` (tessera's corpus_bleu) against the exported references.
     Parity check (unless --no-parity): the reference model loaded with tessera's trained weights
     translates the test split too; identical output means the two models compute the same thing.
  5. Decoding: the first test sentence of 10 words (+ final punctuation) with tessera's trained
     weights on both sides: encode + exactly 20 greedy steps (forced, not stopping at <eos>), and
     until <eos>. tessera (bench_translator) uses its KV cache, at --threads with OpenMP's default
     (spinning) and with PASSIVE waiting, and at 1 thread; PyTorch re-runs the decoder on the whole
     prefix each step (its usual greedy loop), at 1 and 2 threads. --decode-rounds rounds interleave
     the processes; medians of the rounds' medians; each side's fastest setting is compared.
  --translator-args passes data, model and training options (e.g. '--subwords 4000') to both
  `translator export` and `translator train`, so the two sides still train the same thing.
"""
import argparse
import datetime
import json
import os
import platform
import shlex
import statistics
import struct
import subprocess
import sys
import time

from run_nn_bench import system_ticks, torch_env  # same directory: /proc/stat sampling, environments

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
PY = "/usr/bin/python3"
REFERENCE = os.path.join(HERE, "translator_reference.py")
TORCH_SETTINGS = [("1t", 1), ("2t", 2)]  # both with OMP_WAIT_POLICY=PASSIVE
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
NCPU = os.cpu_count() or 1
QUIET_CORES = 0.3  # as run_nn_bench: a run is quiet if other processes used fewer cores meanwhile


def say(message):
    print(f"[translator-bench] {message}", file=sys.stderr, flush=True)


def env_with(**changes):
    """os.environ with `changes` applied (a value of None removes the variable)."""
    return torch_env(changes)


def children_ticks():
    t = os.times()
    return (t.children_user + t.children_system + t.user + t.system) * CLOCK_TICKS


def run(argv, env=None, stdin=None, label=None):
    """Runs argv to completion: (stdout, wall seconds, cores other processes used meanwhile)."""
    busy0, total0, ours0 = *system_ticks(), children_ticks()
    start = time.perf_counter()
    proc = subprocess.run(argv, env=env, cwd=ROOT, input=stdin, capture_output=True, text=True)
    wall = time.perf_counter() - start
    busy1, total1 = system_ticks()
    elapsed = (total1 - total0) / NCPU
    others = max(0.0, (busy1 - busy0) - (children_ticks() - ours0)) / elapsed if elapsed > 0 else 0.0
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr[-3000:])
        raise SystemExit(f"{label or argv[0]} failed (exit {proc.returncode})")
    return proc.stdout, wall, others


def other_cores(seconds=2.0):
    busy0, total0, ours0 = *system_ticks(), children_ticks()
    time.sleep(seconds)
    busy1, total1 = system_ticks()
    return max(0.0, (busy1 - busy0) - (children_ticks() - ours0)) / ((total1 - total0) / NCPU)


class QuietBudget:
    """Waits for the machine to calm down, at most max_wait seconds over the whole run."""

    def __init__(self, max_wait):
        self.left = max_wait

    def wait(self, what):
        load = other_cores()
        while load >= QUIET_CORES and self.left > 0:
            say(f"other processes use {load:.2f} cores; waiting before {what} ({self.left:.0f} s of waiting left)")
            time.sleep(min(10, self.left))
            self.left -= 10
            load = other_cores()
        return load


def built_programs(build_dir, *targets):
    """Paths of the ninja `targets` in `build_dir` (relative to the tree); exits with the ninja
    command that builds them when one is missing."""
    paths = [os.path.join(ROOT, build_dir, target) for target in targets]
    for path in paths:
        if not os.path.exists(path):
            raise SystemExit(f"{path} is missing: ninja -C {build_dir} {' '.join(targets)}")
    return paths


def checkpoint_training(path):
    """The "training" record of a tessera checkpoint (safetensors metadata)."""
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
    return json.loads(header["__metadata__"]["training"])


def read_lines(path):
    with open(path, encoding="utf-8") as f:
        return f.read().split("\n")[:-1]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--build-dir", default=os.environ.get("TESSERA_BUILD_DIR", "build"))
    parser.add_argument("--epochs", type=int, default=4, help="epochs on both sides (translator's default is 8)")
    parser.add_argument("--threads", type=int, default=2, help="tessera's threads")
    parser.add_argument("--translator-args", default="",
                        help="more `translator` data/model/training options for both sides, e.g. '--subwords 4000'")
    parser.add_argument("--tessera-wait-policy", choices=["passive", "auto", "default"], default="passive",
                        help="OMP_WAIT_POLICY for tessera: PASSIVE (default: the machine is shared), auto (PASSIVE "
                             "when other processes use >= 0.3 cores as a run starts) or OpenMP's default (spinning)")
    parser.add_argument("--out", default="runs/bench-translator", help="work directory (data, checkpoints, outputs)")
    parser.add_argument("--decode-rounds", type=int, default=5)
    parser.add_argument("--throughput-rounds", type=int, default=3, help="interleaved first-epoch runs per side")
    parser.add_argument("--decode-steps", type=int, default=20)
    parser.add_argument("--max-wait", type=float, default=180, help="seconds to wait for a quiet machine, in all")
    parser.add_argument("--no-parity", action="store_true", help="skip the reference-with-tessera-weights check")
    parser.add_argument("--no-write", action="store_true", help="do not write bench/results_translator.md")
    args = parser.parse_args()

    build = os.path.join(ROOT, args.build_dir)
    translator, bench = built_programs(args.build_dir, "examples/translator/translator", "bench/bench_translator")
    out = os.path.join(ROOT, args.out)
    data, tessera_dir, reference_dir = (os.path.join(out, d) for d in ("data", "tessera", "reference"))
    os.makedirs(tessera_dir, exist_ok=True)
    budget = QuietBudget(args.max_wait)
    started = time.perf_counter()

    # 1. the data both sides train on
    extra = shlex.split(args.translator_args)
    text, _, _ = run([translator, "export", "--data", "freedict", "--epochs", str(args.epochs), *extra, "--out", data],
                     label="translator export")
    say(text.strip().replace("\n", "; "))
    with open(os.path.join(data, "options.json")) as f:
        options = json.load(f)
    test_words = os.path.join(data, "test_words.tsv")  # words; test.tsv has the model's tokens (pieces)
    test_pairs = [line.split("\t") for line in read_lines(test_words)]
    test_token_pairs = [line.split("\t") for line in read_lines(os.path.join(data, "test.tsv"))]
    first_epoch_steps = sum(1 for line in read_lines(os.path.join(data, "batches.tsv")) if line.startswith("1\t"))

    # 2. PyTorch's best thread setting for this model
    calibration = {}
    for label, threads in TORCH_SETTINGS:
        budget.wait(f"calibrating PyTorch {label}")
        stdout, _, _ = run([PY, REFERENCE, "--threads", str(threads), "train", "--data", data, "--out",
                            os.path.join(out, f"calibrate-{label}"), "--max-steps", "30"],
                           env=env_with(OMP_WAIT_POLICY="PASSIVE"), label=f"reference calibration {label}")
        calibration[label] = json.loads(stdout.strip().split("\n")[-1])["tokens_per_second"]
        say(f"PyTorch {label}: {calibration[label]:.0f} target tokens/s over the first 30 steps")
    best_label, best_threads = max(TORCH_SETTINGS, key=lambda s: calibration[s[0]])

    # 3. training, one side after the other
    def tessera_policy_for(load):
        if args.tessera_wait_policy == "auto":
            return "PASSIVE" if load >= QUIET_CORES else None
        return "PASSIVE" if args.tessera_wait_policy == "passive" else None

    load = budget.wait("training tessera")
    tessera_policy = tessera_policy_for(load)
    say(f"tessera runs with OMP_WAIT_POLICY={tessera_policy or '(default)'}; other processes use {load:.2f} cores")
    say(f"training tessera, {args.epochs} epochs ({options['steps']} steps)")
    _, tessera_wall, tessera_others = run(
        [translator, "--threads", str(args.threads), "train", "--data", "freedict", "--epochs", str(args.epochs),
         *extra, "--out", tessera_dir], env=env_with(OMP_WAIT_POLICY=tessera_policy), label="translator train")
    checkpoint = os.path.join(tessera_dir, "model.safetensors")
    history = checkpoint_training(checkpoint)["history"]
    tessera_seconds = sum(r["seconds"] for r in history)
    tessera_tokens = sum(r["tokens_per_second"] * r["seconds"] for r in history)
    tessera_tps = tessera_tokens / tessera_seconds
    say(f"tessera: {tessera_tps:.0f} target tokens/s, {tessera_seconds:.1f} s of steps, {tessera_wall:.1f} s wall "
        f"(other processes: {tessera_others:.2f} cores)")

    budget.wait("training the reference")
    say(f"training the PyTorch reference ({best_label})")
    stdout, reference_wall, reference_others = run(
        [PY, REFERENCE, "--threads", str(best_threads), "train", "--data", data, "--out", reference_dir],
        env=env_with(OMP_WAIT_POLICY="PASSIVE"), label="reference train")
    with open(os.path.join(reference_dir, "result.json")) as f:
        reference = json.load(f)
    reference_tps = reference["tokens_per_second"]
    say(f"PyTorch: {reference_tps:.0f} target tokens/s, {reference['seconds']:.1f} s of steps, {reference_wall:.1f} s "
        f"wall (other processes: {reference_others:.2f} cores)")
    assert reference["steps"] == options["steps"], (reference["steps"], options["steps"])
    assert abs(reference["tokens"] - tessera_tokens) < 1e-6 * reference["tokens"] + 2, (reference["tokens"], tessera_tokens)

    # 3b. throughput again, robustly: the first epoch on each side, interleaved, --throughput-rounds
    # times (the order alternates); medians. A round is noisy if other processes used >= 0.3 cores.
    rounds = {"tessera": [], "PyTorch": []}
    for round_index in range(args.throughput_rounds):
        for who in (["tessera", "PyTorch"] if round_index % 2 == 0 else ["PyTorch", "tessera"]):
            load = budget.wait(f"throughput round {round_index + 1} ({who})")
            if who == "tessera":
                policy = tessera_policy_for(load)
                _, _, others = run([translator, "--threads", str(args.threads), "train", "--data", "freedict",
                                    *extra, "--epochs", "1", "--out", os.path.join(out, "tessera-round")],
                                   env=env_with(OMP_WAIT_POLICY=policy), label="translator train (round)")
                first = checkpoint_training(os.path.join(out, "tessera-round", "model.safetensors"))["history"][0]
                tps = first["tokens_per_second"]
            else:
                policy = "PASSIVE"
                stdout, _, others = run([PY, REFERENCE, "--threads", str(best_threads), "train", "--data", data,
                                         "--out", os.path.join(out, "reference-round"), "--max-steps",
                                         str(first_epoch_steps)], env=env_with(OMP_WAIT_POLICY="PASSIVE"),
                                        label="reference train (round)")
                tps = json.loads(stdout.strip().split("\n")[-1])["tokens_per_second"]
            rounds[who].append({"tokens_per_second": tps, "others": others, "policy": policy or "default"})
            say(f"round {round_index + 1} {who}: {tps:.0f} target tokens/s (other processes {others:.2f} cores, "
                f"OMP_WAIT_POLICY {policy or 'default'})")

    def round_median(who):
        quiet = [r["tokens_per_second"] for r in rounds[who] if r["others"] < QUIET_CORES]
        values = quiet if len(quiet) >= 2 else [r["tokens_per_second"] for r in rounds[who]]
        return statistics.median(values), len(quiet)

    (round_tessera, quiet_tessera), (round_torch, quiet_torch) = round_median("tessera"), round_median("PyTorch")

    # 4. test BLEU, one implementation for both
    tessera_hyps = os.path.join(tessera_dir, "test_hypotheses.txt")
    sources = "".join(source + "\n" for source, _ in test_pairs)
    hyps, tessera_test_seconds, _ = run([translator, "--threads", str(args.threads), "translate", "--checkpoint",
                                         checkpoint, "--beam", "1"], stdin=sources,
                                        env=env_with(OMP_WAIT_POLICY=tessera_policy), label="translator translate")
    with open(tessera_hyps, "w", encoding="utf-8") as f:
        f.write(hyps)

    def bleu(path):
        stdout, _, _ = run([translator, "score", path, test_words], label="translator score")
        return json.loads(stdout)

    tessera_bleu = bleu(tessera_hyps)
    reference_bleu = bleu(os.path.join(reference_dir, "test_hypotheses.txt"))
    say(f"test BLEU: tessera {tessera_bleu['bleu']:.2f}, PyTorch {reference_bleu['bleu']:.2f}")
    parity = None
    if not args.no_parity:
        parity_hyps = os.path.join(out, "reference_with_tessera_weights.txt")
        run([PY, REFERENCE, "--threads", str(best_threads), "translate", "--checkpoint", checkpoint, "--data", data,
             "--out", parity_hyps], env=env_with(OMP_WAIT_POLICY="PASSIVE"), label="reference translate")
        same = sum(a == b for a, b in zip(read_lines(tessera_hyps), read_lines(parity_hyps)))
        parity = {"identical": same, "sentences": len(test_pairs), "bleu": bleu(parity_hyps)["bleu"]}
        say(f"PyTorch with tessera's weights: {same}/{len(test_pairs)} identical translations, "
            f"BLEU {parity['bleu']:.2f}")

    # 5. greedy decoding of a 10-word sentence
    # Each side at each of its settings, and each side's best is compared (as PyTorch's thread
    # count for training): tessera at --threads with OpenMP's default (spinning) and PASSIVE
    # waiting, and at 1 thread; PyTorch at 1 and 2 threads (PASSIVE).
    index = next(i for i, (s, _) in enumerate(test_pairs)
                 if len(s.split(" ")) == 11 and s.split(" ")[-1] in (".", "?", "!"))
    sentence, sentence_tokens = test_pairs[index][0], test_token_pairs[index][0]
    say(f"decoding: '{sentence}' (model tokens: '{sentence_tokens}')")
    tessera_settings = {f"tessera {args.threads}t spinning": (args.threads, None),
                        f"tessera {args.threads}t PASSIVE": (args.threads, "PASSIVE"), "tessera 1t": (1, None)}
    decode = {**{label: [] for label in tessera_settings}, **{label: [] for label, _ in TORCH_SETTINGS}}
    assert len(decode) == len(tessera_settings) + len(TORCH_SETTINGS), "decode settings need distinct labels"
    for round_index in range(args.decode_rounds):
        order = list(decode)
        order = order[round_index % len(order):] + order[:round_index % len(order)]
        for who in order:
            budget.wait("a decoding round")
            if who in tessera_settings:
                threads, policy = tessera_settings[who]
                stdout, _, _ = run([bench, "--checkpoint", checkpoint, "--source", sentence, "--steps",
                                    str(args.decode_steps), "--threads", str(threads)],
                                   env=env_with(OMP_WAIT_POLICY=policy), label=f"bench_translator {who}")
            else:
                threads = dict(TORCH_SETTINGS)[who]
                stdout, _, _ = run([PY, REFERENCE, "--threads", str(threads), "decode", "--checkpoint", checkpoint,
                                    "--source", sentence_tokens, "--steps", str(args.decode_steps)],
                                   env=env_with(OMP_WAIT_POLICY="PASSIVE"), label=f"reference decode {who}")
            decode[who].append(json.loads(stdout.strip().split("\n")[-1]))

    def med(who, key):
        return statistics.median(r[key]["median_ms"] for r in decode[who])

    torch_decode_label = min((label for label, _ in TORCH_SETTINGS), key=lambda label: med(label, "forced"))
    tessera_decode_label = min(tessera_settings, key=lambda label: med(label, "forced"))
    d_tessera, d_torch = decode[tessera_decode_label][-1], decode[torch_decode_label][-1]
    forced_tessera, forced_torch = med(tessera_decode_label, "forced"), med(torch_decode_label, "forced")
    eos_tessera, eos_torch = med(tessera_decode_label, "until_eos"), med(torch_decode_label, "until_eos")
    uncached_tessera = med(tessera_decode_label, "uncached")
    decode_settings_line = "; ".join(f"{label if label in tessera_settings else 'PyTorch ' + label} "
                                     f"{med(label, 'forced'):.2f} ms" for label in decode)
    total_minutes = (time.perf_counter() - started) / 60

    # ---- the table ----
    tps_ratio = tessera_tps / reference_tps
    bleu_margin = tessera_bleu["bleu"] - reference_bleu["bleu"]
    met = lambda ok: "met" if ok else "MISSED"  # noqa: E731
    policy_note = ("OMP_WAIT_POLICY=PASSIVE (--tessera-wait-policy " + args.tessera_wait_policy + ")" if tessera_policy
                   else "OpenMP's default wait policy (spinning)")
    rows = [
        ("test BLEU (greedy, tessera's corpus_bleu)", f"{tessera_bleu['bleu']:.2f}", f"{reference_bleu['bleu']:.2f}",
         f"{bleu_margin:+.2f}", f">= -0.5: {met(bleu_margin >= -0.5)}"),
        (f"training throughput, target tokens/s: the {args.epochs}-epoch runs", f"{tessera_tps:.0f}",
         f"{reference_tps:.0f}", f"{tps_ratio:.2f}x", f">= 1.5x: {met(tps_ratio >= 1.5)}"),
        (f"... first epoch, median of {args.throughput_rounds} interleaved rounds (quiet: {quiet_tessera} / "
         f"{quiet_torch})", f"{round_tessera:.0f}", f"{round_torch:.0f}", f"{round_tessera / round_torch:.2f}x",
         f">= 1.5x: {met(round_tessera / round_torch >= 1.5)}"),
        ("seconds of training steps", f"{tessera_seconds:.1f}", f"{reference['seconds']:.1f}", "", ""),
        ("training wall time, s (tessera: with validation BLEU per epoch)", f"{tessera_wall:.1f}",
         f"{reference_wall - reference['test_decode_seconds']:.1f}", "", ""),
        ("other processes during training, cores", f"{tessera_others:.2f}", f"{reference_others:.2f}", "", ""),
        (f"greedy decode, {args.decode_steps} forced steps, ms/sentence", f"{forced_tessera:.2f}",
         f"{forced_torch:.2f}", f"{forced_torch / forced_tessera:.2f}x", f">= 3x: {met(forced_torch / forced_tessera >= 3)}"),
        (f"greedy decode until <eos> ({d_tessera['until_eos']['tokens']} / {d_torch['until_eos']['tokens']} tokens), ms",
         f"{eos_tessera:.2f}", f"{eos_torch:.2f}", f"{eos_torch / eos_tessera:.2f}x", ""),
        (f"tessera without its KV cache, {args.decode_steps} steps, ms (ratio: PyTorch / this)",
         f"{uncached_tessera:.2f}", "", f"{forced_torch / uncached_tessera:.2f}x", ""),
    ]
    head = ("", "tessera", f"PyTorch {reference['torch']}", "ratio", "target")
    widths = [max(len(str(r[i])) for r in rows + [head]) for i in range(5)]
    print()
    for r in [head] + rows:
        print("  ".join(str(c).ljust(w) for c, w in zip(r, widths)))
    print()

    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run(["git", "status", "--short", "--untracked-files=no"], cwd=ROOT, capture_output=True,
                           text=True).stdout.split()[1::2]
    lines = [
        "# The translator against PyTorch (issue 5)", "",
        f"Written by `bench/run_translator_bench.py --epochs {args.epochs}"
        + (f" --translator-args '{args.translator_args}'" if args.translator_args else "") + "` on "
        f"{datetime.datetime.now().strftime('%Y-%m-%d %H:%M')}, {platform.node()} ({NCPU} cores), build "
        f"`{args.build_dir}`" + (f" (the working tree at commit {commit}" +
                                  (f", with local changes to {', '.join(dirty)})" if dirty else ")")
                                  if os.path.realpath(build).startswith(os.path.realpath(ROOT) + os.sep) else "") +
        f"; whole run {total_minutes:.1f} min.", "",
        f"- Data: Debian's dict-freedict-eng-deu through `translator export` (tessera's preprocessing, split, "
        + (f"SentencePiece {options['subword_model']} subword vocabularies" if options.get("subwords", 0) > 0
           else f"word vocabularies with min_freq {options['min_freq']}") +
        f": {options['model']['source_vocab_size']} / {options['model']['target_vocab_size']} tokens; "
        f"{len(read_lines(os.path.join(data, 'train.tsv')))} training pairs, {len(test_pairs)} test pairs).",
        f"- Model (both): `translator train` defaults" + (f" with `{args.translator_args}`" if args.translator_args
                                                          else "") + f", d_model {options['model']['d_model']}, "
        f"{options['model']['nhead']} heads, {options['model']['encoder_layers']}+{options['model']['decoder_layers']} "
        f"layers, ffn {options['model']['dim_feedforward']}, dropout {options['model']['dropout']}, post-norm, tied "
        f"output with bias; {reference['parameters']:,} parameters.",
        f"- Training (both): {args.epochs} epochs = {options['steps']} steps of {options['batch_size']} sentences, the "
        f"same batches in the same order (exported from tessera's bucketing), Noam lr factor {options['lr']}, warmup "
        f"{options['warmup_steps']}, Adam (0.9, 0.98) eps 1e-9, label smoothing {options['label_smoothing']}, clip "
        f"{options['clip_norm']}, seed {options['seed']} (each side draws its own initial weights and dropout).",
        f"- tessera at {args.threads} threads, {policy_note}; PyTorch at its faster setting: {best_label} with "
        f"OMP_WAIT_POLICY=PASSIVE (first 30 steps: " +
        ", ".join(f"{label} {calibration[label]:.0f} tok/s" for label, _ in TORCH_SETTINGS) + ").",
        "- Throughput: target tokens (non-pad, with <eos>) / seconds of the training steps, all epochs of the "
        "training runs; then, since the machine is shared, the first epoch again on each side, interleaved, "
        f"{args.throughput_rounds} times (medians of the quiet rounds, or of all when fewer than 2 were quiet).",
        "- BLEU: greedy translations of the test split on both sides, scored by `translator score` (tessera's "
        "sacreBLEU-exact corpus_bleu on the tokenised text).",
        f"- Decoding: `{sentence}` ({len(sentence.split(' '))} tokens + <eos>) with tessera's trained weights on both "
        f"sides; encode + {args.decode_steps} greedy steps, not stopping at <eos>. tessera: its KV cache "
        f"(bench/bench_translator.cpp); PyTorch: its usual loop re-running the decoder on the whole prefix each step, "
        f"{torch_decode_label}. Median of {args.decode_rounds} interleaved rounds of 15 repetitions; each side at its "
        f"fastest setting ({tessera_decode_label}). All settings: {decode_settings_line}.", "",
        "| | tessera | PyTorch | ratio | target |", "|---|---|---|---|---|",
    ]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    lines += ["", "Per epoch (loss: label-smoothed cross-entropy on the training batches):", "",
              "| epoch | tessera loss | PyTorch loss | tessera tok/s | PyTorch tok/s | tessera validation BLEU |",
              "|---|---|---|---|---|---|"]
    for t, r in zip(history, reference["history"]):
        lines.append(f"| {t['epoch']} | {t['train_loss']:.4f} | {r['train_loss']:.4f} | {t['tokens_per_second']:.0f} | "
                     f"{r['tokens_per_second']:.0f} | {t['valid_bleu']:.2f} |")
    lines += ["", f"Decoding outputs: tessera forced `{d_tessera['forced']['translation']}`; PyTorch forced "
              f"`{d_torch['forced']['translation']}`; until <eos>: tessera `{d_tessera['until_eos']['translation']}`, "
              f"PyTorch `{d_torch['until_eos']['translation']}`."]
    if parity:
        lines += ["", f"Parity: the PyTorch model loaded with tessera's trained weights gives "
                  f"{parity['identical']}/{parity['sentences']} identical greedy test translations (BLEU "
                  f"{parity['bleu']:.2f} against tessera's {tessera_bleu['bleu']:.2f}): the two sides compute the "
                  f"same model."]
    lines += ["", "Throughput rounds (first epoch, target tokens/s, other processes' cores, tessera's wait policy): "
              + "; ".join(f"{who} " + ", ".join(f"{r['tokens_per_second']:.0f} ({r['others']:.2f}, {r['policy']})"
                                                 for r in rounds[who]) for who in rounds) + "."]
    lines += ["", f"tessera's greedy test decoding (translate, one sentence at a time): {tessera_test_seconds:.1f} s; "
              f"the reference's (batches of 128): {reference['test_decode_seconds']:.1f} s.", ""]
    if not args.no_write:
        with open(os.path.join(HERE, "results_translator.md"), "w") as f:
            f.write("\n".join(lines))
        say("wrote bench/results_translator.md")
    else:
        print("\n".join(lines))


if __name__ == "__main__":
    main()
