#!/bin/bash
# tools/check_report.sh PAGE.html [PAGE.html ...] — does each run report render in a real browser?
#
# Opens every page in Debian's Chromium, headless (installing it when missing and run as root),
# and fails unless:
#   * Chromium loads it and its DOM holds every section and every inline SVG the file has (a
#     broken document loses elements when the browser parses it);
#   * the screenshot is not blank: enough of its pixels are not the background;
#   * every standalone SVG beside the page (runs/<name>/*.svg, attention/*.svg) is well-formed XML.
# Screenshots are kept next to each page as index.png, for a look.
#   tools/check_report.sh runs/demo/index.html runs/attention_cnn/index.html
set -euo pipefail

[ $# -ge 1 ] || { echo "usage: $0 PAGE.html [PAGE.html ...]" >&2; exit 2; }

browser=$(command -v chromium || command -v chromium-browser || true)
if [ -z "$browser" ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "installing chromium (Debian) for the check" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null
    browser=$(command -v chromium)
  else
    echo "$0: chromium is not installed (apt-get install chromium)" >&2
    exit 2
  fi
fi

# the checks on one page, in Python (argv: page, screenshot, run directory, dumped DOM)
read -r -d '' CHECK <<'PY' || true
import glob, os, re, struct, sys, zlib
import xml.etree.ElementTree as ET

page, shot, run_dir, dom_file = sys.argv[1:5]
dom = open(dom_file, encoding="utf-8", errors="replace").read()
source = open(page, encoding="utf-8").read()
problems = []

# 1. the browser's DOM has what the file has
for tag in ("<section", "<svg", "<table", "<h2"):
    want, got = source.count(tag), dom.count(tag)
    if got < want:
        problems.append(f"the browser's DOM has {got} {tag}> elements, the file {want}")
if "<section" not in dom:
    problems.append("no section rendered (empty or unreadable page)")

# 2. the screenshot is a PNG and not blank
def png_pixels(path):
    data = open(path, "rb").read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG")
    pos, idat, width, height, colour = 8, b"", 0, 0, 0
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        chunk = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, colour = struct.unpack(">IIBB", chunk[:10])
        elif kind == b"IDAT":
            idat += chunk
        pos += 12 + length
    channels = {2: 3, 6: 4, 0: 1, 4: 2}[colour]
    raw = zlib.decompress(idat)
    stride = width * channels
    rows, prev = [], bytearray(stride)
    for y in range(height):  # undo the PNG row filters
        f, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - channels] if i >= channels else 0
            b, c = prev[i], prev[i - channels] if i >= channels else 0
            if f == 1: line[i] = (line[i] + a) & 255
            elif f == 2: line[i] = (line[i] + b) & 255
            elif f == 3: line[i] = (line[i] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(bytes(line))
        prev = line
    return width, height, channels, rows

try:
    w, h, ch, rows = png_pixels(shot)
    background = rows[0][:3]
    sample = [row[x * ch:x * ch + 3] for row in rows[::4] for x in range(0, w, 4)]
    share = sum(1 for px in sample if px != background) / max(1, len(sample))
    if share < 0.02:
        problems.append(f"the screenshot is blank ({share:.1%} of its pixels differ from the background)")
except Exception as e:  # noqa: BLE001
    problems.append(f"no usable screenshot ({e})")
    share = 0

# 3. standalone SVGs are well-formed
for svg in sorted(glob.glob(os.path.join(run_dir, "*.svg")) + glob.glob(os.path.join(run_dir, "*", "*.svg"))):
    try:
        ET.parse(svg)
    except ET.ParseError as e:
        problems.append(f"{os.path.relpath(svg, run_dir)} is not well-formed XML: {e}")

name = os.path.relpath(page)
if problems:
    print(f"FAIL {name}:\n  " + "\n  ".join(problems), file=sys.stderr)
    sys.exit(1)
print(f"ok   {name}: {dom.count('<section')} sections, {dom.count('<svg')} SVG elements in the browser's DOM; "
      f"screenshot {os.path.relpath(shot)} ({share:.0%} of it drawn)")
PY

status=0
for page in "$@"; do
  if [ ! -f "$page" ]; then
    echo "FAIL $page: no such file" >&2
    status=1
    continue
  fi
  abs=$(realpath "$page")
  dir=$(dirname "$abs")
  shot="$dir/index.png"
  profile=$(mktemp -d)
  flags=(--headless --no-sandbox --disable-gpu --hide-scrollbars --user-data-dir="$profile" --virtual-time-budget=5000)
  dom=$(timeout 120 "$browser" "${flags[@]}" --dump-dom "file://$abs" 2>/dev/null || true)
  timeout 120 "$browser" "${flags[@]}" --window-size=1280,2400 --screenshot="$shot" "file://$abs" >/dev/null 2>&1 || true
  rm -rf "$profile"
  printf '%s' "$dom" > "$dir/.dom.html"
  /usr/bin/python3 -c "$CHECK" "$abs" "$shot" "$dir" "$dir/.dom.html" || status=1
  rm -f "$dir/.dom.html"
done
exit $status
