"""The options ``verify`` and ``convert`` share, and the exit codes of the ``twinnet`` command line."""

from __future__ import annotations

import argparse
import math

#: the exit codes (documented in docs/cli.md): success, verification failed, bad input, internal error,
#: unsupported layers, every pair agreed but some output does not vary with the input
OK, FAILED, BAD_INPUT, INTERNAL, UNSUPPORTED, UNINFORMATIVE = 0, 1, 2, 3, 4, 5


def verdict(report, args) -> int:
    """The exit code of a verify report: FAILED, else UNINFORMATIVE (unless allowed), else OK."""
    if not report.ok:
        return FAILED
    return UNINFORMATIVE if not (report.informative or args.allow_uninformative) else OK


def add_check_options(p) -> None:
    """The options of verify and convert about what the check can show."""
    p.add_argument(
        "--randomize",
        action="store_true",
        help="also verify a copy with random biases, scales and normalisation statistics (sensitive "
        "where the real weights give an output that barely varies)",
    )
    p.add_argument(
        "--allow-uninformative",
        action="store_true",
        help="exit 0, not 5, when every pair agrees but some output does not vary with the input",
    )
    p.add_argument(
        "--dtype",
        choices=("float32", "float16", "bfloat16"),
        help="the precision to check (verify) or convert to (convert); default: the model's. Half precision is "
        "checked at its own tolerances (docs/precision.md)",
    )
    p.add_argument(
        "--device",
        metavar="DEVICE",
        help="where the torch paths run: cpu (default), cuda, cuda:1, ...; compared with Keras and "
        "onnxruntime on the CPU",
    )
    p.add_argument(
        "--inputs",
        metavar="FILE.npz",
        help="check on these inputs (one array per model input, by name, declared layout and dtype; "
        "two samples or more) instead of seeded ones",
    )


def sizes(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(v) for v in text.split(","))
    except ValueError:
        values = ()
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"expected positive integers separated by commas, got {text!r}")
    return values


def tolerance(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not (value >= 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"expected a non-negative number, got {text!r}")
    return value


PATHS_HELP = (
    "the IR's paths to run and compare: all, or one or more of keras,torch,onnx-keras,onnx-torch,onnx-ir "
    "(default keras,torch,onnx-ir)"
)
CONVERT_PATHS_HELP = (
    "the IR's paths to run and compare besides the source model and the emitted file, which always run: "
    "all, or one or more of keras,torch,onnx-keras,onnx-torch,onnx-ir (default onnx-ir)"
)


def paths(text: str) -> tuple[str, ...]:
    from .verify import ALL_PATHS

    if text.strip() == "all":
        return ALL_PATHS
    values = tuple(v.strip() for v in text.split(","))
    unknown = [v for v in values if v not in ALL_PATHS]
    if unknown or len(set(values)) != len(values):
        why = f"unknown {', '.join(map(repr, unknown))}" if unknown else "each at most once"
        raise argparse.ArgumentTypeError(
            f"expected all, or one or more of {','.join(ALL_PATHS)} separated by commas ({why}), got {text!r}"
        )
    return values
