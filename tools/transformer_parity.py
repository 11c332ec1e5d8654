#!/usr/bin/python3
"""tools/transformer_parity.py — does tessera's Transformer compute what torch.nn.Transformer does?

For post-norm and pre-norm (norm_first=True) in turn:
  1. builds torch.nn.Transformer(d_model=32, nhead=4, 2 encoder + 2 decoder layers, ffn 64,
     dropout 0, batch_first=True) with a fixed seed, in eval mode;
  2. runs it on fixed random src [3, 7, 32] / tgt [3, 5, 32] with a causal tgt mask (PyTorch's
     float mask, -inf above the diagonal) and key padding masks for the source (also used as the
     memory mask) and the target (PyTorch's bool masks, True = padding);
  3. writes the state_dict to <tag>.weights.safetensors and the inputs, masks and output to
     <tag>.io.safetensors (the model's options go in the io file's __metadata__);
  4. runs build/tools/transformer_parity, which loads both files through nn/safetensors.h, builds
     tessera's Transformer with the same options, load_state_dict (strict), converts the masks to
     tessera's one convention (keep = 1 - padding; -inf -> 0) and prints the max abs difference;
     it fails when the difference exceeds 1e-4.

Run from the repository root after building (`ninja -C build tools/transformer_parity`):
  /usr/bin/python3 tools/transformer_parity.py [--tool build/tools/transformer_parity] [--keep DIR]
Not part of ./run test: it needs PyTorch (Debian's python3-torch).

The safetensors files are written by hand (python3-safetensors is not packaged here): 8 bytes of
little-endian header length, a JSON header {name: {dtype, shape, data_offsets}}, then the raw
little-endian data. The masks are stored as F32 (tessera's reader takes float dtypes only): the
bool padding masks as 1.0 = padding, exactly PyTorch's meaning, and the tgt mask with its -inf.
"""
import argparse
import json
import os
import struct
import subprocess
import sys
import tempfile

import torch

D_MODEL, NHEAD, LAYERS, FFN = 32, 4, 2, 64
BATCH, SRC_LEN, TGT_LEN = 3, 7, 5
SRC_LENGTHS = [7, 5, 3]  # real tokens per source sequence, the rest padding
TGT_LENGTHS = [5, 4, 2]


def save_safetensors(path, tensors, metadata=None):
    """Writes {name: float tensor} as F32 safetensors (header padded to 8 bytes, like the reference)."""
    header, chunks, offset = {}, [], 0
    if metadata:
        header["__metadata__"] = {k: str(v) for k, v in metadata.items()}
    for name, t in tensors.items():
        data = t.detach().to(torch.float32).contiguous().numpy().astype("<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        chunks.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for c in chunks:
            f.write(c)
    os.replace(tmp, path)


def padding(lengths, length):
    """PyTorch's key padding mask: True where the position is padding."""
    return torch.arange(length)[None, :] >= torch.tensor(lengths)[:, None]


def make_case(norm_first, directory):
    torch.manual_seed(1234)
    model = torch.nn.Transformer(d_model=D_MODEL, nhead=NHEAD, num_encoder_layers=LAYERS,
                                 num_decoder_layers=LAYERS, dim_feedforward=FFN, dropout=0.0,
                                 batch_first=True, norm_first=norm_first)
    model.eval()
    src = torch.randn(BATCH, SRC_LEN, D_MODEL)
    tgt = torch.randn(BATCH, TGT_LEN, D_MODEL)
    tgt_mask = model.generate_square_subsequent_mask(TGT_LEN)  # float: 0 on and below the diagonal, -inf above
    src_pad, tgt_pad = padding(SRC_LENGTHS, SRC_LEN), padding(TGT_LENGTHS, TGT_LEN)
    # Grad mode stays on (the parameters require grad), so PyTorch takes its reference path rather
    # than the eval fast path with nested tensors; the outputs are detached when saved.
    out = model(src, tgt, tgt_mask=tgt_mask, src_key_padding_mask=src_pad,
                tgt_key_padding_mask=tgt_pad, memory_key_padding_mask=src_pad)
    assert torch.isfinite(out).all()
    tag = "pre_norm" if norm_first else "post_norm"
    weights = os.path.join(directory, tag + ".weights.safetensors")
    io = os.path.join(directory, tag + ".io.safetensors")
    save_safetensors(weights, model.state_dict())
    save_safetensors(io, {
        "src": src, "tgt": tgt, "tgt_mask": tgt_mask,
        "src_key_padding_mask": src_pad.float(), "tgt_key_padding_mask": tgt_pad.float(),
        "output": out,
    }, metadata={
        "d_model": D_MODEL, "nhead": NHEAD, "num_encoder_layers": LAYERS, "num_decoder_layers": LAYERS,
        "dim_feedforward": FFN, "activation": "relu", "layer_norm_eps": 1e-5,
        "norm_first": int(norm_first), "torch": torch.__version__,
    })
    return tag, weights, io


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tool", default="build/tools/transformer_parity", help="the C++ tool")
    parser.add_argument("--keep", help="write the files to this directory and keep them")
    parser.add_argument("--tolerance", default="1e-4")
    args = parser.parse_args()
    if not os.path.exists(args.tool):
        sys.exit(f"transformer_parity.py: {args.tool} not found; build it first "
                 f"(ninja -C build tools/transformer_parity) or pass --tool PATH")
    with tempfile.TemporaryDirectory() as scratch:
        directory = args.keep or scratch
        os.makedirs(directory, exist_ok=True)
        failed = False
        for norm_first in (False, True):
            tag, weights, io = make_case(norm_first, directory)
            result = subprocess.run([args.tool, weights, io, args.tolerance])
            failed = failed or result.returncode != 0
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
