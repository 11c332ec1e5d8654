#!/usr/bin/python3
"""The PyTorch reference of the translator (issue 5's comparison targets), run by
bench/run_translator_bench.py.

The model is examples/translator/model.h in torch.nn: embeddings ~ N(0, d^-1/2) with a zero <pad>
row, scaled by sqrt(d), plus the sinusoidal table, dropout, torch.nn.Transformer(batch_first=True,
post-norm, relu, with the encoder's and decoder's final LayerNorm, xavier_uniform on every matrix
of the Transformer), and logits = h E_target^T + b (output tied to the target embedding, with a
bias). Module names are tessera's state_dict names, so a tessera checkpoint loads as it is.

Data and tokenisation are tessera's by construction: `translator export` writes the splits as
tokens, the vocabularies and the batches of every epoch (row indices into the train split, in
tessera's order), and this script reads them; it never tokenises text itself. With subword
vocabularies the splits hold SentencePiece pieces, and translations are joined back into words
(join_pieces, as tessera's Vocab::words) before they are written. Training follows
examples/translator/train.cpp: Adam(betas 0.9/0.98, eps 1e-9), the Noam schedule as a LambdaLR
(update k uses lr = f d^-1/2 min(k^-1/2, k w^-3/2)), cross-entropy with ignore_index <pad> and
label smoothing, gradient-norm clipping, the exported batches in the exported order.

    translator_reference.py train  --data DIR --out DIR [--threads N] [--max-steps N] [--ddp-ranks N]
        trains on DIR (from `translator export`), writes DIR_OUT/result.json (per-epoch seconds of
        training steps, target tokens, loss) and DIR_OUT/test_hypotheses.txt (greedy, as words).
        --ddp-ranks N: N processes (torch.multiprocessing) with DistributedDataParallel over gloo,
        --threads each, as tessera under mpirun (docs/distributed.md §1): each rank takes its
        contiguous rows of every exported global batch (tessera's shard_range) and weights its mean
        loss by N n_r / n, its share of the batch's target tokens (one all-reduce per step, which
        also gives the global loss); rank 0 times and writes. No test decoding with --ddp-ranks.
    translator_reference.py decode --checkpoint FILE --source "tokens ..." [--steps 20] [--reps 15]
        (--source: the model's tokens, space-separated: words, or pieces with subword vocabularies)
        greedy decoding of one sentence with the weights of a tessera checkpoint, PyTorch's usual
        way (the decoder re-runs the whole prefix every step, no key/value cache); prints JSON
    translator_reference.py translate --checkpoint FILE --data DIR --out FILE
        greedy translations of DIR's test split with a tessera checkpoint's weights (parity check)

OMP_WAIT_POLICY must be set before torch is imported, so the runner starts one process per
thread setting.
"""
import argparse
import json
import math
import os
import statistics
import struct
import sys
import time
import warnings

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

PAD, BOS, EOS, UNK = 0, 1, 2, 3
# torch 1.13's encoder turns padded batches into nested tensors in eval mode and says so each time
warnings.filterwarnings("ignore", message="The PyTorch API of nested tensors")


# ---------------- data (as exported by `translator export`) ----------------
def read_vocab(path):
    with open(path, encoding="utf-8") as f:
        tokens = json.load(f)["tokens"]
    return tokens, {t: i for i, t in enumerate(tokens)}


def is_subword(vocab_json):
    """A subword vocabulary carries its SentencePiece model (vocab.h); its tokens are pieces."""
    return "subword_model" in json.loads(vocab_json)


def join_pieces(pieces):
    """Vocab::words: pieces into words at each U+2581 (a word's first piece); specials stand alone."""
    words, open_word = [], False
    for p in pieces:
        if p in ("<pad>", "<bos>", "<eos>", "<unk>"):
            words.append(p)
            open_word = False
        elif p.startswith("\u2581"):
            words.append(p[1:])
            open_word = True
        elif open_word:
            words[-1] += p
        else:
            words.append(p)
            open_word = True
    return [w for w in words if w]


def read_split(path, source_index, target_index):
    """[(source ids, target ids, target tokens)] without specials, unknown tokens as <unk>."""
    pairs = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            source, target = line.rstrip("\n").split("\t")
            s, t = source.split(" "), target.split(" ")
            pairs.append(([source_index.get(w, UNK) for w in s], [target_index.get(w, UNK) for w in t], t))
    return pairs


def read_batches(path):
    """[(epoch, [row, ...])] in training order."""
    out = []
    with open(path) as f:
        for line in f:
            epoch, rows = line.rstrip("\n").split("\t")
            out.append((int(epoch), [int(r) for r in rows.split(" ")]))
    return out


def make_batch(pairs, rows):
    """The tensors of batching.h: source x.. <eos>, target_input <bos> y.., target_output y.. <eos>."""
    width_s = max(len(pairs[r][0]) for r in rows) + 1
    width_t = max(len(pairs[r][1]) for r in rows) + 1
    source = torch.zeros(len(rows), width_s, dtype=torch.long)
    target_input = torch.zeros(len(rows), width_t, dtype=torch.long)
    target_output = torch.zeros(len(rows), width_t, dtype=torch.long)
    for b, r in enumerate(rows):
        s, t = pairs[r][0], pairs[r][1]
        source[b, :len(s)] = torch.tensor(s)
        source[b, len(s)] = EOS
        target_input[b, 0] = BOS
        target_input[b, 1:len(t) + 1] = torch.tensor(t)
        target_output[b, :len(t)] = torch.tensor(t)
        target_output[b, len(t)] = EOS
    return source, target_input, target_output


# ---------------- the model ----------------
class Translator(nn.Module):
    def __init__(self, config):
        super().__init__()
        d = config["d_model"]
        self.d_model = d
        self.source_embedding = nn.Embedding(config["source_vocab_size"], d, padding_idx=PAD)
        self.target_embedding = nn.Embedding(config["target_vocab_size"], d, padding_idx=PAD)
        assert config["tie_target_embedding"] and not config["norm_first"]
        self.transformer = nn.Transformer(d_model=d, nhead=config["nhead"], num_encoder_layers=config["encoder_layers"],
                                          num_decoder_layers=config["decoder_layers"],
                                          dim_feedforward=config["dim_feedforward"], dropout=config["dropout"],
                                          batch_first=True, norm_first=False)  # its constructor: xavier_uniform_
        self.output_bias = nn.Parameter(torch.zeros(config["target_vocab_size"]))
        self.dropout = nn.Dropout(config["dropout"])
        with torch.no_grad():
            for e in (self.source_embedding, self.target_embedding):
                nn.init.normal_(e.weight, 0, 1 / math.sqrt(d))
                e.weight[PAD].zero_()
        # PE[pos, 2i] = sin(pos / 10000^(2i/d)), PE[pos, 2i+1] = cos(...), in double as tessera
        pos = np.arange(config["max_length"], dtype=np.float64)[:, None]
        i = np.arange(d)
        angle = pos / np.power(10000.0, (i - i % 2) / d)
        table = np.where(i % 2 == 0, np.sin(angle), np.cos(angle)).astype(np.float32)
        self.register_buffer("positions", torch.from_numpy(table), persistent=False)

    def embed(self, table, ids):
        return self.dropout(table(ids) * math.sqrt(self.d_model) + self.positions[:ids.shape[1]])

    def encode(self, source):
        padding = source == PAD  # True = ignore
        return self.transformer.encoder(self.embed(self.source_embedding, source), src_key_padding_mask=padding), padding

    def decode(self, target, memory, source_padding):
        t = target.shape[1]
        causal = torch.triu(torch.full((t, t), float("-inf")), diagonal=1)
        h = self.transformer.decoder(self.embed(self.target_embedding, target), memory, tgt_mask=causal,
                                     memory_key_padding_mask=source_padding)
        return h @ self.target_embedding.weight.t() + self.output_bias  # [B, T, V]

    def forward(self, source, target_input):
        memory, padding = self.encode(source)
        return self.decode(target_input, memory, padding)


def greedy(model, sources, steps=None, stop_at_eos=True):
    """PyTorch's usual greedy loop: every step re-runs the decoder on the whole prefix (no cache).
    sources: id lists ending in <eos>. Never predicts <pad> or <bos>. Per sentence at most
    2 * len + 10 tokens (decode.h), capped by the model; `steps` forces a number of steps."""
    model.eval()
    width = max(len(s) for s in sources)
    source = torch.zeros(len(sources), width, dtype=torch.long)
    for b, s in enumerate(sources):
        source[b, :len(s)] = torch.tensor(s)
    limits = [min(2 * len(s) + 10, model.positions.shape[0] - 1) if steps is None else steps for s in sources]
    out = [[] for _ in sources]
    with torch.inference_mode():
        memory, padding = model.encode(source)
        ys = torch.full((len(sources), 1), BOS, dtype=torch.long)
        alive = list(range(len(sources)))  # sentence of each row still decoding
        for t in range(max(limits)):
            logits = model.decode(ys, memory, padding)[:, -1, BOS + 1:]
            next_tokens = logits.argmax(-1) + BOS + 1
            keep = []
            for r, b in enumerate(alive):
                token = int(next_tokens[r])
                if stop_at_eos and token == EOS:
                    continue
                out[b].append(token)
                if len(out[b]) < limits[b]:
                    keep.append(r)
            ys = torch.cat([ys, next_tokens[:, None]], 1)
            if len(keep) < len(alive):
                if not keep:
                    break
                index = torch.tensor(keep)
                ys, memory, padding = ys[index], memory[index], padding[index]
                alive = [alive[r] for r in keep]
    return out


# ---------------- tessera checkpoints ----------------
def load_tessera_checkpoint(path):
    """(model with the checkpoint's weights, source vocab, target vocab). safetensors by hand
    (Debian has no python3-safetensors): 8-byte header size, JSON header, raw little-endian data."""
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    metadata = header.pop("__metadata__")
    data = raw[8 + n:]
    config = json.loads(metadata["config"])
    model = Translator(config)
    state = {}
    for name, entry in header.items():
        if not name.startswith("model."):
            continue
        assert entry["dtype"] == "F32", f"{name}: {entry['dtype']}"
        begin, end = entry["data_offsets"]
        state[name[len("model."):]] = torch.from_numpy(np.frombuffer(data[begin:end], "<f4").reshape(entry["shape"]).copy())
    model.load_state_dict(state, strict=True)
    source_tokens = json.loads(metadata["source_vocab"])["tokens"]
    target_tokens = json.loads(metadata["target_vocab"])["tokens"]
    return model, source_tokens, target_tokens, is_subword(metadata["target_vocab"])


def decode_tokens(ids, target_tokens, subword):
    """The words of a translation's ids (pieces joined for a subword vocabulary), space-separated."""
    tokens = [target_tokens[i] for i in ids]
    return " ".join(join_pieces(tokens) if subword else tokens)


# ---------------- commands ----------------
def shard_range(n, rank, world):
    """tessera's dist::shard_range: contiguous rows, the first n % world ranks one more."""
    base, extra = divmod(n, world)
    begin = rank * base + min(rank, extra)
    return begin, begin + base + (1 if rank < extra else 0)


def run_ranks(train_fn, args):
    """train_fn(args) in this process, or with --ddp-ranks N > 1 train_fn(args, rank, N) in N processes
    (torch.multiprocessing) joined in a gloo process group, torch.set_num_threads(--threads) each."""
    if args.ddp_ranks <= 1:
        return train_fn(args)
    import tempfile
    import torch.multiprocessing as mp
    with tempfile.TemporaryDirectory() as store:  # the process group's rendezvous file
        mp.spawn(_rank_main, args=(train_fn, args, os.path.join(store, "init")), nprocs=args.ddp_ranks, join=True)


def _rank_main(rank, train_fn, args, store):
    import torch.distributed as dist
    torch.set_num_threads(args.threads)
    dist.init_process_group("gloo", init_method="file://" + store, rank=rank, world_size=args.ddp_ranks)
    try:
        train_fn(args, rank, args.ddp_ranks)
    finally:
        dist.destroy_process_group()


def cmd_train(args):
    run_ranks(train, args)


def train(args, rank=0, world=1):
    with open(os.path.join(args.data, "options.json")) as f:
        options = json.load(f)
    config = options["model"]
    _, source_index = read_vocab(os.path.join(args.data, "source_vocab.json"))
    target_tokens, target_index = read_vocab(os.path.join(args.data, "target_vocab.json"))
    with open(os.path.join(args.data, "target_vocab.json"), encoding="utf-8") as f:
        subword = is_subword(f.read())
    train = read_split(os.path.join(args.data, "train.tsv"), source_index, target_index)
    test = read_split(os.path.join(args.data, "test.tsv"), source_index, target_index)
    batches = read_batches(os.path.join(args.data, "batches.tsv"))
    if args.max_steps:
        batches = batches[:args.max_steps]

    torch.manual_seed(options["seed"])
    model = Translator(config)
    parameters = sum(p.numel() for p in model.parameters())
    trained = model
    if world > 1:  # rank 0's weights broadcast; 25 MB buckets as tessera; buffers (the positions) are constant
        import torch.distributed as dist
        trained = nn.parallel.DistributedDataParallel(model, broadcast_buffers=False, bucket_cap_mb=25)
    adam = torch.optim.Adam(model.parameters(), lr=1.0, betas=tuple(options["adam"]["betas"]), eps=options["adam"]["eps"])
    d, warmup, factor = config["d_model"], options["warmup_steps"], options["lr"]
    schedule = torch.optim.lr_scheduler.LambdaLR(
        adam, lambda e: factor / math.sqrt(d) * min((e + 1) ** -0.5, (e + 1) * warmup ** -1.5))
    epochs = {}
    model.train()
    for epoch, rows in batches:
        source, target_input, target_output = make_batch(train, rows)  # (not timed: tessera builds
        tokens = int((target_output != PAD).sum())                      #  its batches before timing too)
        record = epochs.setdefault(epoch, {"epoch": epoch, "seconds": 0.0, "tokens": 0, "loss_sum": 0.0, "steps": 0})
        weight = 1.0
        if world > 1:  # this rank's rows, padded to the global batch's widths as tessera's slice_rows
            begin, end = shard_range(len(rows), rank, world)
            if begin == end:  # a batch smaller than the ranks: run row 0 with weight 0 (DDP needs a backward)
                begin, end, weight = 0, 1, 0.0
            source, target_input, target_output = source[begin:end], target_input[begin:end], target_output[begin:end]
        start = time.perf_counter()
        logits = trained(source, target_input)
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), target_output.reshape(-1), ignore_index=PAD,
                               label_smoothing=options["label_smoothing"])
        value = loss.item()
        if world > 1:  # one all-reduce, as tessera: the global mean loss and the batch's tokens
            mine = float((target_output != PAD).sum()) * weight
            sums = torch.tensor([value * mine, mine], dtype=torch.float64)
            dist.all_reduce(sums)
            value, weight = float(sums[0] / sums[1]), world * mine / float(sums[1])
            loss = loss * weight
        adam.zero_grad(set_to_none=True)
        loss.backward()  # DDP: the buckets are averaged over the ranks while this runs
        if options["clip_norm"] > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), options["clip_norm"])
        adam.step()
        schedule.step()
        record["seconds"] += time.perf_counter() - start
        record["tokens"] += tokens
        record["loss_sum"] += value * tokens
        record["steps"] += 1
        if not math.isfinite(value):
            sys.exit(f"reference: the loss became {value} at epoch {epoch}")
    if rank > 0:
        return
    history = []
    for r in epochs.values():
        history.append({"epoch": r["epoch"], "seconds": r["seconds"], "tokens": r["tokens"], "steps": r["steps"],
                        "train_loss": r["loss_sum"] / r["tokens"], "tokens_per_second": r["tokens"] / r["seconds"]})
        print(f"reference epoch {r['epoch']}: loss {history[-1]['train_loss']:.4f}, {r['seconds']:.1f} s, "
              f"{history[-1]['tokens_per_second']:.0f} target tokens/s", file=sys.stderr, flush=True)
    os.makedirs(args.out, exist_ok=True)
    hypotheses_seconds = None
    if not args.max_steps and world == 1:
        start = time.perf_counter()
        hyps = []
        for begin in range(0, len(test), 128):
            sources = [s + [EOS] for s, _, _ in test[begin:begin + 128]]
            hyps += greedy(model, sources)
        hypotheses_seconds = time.perf_counter() - start
        with open(os.path.join(args.out, "test_hypotheses.txt"), "w", encoding="utf-8") as f:
            for h in hyps:
                f.write(decode_tokens(h, target_tokens, subword) + "\n")
    total_tokens = sum(r["tokens"] for r in history)
    total_seconds = sum(r["seconds"] for r in history)
    result = {"threads": torch.get_num_threads(), "ranks": world, "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", ""),
              "torch": torch.__version__, "parameters": parameters, "steps": sum(r["steps"] for r in history),
              "history": history, "tokens": total_tokens, "seconds": total_seconds,
              "tokens_per_second": total_tokens / total_seconds, "test_decode_seconds": hypotheses_seconds}
    with open(os.path.join(args.out, "result.json"), "w") as f:
        json.dump(result, f, indent=2)
    print(json.dumps({k: v for k, v in result.items() if k != "history"}), flush=True)


def cmd_decode(args):
    model, source_tokens, target_tokens, subword = load_tessera_checkpoint(args.checkpoint)
    index = {t: i for i, t in enumerate(source_tokens)}
    source = [index.get(w, UNK) for w in args.source.split(" ")] + [EOS]  # the model's tokens (pieces)
    runs = {}
    for label, steps, stop in (("forced", args.steps, False), ("until_eos", None, True)):
        greedy(model, [source], steps, stop)  # warm-up
        times, tokens = [], None
        for _ in range(args.reps):
            start = time.perf_counter()
            out = greedy(model, [source], steps, stop)[0]
            times.append(time.perf_counter() - start)
            tokens = out
        runs[label] = {"median_ms": 1000 * statistics.median(times), "reps_ms": [1000 * t for t in times],
                       "tokens": len(tokens), "translation": decode_tokens(tokens, target_tokens, subword)}
    print(json.dumps({"threads": torch.get_num_threads(), "source_tokens": len(source) - 1, **runs}), flush=True)


def cmd_translate(args):
    model, source_tokens, target_tokens, subword = load_tessera_checkpoint(args.checkpoint)
    index = {t: i for i, t in enumerate(source_tokens)}
    test = read_split(os.path.join(args.data, "test.tsv"), index, {})
    with open(args.out, "w", encoding="utf-8") as f:
        for begin in range(0, len(test), 128):
            for h in greedy(model, [s + [EOS] for s, _, _ in test[begin:begin + 128]]):
                f.write(decode_tokens(h, target_tokens, subword) + "\n")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=1, help="torch.set_num_threads")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("train")
    p.add_argument("--data", required=True, help="directory written by `translator export`")
    p.add_argument("--out", required=True)
    p.add_argument("--max-steps", type=int, default=0, help="stop after this many steps (thread calibration)")
    p.add_argument("--ddp-ranks", type=int, default=1,
                   help="N processes with DistributedDataParallel (gloo), --threads each; rank 0 reports")
    p = sub.add_parser("decode")
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--source", required=True, help="the source sentence as the model's tokens (words or pieces), space-separated")
    p.add_argument("--steps", type=int, default=20, help="forced number of generated tokens")
    p.add_argument("--reps", type=int, default=15)
    p = sub.add_parser("translate")
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--data", required=True)
    p.add_argument("--out", required=True)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    {"train": cmd_train, "decode": cmd_decode, "translate": cmd_translate}[args.command](args)


if __name__ == "__main__":
    main()
