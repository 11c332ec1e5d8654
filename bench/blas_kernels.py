"""Which OpenBLAS kernels a benchmark runs on: the environment's, or OpenBLAS's own choice.

The project machine's environment sets OPENBLAS_CORETYPE=Haswell (AVX2 kernels) and
OPENBLAS_L2_SIZE, because older OpenBLAS builds compute wrong results or crash on some
processors; tests and CI keep them. A user's machine has no such variables, and OpenBLAS picks
its kernels itself (AVX-512 ones here, about twice as fast). Every benchmark runner therefore
takes --blas-kernels env|unset; `unset` removes both variables from this process's environment
before any benchmark process starts, so tessera and PyTorch run on the same kernels. Each
tessera benchmark process prints the core name OpenBLAS chose and checks its products against
the reference loop (bench/blas_check.h); describe() turns that into the line the tables print.
"""
import os

VARIABLES = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")


def add_argument(parser):
    parser.add_argument("--blas-kernels", choices=["env", "unset"], default="env",
                        help="env: OpenBLAS kernels as the environment sets them (default); unset: "
                             "OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE removed, OpenBLAS chooses (what users get)")


def apply(args):
    """Call before starting any benchmark process."""
    if args.blas_kernels == "unset":
        for name in VARIABLES:
            os.environ.pop(name, None)


def results_path(path, args):
    """bench/results_nn.md stays the environment's table; the unset run writes results_nn_unset.md."""
    if args.blas_kernels == "unset":
        stem, ext = os.path.splitext(path)
        return stem + "_unset" + ext
    return path


def setting():
    return ", ".join(f"{name}={os.environ.get(name, '(unset)')}" for name in VARIABLES)


def describe(meta):
    """One line for a table's header from a tessera meta line (bench/blas_check.h's fields)."""
    core = meta.get("corename", "?")
    if "blas_check_ok" not in meta:
        return f"OpenBLAS core {core} ({setting()}); products not checked"
    verdict = "match the reference loop" if meta["blas_check_ok"] else "DO NOT MATCH the reference loop: timings void"
    return (f"OpenBLAS core {core} ({setting()}); its products {verdict} "
            f"(largest relative error {meta['blas_check_error']:.2g} over 11 shapes, all transposes)")
