#!/usr/bin/python3
"""PyTorch's half of the nn benchmarks of issues #3 and #4 (bench/run_nn_bench.py runs it).

The same cases as bench/bench_nn.cpp, under the same names, timed the same way: warm-up, calibrate
a loop of `iters` calls to about --rep-seconds, then repetitions of that loop (seconds per call).
Cases that build a model also report its "parameters" count (at setup, and standalone), which
run_nn_bench.py checks against tessera's. Modes (one JSON object per line on stdout):
    bench_nn_torch.py [--threads N] [--reps 5] [--filter S]       standalone, every matching case
    bench_nn_torch.py --serve [--threads N]                        "setup NAME" / "rep" / "quit" on stdin
    bench_nn_torch.py --mem NAME [--steps 5]                       max RSS of this process after --steps
                                                                   calls, and right after `import torch`
OMP_WAIT_POLICY must be set before torch is imported, so run_nn_bench.py starts a process per
thread setting:
    OMP_WAIT_POLICY=PASSIVE /usr/bin/python3 bench/bench_nn_torch.py --threads 2
"""
import argparse
import json
import resource
import statistics
import sys
import time


def maxrss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: kilobytes


RSS_BEFORE_IMPORT_MB = maxrss_mb()
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

RSS_AFTER_IMPORT_MB = maxrss_mb()

VOCAB = 1000


def calibrate(body, rep_seconds, warmup_seconds):
    start = time.perf_counter()
    calls, last = 0, 0.0
    while calls < 2 or time.perf_counter() - start < warmup_seconds:
        t0 = time.perf_counter()
        body()
        last = time.perf_counter() - t0
        calls += 1
    return min(1_000_000, max(1, round(rep_seconds / max(last, 1e-9))))


def one_rep(body, iters):
    t0 = time.perf_counter()
    for _ in range(iters):
        body()
    return (time.perf_counter() - t0) / iters


def emit(obj):
    print(json.dumps(obj), flush=True)


# ---------------- the cases ----------------

def mlp_case():
    torch.manual_seed(1)
    net = nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(), nn.Linear(512, 10))
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    x = torch.randn(128, 784)
    y = torch.randint(0, 10, (128,))

    def body():
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(net(x), y)
        loss.backward()
        opt.step()
        return loss.item()

    return body


def mha_case(B, L, E, H):
    torch.manual_seed(2)
    mha = nn.MultiheadAttention(E, H, batch_first=True)
    x = torch.randn(B, L, E, requires_grad=True)

    def body():
        mha.zero_grad(set_to_none=True)
        x.grad = None
        out, _ = mha(x, x, x, need_weights=False)
        loss = out.sum()
        loss.backward()
        return loss.item()

    return body


class Seq2Seq(nn.Module):
    def __init__(self, d_model, nhead, ffn, layers):
        super().__init__()
        self.src_embed = nn.Embedding(VOCAB, d_model)
        self.tgt_embed = nn.Embedding(VOCAB, d_model)
        self.transformer = nn.Transformer(d_model=d_model, nhead=nhead, num_encoder_layers=layers,
                                          num_decoder_layers=layers, dim_feedforward=ffn, dropout=0.1,
                                          batch_first=True)
        self.out = nn.Linear(d_model, VOCAB)

    def forward(self, src, tgt, tgt_mask):
        h = self.transformer(self.src_embed(src), self.tgt_embed(tgt), tgt_mask=tgt_mask)
        return self.out(h)


def transformer_case(d_model, nhead, ffn, layers, batch, length):
    torch.manual_seed(3)
    model = Seq2Seq(d_model, nhead, ffn, layers)
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    src = torch.randint(0, VOCAB, (batch, length))
    tgt = torch.randint(0, VOCAB, (batch, length))
    labels = torch.randint(0, VOCAB, (batch * length,))
    tgt_mask = nn.Transformer.generate_square_subsequent_mask(length)  # causal, additive -inf

    def body():
        opt.zero_grad(set_to_none=True)
        logits = model(src, tgt, tgt_mask).reshape(batch * length, VOCAB)
        loss = F.cross_entropy(logits, labels)
        loss.backward()
        opt.step()
        return loss.item()

    return body


def conv_case(batch, in_channels, out_channels, size, kernel, padding):
    torch.manual_seed(4)
    conv = nn.Conv2d(in_channels, out_channels, kernel, padding=padding)
    x = torch.randn(batch, in_channels, size, size, requires_grad=True)

    def body():
        conv.zero_grad(set_to_none=True)
        x.grad = None
        loss = conv(x).sum()
        loss.backward()
        return loss.item()

    return body, count_parameters(conv)


# The attention CNN of examples/attention_cnn/model.cpp, layer for layer (nn/residual.cpp,
# nn/self_attention2d.cpp): the same convs with and without bias, the same parameter count.
class ResidualBlock(nn.Module):
    def __init__(self, in_channels, out_channels, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.shortcut = None
        if in_channels != out_channels or stride != 1:
            self.shortcut = nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, stride, 0, bias=False),
                                          nn.BatchNorm2d(out_channels))

    def forward(self, x):
        main = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        return F.relu(main + (self.shortcut(x) if self.shortcut is not None else x))


class SelfAttention2d(nn.Module):
    def __init__(self, channels, reduction=8):
        super().__init__()
        self.query_channels = max(1, channels // reduction)
        self.query_conv = nn.Conv2d(channels, self.query_channels, 1)
        self.key_conv = nn.Conv2d(channels, self.query_channels, 1)
        self.value_conv = nn.Conv2d(channels, channels, 1)
        self.gamma = nn.Parameter(torch.zeros(1))

    def forward(self, x):
        b, c, h, w = x.shape
        q = self.query_conv(x).view(b, self.query_channels, h * w)  # [B, C', N]
        k = self.key_conv(x).view(b, self.query_channels, h * w)    # [B, C', N]
        v = self.value_conv(x).view(b, c, h * w)                    # [B, C, N]
        attention = torch.softmax(q.transpose(1, 2) @ k, dim=-1)    # [B, N, N]
        o = v @ attention.transpose(1, 2)                           # [B, C, N]
        return self.gamma * o.view(b, c, h, w) + x


class AttentionCNN(nn.Module):
    def __init__(self, in_channels, widths, num_classes=10, blocks_per_stage=1):
        super().__init__()
        self.stem_conv = nn.Conv2d(in_channels, widths[0], 3, padding=1, bias=False)
        self.stem_norm = nn.BatchNorm2d(widths[0])
        self.blocks = nn.ModuleList()
        for stage in range(1, len(widths)):
            for b in range(blocks_per_stage):
                self.blocks.append(ResidualBlock(widths[stage - 1] if b == 0 else widths[stage], widths[stage],
                                                 2 if b == 0 else 1))
        self.attention = SelfAttention2d(widths[-1])
        self.classifier = nn.Linear(widths[-1], num_classes)

    def forward(self, images):
        h = F.relu(self.stem_norm(self.stem_conv(images)))
        for block in self.blocks:
            h = block(h)
        h = self.attention(h)
        h = F.adaptive_avg_pool2d(h, 1).flatten(1)
        return self.classifier(h)


def count_parameters(module):
    return sum(p.numel() for p in module.parameters())


def cnn_train_case(widths, batch, in_channels, image_size):
    """One step of examples/attention_cnn's training: train mode, cross-entropy with label
    smoothing 0.1, AdamW(lr 4e-3, weight decay 5e-4)."""
    torch.manual_seed(5)
    model = AttentionCNN(in_channels, widths)
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=4e-3, weight_decay=5e-4)
    images = torch.randn(batch, in_channels, image_size, image_size)
    labels = torch.randint(0, 10, (batch,))

    def body():
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(images), labels, label_smoothing=0.1)
        loss.backward()
        opt.step()
        return loss.item()

    return body, count_parameters(model)


CASES = [
    ("mlp train 784-512-512-10 b128", mlp_case),
    ("mha fwd+bwd B32 L64 E128 H4", lambda: mha_case(32, 64, 128, 4)),
    ("mha fwd+bwd B8 L512 E512 H8", lambda: mha_case(8, 512, 512, 8)),
    ("transformer train d128 h4 ffn512 2+2 b32 l16", lambda: transformer_case(128, 4, 512, 2, 32, 16)),
    ("transformer train d256 h8 ffn1024 3+3 b64 l24", lambda: transformer_case(256, 8, 1024, 3, 64, 24)),
    ("cnn conv2d 64->64 3x3 (32,64,16,16) fwd+bwd", lambda: conv_case(32, 64, 64, 16, 3, 1)),
    ("cnn train default w16,32,64 (128,1,28,28)", lambda: cnn_train_case([16, 32, 64], 128, 1, 28)),
    ("cnn train classic w64,128,256 (32,3,16,16)", lambda: cnn_train_case([64, 128, 256], 32, 3, 16)),
    ("cnn train classic w64,128,256 (32,3,32,32)", lambda: cnn_train_case([64, 128, 256], 32, 3, 32)),
]


def make_case(make):
    """(body, parameter count or None): the cnn cases return both, the older ones the body."""
    made = make()
    return made if isinstance(made, tuple) else (made, None)


def with_parameters(obj, parameters):
    if parameters is not None:
        obj["parameters"] = parameters
    return obj


def serve(args):
    makers = dict(CASES)
    name, body, iters = None, None, 0
    for line in sys.stdin:
        line = line.rstrip("\n")
        if line == "quit":
            break
        try:
            if line.startswith("setup "):
                name, body = line[len("setup "):], None
                if name not in makers:
                    emit({"case": name, "error": "no such case"})
                    continue
                body, parameters = make_case(makers[name])
                iters = calibrate(body, args.rep_seconds, args.warmup_seconds)
                emit(with_parameters({"case": name, "iters": iters}, parameters))
            elif line == "rep":
                if body is None:
                    emit({"error": "rep before a successful setup"})
                    continue
                emit({"case": name, "rep_s": one_rep(body, iters)})
            else:
                emit({"error": "unknown command"})
        except Exception as e:  # report, keep serving
            emit({"case": name, "error": f"{type(e).__name__}: {e}"})


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=1, help="torch.set_num_threads")
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--rep-seconds", type=float, default=0.3)
    parser.add_argument("--warmup-seconds", type=float, default=0.2)
    parser.add_argument("--filter", default="")
    parser.add_argument("--list", action="store_true")
    parser.add_argument("--serve", action="store_true")
    parser.add_argument("--mem", metavar="CASE")
    parser.add_argument("--steps", type=int, default=5)
    args = parser.parse_args()
    if args.list:
        for name, _ in CASES:
            print(name)
        return
    torch.set_num_threads(args.threads)

    if args.mem:
        makers = dict(CASES)
        if args.mem not in makers:
            emit({"case": args.mem, "error": "no such case"})
            sys.exit(1)
        body, _ = make_case(makers[args.mem])
        for _ in range(args.steps):
            body()
        emit({"case": args.mem, "impl": "torch", "maxrss_mb": maxrss_mb(), "after_import_mb": RSS_AFTER_IMPORT_MB,
              "before_import_mb": RSS_BEFORE_IMPORT_MB})
        return

    emit({"meta": {"impl": "torch", "version": torch.__version__, "threads": torch.get_num_threads()}})
    if args.serve:
        serve(args)
        return
    for name, make in CASES:
        if args.filter and args.filter not in name:
            continue
        try:
            body, parameters = make_case(make)
            iters = calibrate(body, args.rep_seconds, args.warmup_seconds)
            reps = [one_rep(body, iters) for _ in range(args.reps)]
            emit(with_parameters({"case": name, "impl": "torch", "median_s": statistics.median(reps), "reps_s": reps,
                                  "iters": iters}, parameters))
        except Exception as e:
            emit({"case": name, "impl": "torch", "error": f"{type(e).__name__}: {e}"})


if __name__ == "__main__":
    main()
