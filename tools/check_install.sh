#!/usr/bin/env bash
# tools/check_install.sh — proves that a program outside the tree builds on tessera, both ways the
# README gives ("Use tessera from your own project"):
#   installed   `meson install` into a temporary prefix, then examples/out_of_tree (copied out of
#               the tree) built against that copy through pkg-config, with meson and by hand
#   subproject  examples/out_of_tree with this tree as its subprojects/tessera (a symlink), where
#               dependency('tessera') falls back to the subproject
# Each variant runs the program, a two-layer MLP, and fails unless its loss fell. The builds are
# kept in build-install/ and build-install-subproject/, so a second run compiles only what changed.
# Needs the build dependencies: run `./run build` once first.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
OPENBLAS_PC=$(sed -n 's/^OPENBLAS_PC=//p' run)  # the OpenBLAS build ./run configures with
[ -n "$OPENBLAS_PC" ] || { echo "check_install: no OPENBLAS_PC= line in ./run" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

say() { printf '[check_install] %s\n' "$*" >&2; }
fail() { say "FAILED: $*"; exit 1; }

# Runs the program built in directory $1; fails unless the last loss it prints is below the first.
run_and_check() {
  local out
  out=$("$1/mlp") || fail "$1/mlp exited with status $?"
  printf '%s\n' "$out"
  printf '%s\n' "$out" | awk '/loss/ { if (first == "") first = $NF; last = $NF }
    END { if (first == "" || !(last + 0 < first + 0)) exit 1 }' || fail "the loss did not fall"
}

# --- installed: the libraries, headers and tessera.pc under a prefix, used through pkg-config ---
prefix=$tmp/prefix
if [ ! -f build-install/build.ninja ]; then
  rm -rf build-install  # a half-configured directory from an interrupted run
  meson setup build-install --buildtype=release --pkg-config-path="$OPENBLAS_PC" >/dev/null
fi
meson configure build-install -Dprefix="$prefix" >/dev/null
say "building tessera's libraries in build-install/ (what meson install installs)"
ninja -C build-install -j2 engine/libtessera_engine.a nn/libtessera_nn.a nn/libtessera_distributed.a >&2
meson install -C build-install --no-rebuild --quiet
pc=$(find "$prefix" -name tessera.pc)
[ -n "$pc" ] || fail "meson install wrote no tessera.pc under $prefix"
# Every header of engine/ and nn/ is public except the op files' internal kernels.h.
expected=$(printf '%s\n' engine/*.h nn/*.h | grep -vx engine/kernels.h)
installed=$(cd "$prefix/include/tessera" && printf '%s\n' engine/*.h nn/*.h)
[ "$expected" = "$installed" ] ||
  fail "installed headers differ from the tree's (a new engine header goes in engine_headers):
$(diff <(echo "$expected") <(echo "$installed"))"
PKG_CONFIG_PATH="$(dirname "$pc"):$OPENBLAS_PC"
export PKG_CONFIG_PATH
say "installed into $prefix; pkg-config --cflags --libs tessera:"
pkg-config --cflags --libs tessera >&2
cp -r examples/out_of_tree "$tmp/project"
# -Werror: the installed headers must compile without a warning under the user's -Wall -Wextra.
meson setup "$tmp/project/build" "$tmp/project" -Dwerror=true >/dev/null
ninja -C "$tmp/project/build" -j2 >&2
say "running the out-of-tree MLP built against the installed copy"
run_and_check "$tmp/project/build"
say "compiled by hand as in the README: c++ main.cpp \$(pkg-config --cflags --libs tessera)"
mkdir "$tmp/by_hand"
# shellcheck disable=SC2046  # pkg-config's output is a list of flags, split on purpose
c++ -std=c++20 -O2 -Wall -Wextra -Werror "$tmp/project/main.cpp" \
  $(pkg-config --cflags --libs tessera) -o "$tmp/by_hand/mlp"
run_and_check "$tmp/by_hand"
say "the distributed layer: c++ ... \$(pkg-config --cflags --libs tessera-distributed), run as one process"
cat > "$tmp/by_hand/dist.cpp" <<'CPP'
#include <cstdio>

#include "nn/distributed.h"

int main(int argc, char** argv) {
  tessera::dist::init(argc, argv);
  std::vector<double> x{1.0, 2.0};
  tessera::dist::all_reduce_sum(x);  // one process: the identity
  std::printf("rank %d of %d, sum %g\n", tessera::dist::rank(), tessera::dist::world_size(), x[0] + x[1]);
  tessera::dist::finalize();
  return x[0] + x[1] == 3.0 ? 0 : 1;
}
CPP
# shellcheck disable=SC2046
c++ -std=c++20 -O2 -Wall -Wextra -Werror "$tmp/by_hand/dist.cpp" \
  $(pkg-config --cflags --libs tessera-distributed) -o "$tmp/by_hand/dist"
"$tmp/by_hand/dist" || fail "the distributed program failed"
unset PKG_CONFIG_PATH

# --- subproject: the same project with this tree as subprojects/tessera ---
parent=build-install-subproject
mkdir -p "$parent/src/subprojects"
# default_options apply only when a build directory is set up: a changed meson.build starts afresh
cmp -s examples/out_of_tree/meson.build "$parent/src/meson.build" || rm -rf "$parent/build"
cp -p examples/out_of_tree/meson.build examples/out_of_tree/main.cpp "$parent/src/"
ln -sfn "$root" "$parent/src/subprojects/tessera"
if [ ! -f "$parent/build/build.ninja" ]; then
  rm -rf "$parent/build"
  # --force-fallback-for: use the subproject even where a tessera.pc is installed
  meson setup "$parent/build" "$parent/src" --pkg-config-path="$OPENBLAS_PC" \
    --force-fallback-for=tessera >/dev/null
fi
say "building the out-of-tree project with tessera as its subproject, in $parent/"
ninja -C "$parent/build" -j2 >&2
say "running the out-of-tree MLP built with tessera as a subproject"
run_and_check "$parent/build"
say "OK: installed and subproject builds both train"
