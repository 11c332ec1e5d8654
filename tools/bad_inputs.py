#!/usr/bin/env python3
"""Calls every subcommand of both example programs with bad inputs (issue 13, part 3) and checks
that each ends with one clear message and a non-zero exit status: never a crash (a signal, an
abort, a sanitizer report, "terminate called"), never a hang (60 s), never silence.

  tools/bad_inputs.py build/examples/translator/translator build/examples/attention_cnn/attention_cnn
  tools/bad_inputs.py TRANSLATOR ATTENTION_CNN --table docs/reliability.md   # also rewrite the table there

./run test runs it (tests/meson.build registers it). The inputs: missing, empty, truncated,
garbage and wrong-kind files (the other program's checkpoint, a vocabulary from another model), a
directory where a file is expected and a file where a directory is, numbers out of range or not
numbers, unwritable output directories, invalid UTF-8, a NUL byte, a 10 MB line and an empty stdin.
attention_cnn runs on a tiny generated Fashion-MNIST (--data-dir), so the real data set is not needed.
"""
import concurrent.futures
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import json

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import program_checks as pc  # noqa: E402

TIMEOUT = 60
CRASH_MARKERS = ("terminate called", "Segmentation fault", "Sanitizer", "runtime error:", "Aborted", "core dumped",
                 "what():", "Assertion")
TABLE_START = "## 3. Bad inputs, all tried"


def make_fixtures(work, translator, cnn):
    """Small real checkpoints of both programs and the broken files derived from them."""
    f = {"W": work}
    data = os.path.join(work, "fashion")
    pc.write_tiny_fashion_mnist(data)
    f["DATA"] = data
    f["TR"] = os.path.join(work, "tr", "model.safetensors")
    f["CNN"] = os.path.join(work, "cnn", "model.safetensors")
    for command in ([translator, "--threads", "1"] + pc.TRANSLATOR_TINY + ["--out", os.path.dirname(f["TR"])],
                    [translator, "--threads", "1"] + [("300" if a == "600" else a) for a in pc.TRANSLATOR_TINY] +
                    ["--out", os.path.join(work, "tr_other")],
                    [cnn, "--threads", "1", "--data-dir", data, "--checkpoint", f["CNN"]] + pc.CNN_TINY):
        done = subprocess.run(command, capture_output=True, text=True, timeout=300)
        if done.returncode != 0:
            sys.exit(f"bad_inputs: making a fixture failed: {' '.join(command)}\n{done.stderr[-2000:]}")
    raw = open(f["TR"], "rb").read()

    def write(name, data_bytes):
        path = os.path.join(work, name)
        with open(path, "wb") as out:
            out.write(data_bytes)
        return path

    f["EMPTY"] = write("empty.safetensors", b"")
    f["TRUNC"] = write("truncated.safetensors", raw[: len(raw) // 2])
    f["GARBAGE"] = write("garbage.safetensors", bytes((i * 7919) % 251 for i in range(5000)))
    # the tiny model's checkpoint with the source vocabulary of another model (fewer sentences)
    header, body, metadata = pc.read_safetensors(f["TR"])
    _, _, other = pc.read_safetensors(os.path.join(work, "tr_other", "model.safetensors"))
    metadata = dict(metadata, source_vocab=other["source_vocab"])
    text = json.dumps(dict(header, __metadata__=metadata), separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    f["FOREIGN_VOCAB"] = write("foreign_vocab.safetensors", struct.pack("<Q", len(text)) + text + body)
    # the other program's checkpoint where a run directory's model.safetensors is expected
    os.makedirs(os.path.join(work, "cnn_as_tr"))
    shutil.copy(f["CNN"], os.path.join(work, "cnn_as_tr", "model.safetensors"))
    f["CNN_AS_TR_DIR"] = os.path.join(work, "cnn_as_tr")
    f["DIR"] = os.path.join(work, "a_directory")
    os.makedirs(f["DIR"])
    f["FILE"] = write("a_file", b"not a directory\n")
    f["RO"] = os.path.join(work, "read_only")
    os.makedirs(f["RO"])
    os.chmod(f["RO"], 0o555)
    if os.geteuid() == 0:  # root writes anywhere a mode allows nothing: a read-only mount instead
        subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=64k", "tmpfs", f["RO"]], capture_output=True)
    f["BAD_UTF8_TSV"] = write("bad_utf8.tsv", b"I am a student.\tje suis \xe9tudiant.\n" * 40)
    f["NUL_TSV"] = write("nul.tsv", b"I am\x00 a student.\tje suis \xc3\xa9tudiant.\n" * 40)
    f["NO_TAB_TSV"] = write("no_tab.tsv", b"I am a student. je suis etudiant.\n" * 40)
    f["HYP"] = write("hyp.txt", b"je suis etudiant .\nil est grand .\n")
    f["REF3"] = write("ref3.txt", b"je suis etudiant .\nil est grand .\nelle est petite .\n")
    f["BAD_UTF8_TXT"] = write("bad_utf8.txt", b"je suis \xff\xfe .\nil est grand .\n")
    # attention_cnn data directories: missing files, a truncated archive, labels where images belong
    f["EMPTY_DIR"] = os.path.join(work, "empty_dir")
    os.makedirs(f["EMPTY_DIR"])
    for name in ("truncated_data", "wrong_kind_data"):
        shutil.copytree(data, os.path.join(work, name))
        f[name.upper()] = os.path.join(work, name)
    images = os.path.join(f["TRUNCATED_DATA"], "train-images-idx3-ubyte.gz")
    blob = open(images, "rb").read()
    open(images, "wb").write(blob[: len(blob) // 2])
    shutil.copy(os.path.join(data, "train-labels-idx1-ubyte.gz"),
                os.path.join(f["WRONG_KIND_DATA"], "train-images-idx3-ubyte.gz"))
    return f


def cases():
    """(program, arguments, stdin bytes or None, what the input is). {NAME} is a fixture path."""
    T, C = "translator", "attention_cnn"
    tr_ckpt = ["--checkpoint", "{TR}"]
    data = ["--data-dir", "{DATA}"]
    out = []
    # ---- translator: numbers, for every command that takes them
    for cmd in ("demo", "train", "export"):
        out += [(T, [cmd, "--epochs", "-1"], None, "--epochs -1"),
                (T, [cmd, "--batch-size", "0"], None, "--batch-size 0"),
                (T, [cmd, "--lr", "nan"], None, "--lr nan")]
    out += [
        (T, ["train", "--epochs", "abc"], None, "--epochs abc (not a number)"),
        (T, ["train", "--lr", "-1"], None, "--lr -1"),
        (T, ["train", "--lr", "inf"], None, "--lr inf"),
        (T, ["train", "--warmup", "0"], None, "--warmup 0"),
        (T, ["train", "--label-smoothing", "1.5"], None, "--label-smoothing 1.5"),
        (T, ["train", "--clip", "-1"], None, "--clip -1"),
        (T, ["train", "--clip", "nan"], None, "--clip nan"),
        (T, ["train", "--eval-sentences", "-1"], None, "--eval-sentences -1"),
        (T, ["train", "--d-model", "0"], None, "--d-model 0"),
        (T, ["train", "--heads", "3"], None, "--heads 3 (128 not divisible by 3)"),
        (T, ["train", "--dropout", "1.5"], None, "--dropout 1.5"),
        (T, ["train", "--max-length", "1"], None, "--max-length 1"),
        (T, ["train", "--ffn", "-4"], None, "--ffn -4"),
        (T, ["train", "--encoder-layers", "0"], None, "--encoder-layers 0"),
        (T, ["train", "--linformer-k", "-1"], None, "--linformer-k -1"),
        (T, ["train", "--bundled-pairs", "0"], None, "--bundled-pairs 0"),
        (T, ["train", "--bundled-pairs", "-5"], None, "--bundled-pairs -5"),
        (T, ["train", "--min-freq", "0"], None, "--min-freq 0"),
        (T, ["train", "--subwords", "-5"], None, "--subwords -5"),
        (T, ["train", "--seed", "-1"], None, "--seed -1"),
        (T, ["--threads", "-1", "train"], None, "--threads -1"),
        (T, ["--threads", "100000", "train"], None, "--threads 100000"),
        # ---- translator train: data files
        (T, ["train", "--data", "{W}/missing.tsv"], None, "--data: a missing file"),
        (T, ["train", "--data", "{EMPTY}"], None, "--data: an empty file"),
        (T, ["train", "--data", "{DIR}"], None, "--data: a directory"),
        (T, ["train", "--data", "{BAD_UTF8_TSV}"], None, "--data: invalid UTF-8"),
        (T, ["train", "--data", "{NUL_TSV}"], None, "--data: a NUL byte"),
        (T, ["train", "--data", "{NO_TAB_TSV}"], None, "--data: lines without a tab"),
        (T, ["train", "--data", "{GARBAGE}"], None, "--data: binary garbage"),
        # ---- translator train: output directories and resuming
        (T, ["train", "--out", "{RO}/run"], None, "--out: an unwritable directory"),
        (T, ["train", "--out", "{FILE}"], None, "--out: a file, not a directory"),
        (T, ["train", "--out", "{FILE}/run"], None, "--out: below a file"),
        (T, ["train", "--out", "{W}/nothing_here", "--resume"], None, "--resume without a checkpoint"),
        (T, ["train", "--out", "{CNN_AS_TR_DIR}", "--resume"], None, "--resume from attention_cnn's checkpoint"),
        (T, ["export", "--out", "{RO}/export"], None, "export --out: an unwritable directory"),
        (T, ["prepare", "--dir", "{RO}/pairs"], None, "prepare --dir: an unwritable directory"),
    ]
    # ---- translator: every command that reads a checkpoint, with every bad checkpoint
    readers = [("translate", ["I am a student."]), ("eval", []), ("attention", ["I am a student."]), ("heads", []),
               ("explain", ["I am a student."])]
    bad_checkpoints = [("{W}/missing.safetensors", "a missing checkpoint"), ("{EMPTY}", "an empty checkpoint"),
                       ("{TRUNC}", "a truncated checkpoint"), ("{GARBAGE}", "a garbage checkpoint"),
                       ("{DIR}", "a directory as checkpoint"), ("{CNN}", "attention_cnn's checkpoint"),
                       ("{FOREIGN_VOCAB}", "a vocabulary from another model")]
    for cmd, args in readers:
        for path, what in bad_checkpoints:
            out.append((T, [cmd, "--checkpoint", path] + args, None, what))
    out += [
        (T, ["translate", "--beam", "0"] + tr_ckpt + ["I am a student."], None, "--beam 0"),
        (T, ["translate", "--beam", "-3"] + tr_ckpt + ["I am a student."], None, "--beam -3"),
        (T, ["translate", "--length-penalty", "nan"] + tr_ckpt + ["I am a student."], None, "--length-penalty nan"),
        (T, ["translate"] + tr_ckpt + ["I am \xe9".encode("latin-1").decode("utf-8", "surrogateescape")], None,
         "an argument that is not UTF-8"),
        (T, ["translate"] + tr_ckpt + [""], None, "an empty argument"),
        (T, ["translate"] + tr_ckpt, b"I am a student.\nje suis \xe9tudiant\n", "stdin: invalid UTF-8"),
        (T, ["translate"] + tr_ckpt, b"I am\x00 a student.\n", "stdin: a NUL byte"),
        (T, ["translate"] + tr_ckpt, b"I am a student. " * (10 * 1024 * 1024 // 16) + b"\n", "stdin: a 10 MB line"),
        (T, ["translate"] + tr_ckpt, b"", "stdin: empty"),
        (T, ["translate"] + tr_ckpt, b"\n\n", "stdin: only empty lines"),
        (T, ["eval", "--beam", "0"] + tr_ckpt, None, "eval --beam 0"),
        (T, ["eval", "--samples", "-1"] + tr_ckpt, None, "eval --samples -1"),
        (T, ["eval", "--performer", "-1"] + tr_ckpt, None, "eval --performer -1"),
        (T, ["eval", "--data", "{W}/missing.tsv"] + tr_ckpt, None, "eval --data: a missing file"),
        (T, ["attention"] + tr_ckpt + [""], None, "attention: an empty sentence"),
        (T, ["attention", "--beam", "0"] + tr_ckpt + ["I am a student."], None, "attention --beam 0"),
        (T, ["heads", "--clusters", "0"] + tr_ckpt, None, "heads --clusters 0"),
        (T, ["heads", "--sentences", "0"] + tr_ckpt, None, "heads --sentences 0"),
        (T, ["explain", "--steps", "1"] + tr_ckpt + ["I am a student."], None, "explain --steps 1"),
        (T, ["explain", "--weight", "x"] + tr_ckpt + ["I am a student."], None, "explain --weight x"),
        (T, ["explain", "--weight", "99,99"] + tr_ckpt + ["I am a student."], None, "explain --weight 99,99"),
        (T, ["explain"] + tr_ckpt + ["\xff".encode("latin-1").decode("utf-8", "surrogateescape")], None,
         "explain: a sentence that is not UTF-8"),
        (T, ["score", "{W}/missing.txt", "{HYP}"], None, "score: a missing file"),
        (T, ["score", "{DIR}", "{HYP}"], None, "score: a directory"),
        (T, ["score", "{HYP}", "{REF3}"], None, "score: different line counts"),
        (T, ["score", "{BAD_UTF8_TXT}", "{BAD_UTF8_TXT}"], None, "score: invalid UTF-8"),
        (T, [], None, "no command"),
        (T, ["fly"], None, "an unknown command"),
        (T, ["train", "--no-such-flag"], None, "an unknown flag"),
    ]
    # ---- attention_cnn
    for cmd, extra in (("train", []), ("eval", []), ("attention", []), ("explain", [])):
        out += [(C, [cmd] + data + ["--checkpoint", path] + extra + (["--resume"] if cmd == "train" else []), None,
                 what.replace("attention_cnn's", "translator's"))
                for path, what in bad_checkpoints[:5] + [("{TR}", "attention_cnn's checkpoint")]]
    out += [
        (C, ["train", "--epochs", "-1"] + data, None, "--epochs -1"),
        (C, ["train", "--epochs", "abc"] + data, None, "--epochs abc (not a number)"),
        (C, ["train", "--batch-size", "0"] + data, None, "--batch-size 0"),
        (C, ["train", "--lr", "nan"] + data, None, "--lr nan"),
        (C, ["train", "--lr", "-1"] + data, None, "--lr -1"),
        (C, ["train", "--weight-decay", "nan"] + data, None, "--weight-decay nan"),
        (C, ["train", "--warmup", "1.5"] + data, None, "--warmup 1.5"),
        (C, ["train", "--label-smoothing", "nan"] + data, None, "--label-smoothing nan"),
        (C, ["train", "--optimizer", "rmsprop"] + data, None, "--optimizer rmsprop"),
        (C, ["train", "--crop-padding", "20"] + data, None, "--crop-padding 20"),
        (C, ["train", "--limit", "-5"] + data, None, "--limit -5"),
        (C, ["train", "--stop-after", "-1"] + data, None, "--stop-after -1"),
        (C, ["train", "--widths", "0,8"] + data, None, "--widths 0,8"),
        (C, ["train", "--widths", "8"] + data, None, "--widths 8 (one stage)"),
        (C, ["train", "--blocks", "0"] + data, None, "--blocks 0"),
        (C, ["--threads", "-1", "train"] + data, None, "--threads -1"),
        (C, ["train", "--data-dir", "{W}/missing"], None, "--data-dir: a missing directory"),
        (C, ["train", "--data-dir", "{EMPTY_DIR}"], None, "--data-dir: no data files"),
        (C, ["train", "--data-dir", "{FILE}"], None, "--data-dir: a file"),
        (C, ["train", "--data-dir", "{TRUNCATED_DATA}"], None, "--data-dir: a truncated images file"),
        (C, ["train", "--data-dir", "{WRONG_KIND_DATA}"], None, "--data-dir: labels where images belong"),
        (C, ["train"] + data + ["--checkpoint", "{RO}/run/model.safetensors"], None,
         "--checkpoint in an unwritable directory"),
        (C, ["train"] + data + ["--checkpoint", "{FILE}/model.safetensors"], None, "--checkpoint below a file"),
        (C, ["train"] + data + ["--checkpoint", "{DIR}"], None, "--checkpoint: a directory (train)"),
        (C, ["eval", "--split", "validation"] + data + ["--checkpoint", "{CNN}"], None, "eval --split validation"),
        (C, ["eval", "--limit", "-1"] + data + ["--checkpoint", "{CNN}"], None, "eval --limit -1"),
        (C, ["attention", "--images", "99999"] + data + ["--checkpoint", "{CNN}"], None, "attention --images 99999"),
        (C, ["attention", "--images", "-1"] + data + ["--checkpoint", "{CNN}"], None, "attention --images -1"),
        (C, ["attention", "--count", "0"] + data + ["--checkpoint", "{CNN}"], None, "attention --count 0"),
        (C, ["attention", "--count", "11"] + data + ["--checkpoint", "{CNN}"], None, "attention --count 11"),
        (C, ["attention", "--queries", "x"] + data + ["--checkpoint", "{CNN}"], None, "attention --queries x"),
        (C, ["attention", "--queries", "99,99"] + data + ["--checkpoint", "{CNN}"], None, "attention --queries 99,99"),
        (C, ["attention", "--out", "{RO}/a.svg"] + data + ["--checkpoint", "{CNN}"], None,
         "attention --out: an unwritable directory"),
        (C, ["attention", "--out", "{DIR}"] + data + ["--checkpoint", "{CNN}"], None, "attention --out: a directory"),
        (C, ["explain", "--images", "0"] + data + ["--checkpoint", "{CNN}"], None, "explain --images 0"),
        (C, ["explain", "--steps", "1"] + data + ["--checkpoint", "{CNN}"], None, "explain --steps 1"),
        (C, ["explain", "--indices", "99999"] + data + ["--checkpoint", "{CNN}"], None, "explain --indices 99999"),
        (C, ["explain", "--out", "{RO}/e.svg"] + data + ["--checkpoint", "{CNN}"], None,
         "explain --out: an unwritable directory"),
        (C, [], None, "no command"),
        (C, ["fly"], None, "an unknown command"),
    ]
    return out


def message_of(stderr):
    """The line that explains the failure: the `error:` line, else the first non-empty one."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error:")]
    message = (errors[0] if errors else lines[0]) if lines else ""
    if message.endswith(":") and lines.index(message) + 1 < len(lines):  # a list follows: its first item
        message += " " + lines[lines.index(message) + 1]
    return message, len(errors)


def run_case(programs, fixtures, case):
    program, args, stdin, what = case
    argv = [programs[program]] + [a.format(**fixtures) for a in args]
    try:
        done = subprocess.run(argv, input=stdin if stdin is not None else b"", capture_output=True, timeout=TIMEOUT,
                              cwd=fixtures["W"])
    except subprocess.TimeoutExpired:
        return False, f"no answer within {TIMEOUT} s", None
    stderr = done.stderr.decode("utf-8", "replace")
    message, error_lines = message_of(stderr)
    problems = []
    if done.returncode == 0:
        problems.append("exit status 0")
    elif done.returncode < 0 or done.returncode >= 128:
        problems.append(f"ended by a signal ({done.returncode})")
    if any(marker in stderr for marker in CRASH_MARKERS):
        problems.append("a crash report on stderr")
    if not message:
        problems.append("no message")
    if error_lines > 1:
        problems.append(f"{error_lines} error lines")
    return not problems, "; ".join(problems), (done.returncode, message)


def shown(args, fixtures_names):
    text = " ".join(a if a else "''" for a in args)
    text = text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    for name in fixtures_names:
        text = text.replace("{" + name + "}", name.lower())
    return text


def table(rows):
    out = ["| program | command line | stdin | input | exit | message |", "| --- | --- | --- | --- | --- | --- |"]
    for (program, args, stdin, what), (code, message) in rows:
        stdin_text = "" if stdin is None else ("empty" if not stdin else f"{len(stdin):,} bytes")
        message = re.sub(r"/tmp/tessera_bad_inputs_\w+/?", "", message).replace("|", "\\|")
        if len(message) > 240:
            message = message[:240] + " …"
        cmdline = shown(args, []).replace("|", "\\|")
        cmdline = re.sub(r"\{(\w+)\}", lambda m: m.group(1).lower(), cmdline)
        out.append(f"| {program} | `{cmdline}` | {stdin_text} | {what} | {code} | {message} |")
    return "\n".join(out)


def write_table(path, rows):
    text = open(path).read()
    start = text.index(TABLE_START)
    end = text.find("\n## ", start + len(TABLE_START))
    end = len(text) if end < 0 else end
    section = text[start:end]
    marker = "<!-- bad-inputs table: generated by tools/bad_inputs.py --table -->"
    intro = section.split(marker)[0].rstrip() + "\n\n" if marker in section else section.rstrip() + "\n\n"
    new_section = intro + marker + "\n\n" + table(rows) + "\n"
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text[:start] + new_section + text[end:])
    os.replace(tmp, path)


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    programs = {"translator": os.path.abspath(sys.argv[1]), "attention_cnn": os.path.abspath(sys.argv[2])}
    table_path = sys.argv[sys.argv.index("--table") + 1] if "--table" in sys.argv else None
    work = tempfile.mkdtemp(prefix="tessera_bad_inputs_")
    failed, rows = 0, []
    try:
        fixtures = make_fixtures(work, programs["translator"], programs["attention_cnn"])
        with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:  # each case is one process
            results = list(pool.map(lambda case: run_case(programs, fixtures, case), cases()))
        for case, (ok, problem, result) in zip(cases(), results):
            program, args, _, what = case
            if not ok:
                failed += 1
                print(f"FAIL {program} {shown(args, fixtures)} ({what}): {problem}: {result}", flush=True)
            else:
                rows.append((case, result))
    finally:
        ro = os.path.join(work, "read_only")
        if os.geteuid() == 0:
            subprocess.run(["umount", ro], capture_output=True)
        if os.path.isdir(ro):
            os.chmod(ro, 0o755)
        shutil.rmtree(work, ignore_errors=True)
    total = len(cases())
    print(f"bad inputs: {total - failed} of {total} cases end with one clear message and a non-zero status")
    if table_path and not failed:
        write_table(table_path, rows)
        print(f"table written to {table_path}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
