#!/usr/bin/python3
"""tools/safetensors_interop.py — do tessera's safetensors files mean the same to PyTorch and NumPy?

  (a) tessera -> Python: `safetensors_tool sample` writes a checkpoint through nn::save_safetensors;
      this script reads it twice, with NumPy alone and with torch.frombuffer, and checks the values
      (a ramp, a rank-0 and an empty tensor, 0/-0/inf/-inf/nan/subnormal/max) bit for bit, then
      loads the Linear layer in it into torch.nn.Linear and checks torch computes the output
      tessera stored;
  (b) PyTorch -> tessera: writes F32, F64, F16 and BF16 tensors (plus rank 0, empty, an
      nn.Linear state_dict and metadata) from torch, in an order unlike tessera's, and checks that
      `safetensors_tool dump` (nn::load_safetensors) gives every value torch's .float() gives;
  (c) files the spec forbids (an I64 tensor, a duplicate name, a hole in the data) are refused
      with an error naming the tensor.

Run from the repository root after building the tool (`ninja -C build tools/safetensors_tool`):
  /usr/bin/python3 tools/safetensors_interop.py [--tool build/tools/safetensors_tool] [--keep DIR]
Not part of ./run test: it needs PyTorch (Debian's python3-torch). Debian has no python3-safetensors,
so the format is read and written here by hand, per the spec (docs/checkpoints.md).
"""
import argparse
import json
import math
import os
import struct
import subprocess
import sys
import tempfile

import numpy as np
import torch

NUMPY_DTYPES = {"F32": "<f4", "F64": "<f8", "F16": "<f2"}
TORCH_DTYPES = {"F32": torch.float32, "F64": torch.float64, "F16": torch.float16, "BF16": torch.bfloat16}
DTYPE_NAMES = {v: k for k, v in TORCH_DTYPES.items()}

checks = {"passed": 0, "failed": 0}


def check(condition, what):
    checks["passed" if condition else "failed"] += 1
    print(("ok     " if condition else "FAILED ") + what)


# ---- the format by hand ----
def read_header(path):
    """(header dict, metadata dict, data bytes), refusing duplicate keys like tessera does."""
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])

    def no_duplicates(pairs):
        keys = [k for k, _ in pairs]
        assert len(keys) == len(set(keys)), f"duplicate keys in {keys}"
        return dict(pairs)

    header = json.loads(raw[8:8 + n].decode("utf-8"), object_pairs_hook=no_duplicates)
    metadata = header.pop("__metadata__", {}) or {}
    return n, header, metadata, raw[8 + n:]


def read_numpy(path):
    """NumPy only: {name: array}. BF16 is the top half of a float32."""
    _, header, metadata, data = read_header(path)
    arrays = {}
    for name, entry in header.items():
        begin, end = entry["data_offsets"]
        chunk = data[begin:end]
        if entry["dtype"] == "BF16":
            array = (np.frombuffer(chunk, "<u2").astype("<u4") << 16).view("<f4")
        else:
            array = np.frombuffer(chunk, NUMPY_DTYPES[entry["dtype"]])
        arrays[name] = array.reshape(entry["shape"])
    return arrays, metadata


def read_torch(path):
    """torch.frombuffer over the same bytes: {name: tensor}."""
    _, header, _, data = read_header(path)
    tensors = {}
    for name, entry in header.items():
        begin, end = entry["data_offsets"]
        dtype = TORCH_DTYPES[entry["dtype"]]
        if end == begin:
            tensors[name] = torch.empty(entry["shape"], dtype=dtype)
        else:
            tensors[name] = torch.frombuffer(bytearray(data[begin:end]), dtype=dtype).reshape(entry["shape"])
    return tensors


def write_file(path, header, data):
    """8-byte little-endian size, the header padded with spaces to a multiple of 8, the data."""
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + data)


def write_torch(path, tensors, metadata):
    """Writes torch tensors: data in the dict's order, header keys in reverse name order and
    __metadata__ last — any order is valid, and tessera must not depend on its own."""
    entries, data = {}, b""
    for name, t in tensors.items():
        t = t.detach().contiguous()
        raw = t.view(torch.int16).numpy().tobytes() if t.dtype in (torch.float16, torch.bfloat16) else t.numpy().tobytes()
        entries[name] = {"dtype": DTYPE_NAMES[t.dtype], "shape": list(t.shape),
                         "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    header = {name: entries[name] for name in sorted(entries, reverse=True)}
    header["__metadata__"] = metadata
    write_file(path, header, data)


def same_floats(got, want):
    """Bit-for-bit equal float32 arrays, except that any NaN matches any NaN."""
    got = np.asarray(got, dtype=np.float32).ravel()
    want = np.asarray(want, dtype=np.float32).ravel()
    if got.shape != want.shape:
        return False
    nan = np.isnan(want)
    return bool(np.array_equal(np.isnan(got), nan) and
                np.array_equal(got[~nan].view(np.uint32), want[~nan].view(np.uint32)))


def run_tool(tool, *args):
    return subprocess.run([tool, *args], capture_output=True, text=True)


# ---- (a) tessera -> NumPy and PyTorch ----
def tessera_to_python(tool, workdir):
    path = os.path.join(workdir, "from_tessera.safetensors")
    result = run_tool(tool, "sample", path)
    check(result.returncode == 0, f"(a) safetensors_tool sample wrote {path}" + (f": {result.stderr.strip()}" if result.stderr else ""))
    n, header, metadata, data = read_header(path)
    check(n % 8 == 0, f"(a) header size {n} is a multiple of 8 (the data is 8-byte aligned)")
    check(metadata == {"format": "pt", "producer": "tessera safetensors_tool"}, f"(a) metadata {metadata}")
    check(all(e["dtype"] == "F32" for e in header.values()), "(a) every tensor is F32")
    spans = sorted(tuple(e["data_offsets"]) for e in header.values())
    check(spans[0][0] == 0 and all(a[1] == b[0] for a, b in zip(spans, spans[1:])) and spans[-1][1] == len(data),
          f"(a) the data_offsets tile the {len(data)}-byte data section")

    arrays, _ = read_numpy(path)
    tensors = read_torch(path)
    ramp = (np.arange(6, dtype=np.float64) * 0.25 - 0.5).astype(np.float32).reshape(2, 3)
    check(arrays["ramp"].shape == (2, 3) and same_floats(arrays["ramp"], ramp), "(a) numpy: ramp [2, 3]")
    check(arrays["scalar"].shape == () and arrays["scalar"] == np.float32(3.25), "(a) numpy: rank-0 scalar = 3.25")
    check(arrays["empty"].shape == (0, 4), "(a) numpy: empty tensor of shape (0, 4)")
    special = np.array([0.0, -0.0, math.inf, -math.inf, math.nan, 1e-40, np.finfo(np.float32).max, -1.5],
                       dtype=np.float32)
    check(same_floats(arrays["special"], special) and np.signbit(arrays["special"][1]),
          "(a) numpy: 0, -0, inf, -inf, nan, subnormal 1e-40, float32 max, -1.5 bit for bit")
    check(all(same_floats(tensors[name].numpy(), arrays[name]) and tuple(tensors[name].shape) == arrays[name].shape
              for name in arrays), "(a) torch.frombuffer reads the same values as numpy")

    linear = torch.nn.Linear(3, 2)
    linear.load_state_dict({"weight": tensors["linear.weight"], "bias": tensors["linear.bias"]}, strict=True)
    with torch.no_grad():
        out = linear(tensors["ramp"])
    diff = (out - tensors["linear_output"]).abs().max().item()
    check(diff <= 1e-6, f"(a) torch.nn.Linear with tessera's weights reproduces tessera's output "
                        f"(max abs diff {diff:.2e})")

    dumped = json.loads(run_tool(tool, "dump", path).stdout)
    check(all(same_floats([float(v) for v in t["values"]], arrays[t["name"]]) for t in dumped["tensors"]),
          "(a) tessera reads back what numpy reads")


# ---- (b) PyTorch -> tessera ----
def python_to_tessera(tool, workdir):
    path = os.path.join(workdir, "from_torch.safetensors")
    gen = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    tensors = {
        "f32": torch.randn(3, 4, generator=gen),
        "f64": torch.tensor([0.1, -1e300, 1e-320, 2.0 ** 0.5], dtype=torch.float64),
        "f16": torch.tensor([1, -2, 65504, 2.0 ** -24, -0.0, math.inf, math.nan, 0.1], dtype=torch.float16),
        "bf16": torch.randn(2, 3, generator=gen).to(torch.bfloat16),
        "scalar": torch.tensor(7.5),
        "empty": torch.zeros(0, 3),
        **{f"linear.{k}": v for k, v in torch.nn.Linear(4, 2).state_dict().items()},
    }
    metadata = {"format": "pt", "written_by": "safetensors_interop.py", "ünïcödé": "名前"}
    write_torch(path, tensors, metadata)
    print(f"       wrote {path}: {', '.join(f'{k} {DTYPE_NAMES[v.dtype]} {list(v.shape)}' for k, v in tensors.items())}")

    result = run_tool(tool, "dump", path)
    check(result.returncode == 0, "(b) tessera loads the file torch wrote" + (f": {result.stderr.strip()}" if result.stderr else ""))
    if result.returncode != 0:
        return
    dumped = json.loads(result.stdout)
    check(dumped["metadata"] == metadata, "(b) metadata, including non-ASCII text, survives")
    order = [t["name"] for t in dumped["tensors"]]
    check(order == [k for k, v in tensors.items()], f"(b) tessera returns the tensors in data order {order}")
    for t in dumped["tensors"]:
        want = tensors[t["name"]]
        got = np.array([float(v) for v in t["values"]], dtype=np.float32)
        check(t["dtype"] == DTYPE_NAMES[want.dtype] and t["shape"] == list(want.shape)
              and same_floats(got, want.float().numpy()),
              f"(b) {t['name']}: {t['dtype']} {t['shape']} converts to float32 exactly as torch's .float()")


# ---- (c) what the spec forbids ----
def forbidden_files(tool, workdir):
    one = struct.pack("<f", 1.0)
    cases = [
        ("an I64 tensor", {"step": {"dtype": "I64", "shape": [], "data_offsets": [0, 8]}}, b"\0" * 8,
         "tensor 'step': dtype 'I64' is not supported"),
        ("a hole in the data", {"a": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}}, one * 2,
         "leave bytes [0, 4) of the data section unused"),
    ]
    for what, header, data, needle in cases:
        path = os.path.join(workdir, "forbidden.safetensors")
        write_file(path, header, data)
        result = run_tool(tool, "dump", path)
        check(result.returncode == 1 and needle in result.stderr, f"(c) {what} is refused: {result.stderr.strip()}")
    # json.dumps cannot write a duplicate key, so the header is spelled out.
    path = os.path.join(workdir, "duplicate.safetensors")
    text = b'{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}'
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + one)
    result = run_tool(tool, "dump", path)
    check(result.returncode == 1 and "the name 'w' appears twice" in result.stderr,
          f"(c) a duplicate name is refused: {result.stderr.strip()}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tool", default="build/tools/safetensors_tool")
    parser.add_argument("--keep", help="write the files into this directory and keep them")
    args = parser.parse_args()
    if not os.access(args.tool, os.X_OK):
        sys.exit(f"safetensors_interop: no tool at {args.tool}: build it with `ninja -C build tools/safetensors_tool` "
                 "or pass --tool")
    print(f"torch {torch.__version__}, numpy {np.__version__}, tool {args.tool}")
    with tempfile.TemporaryDirectory() as tmp:
        workdir = args.keep or tmp
        os.makedirs(workdir, exist_ok=True)
        tessera_to_python(args.tool, workdir)
        python_to_tessera(args.tool, workdir)
        forbidden_files(args.tool, workdir)
    print(f"{checks['passed']} passed, {checks['failed']} failed")
    sys.exit(1 if checks["failed"] else 0)


if __name__ == "__main__":
    main()
