"""The ``twinnet`` command line: summary, emit, export, verify and convert a model.

MODEL is either a saved model file (``.json`` or ``.safetensors``), which is
only read and validated, or ``path/to/file.py:function``, which *runs* that
Python file and calls ``function()`` to get an ``twinnet.Model``. ``convert`` also
takes Keras (``.keras``) and ONNX files (see :mod:`twinnet.exporters.sources`).

>>> main(["--help"])  # doctest: +SKIP
>>> main(["verify", "examples/mnist_convnet.py:build", "--json"])  # doctest: +SKIP
>>> main(["convert", "model.keras", "--to", "torch", "-o", "out/"])  # doctest: +SKIP

Exit codes: 0 success, 1 verification failed, 2 bad input, 3 internal error,
4 the model holds something twinnet cannot represent (every such layer listed),
5 every pair agreed but some output does not vary with the input, so the check
proved nothing for it (unless ``--allow-uninformative``).
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import traceback
import warnings
from pathlib import Path

from ..ir.precision import PRECISIONS
from ..ir.serde import VERSION
from .cli_models import BadInput, load_model
from .cli_options import (
    BAD_INPUT,
    CONVERT_PATHS_HELP,
    INTERNAL,
    OK,
    PATHS_HELP,
    UNSUPPORTED,
    add_check_options,
    paths,
    sizes,
    tolerance,
    verdict,
)
from .cli_output import json_safe, one_line, print_json_error, print_report, print_table
from .quiet import quiet_tensorflow_import
from .targets import FRAMEWORKS

# Before any framework is imported (they are imported lazily, inside the
# commands): silences TensorFlow's C++ start-up chatter.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

_FRAMEWORKS = r"(keras|tensorflow|tf2onnx|torch|onnx|onnxscript|onnxruntime)(\.|$)"

MODEL_HELP = """\
MODEL is one of:
  FILE.json | FILE.safetensors
      a model saved with twinnet.save; it is only read and validated. Data files
      are never executed, whatever they contain.
  FILE.py:FUNCTION
      RUNS the Python file FILE.py (imports it, executing its top-level code)
      and calls FUNCTION() with no arguments, which must return an ir.Model.
      Only use this form on code you trust. A model without weights is
      initialised with seed 0.

exit codes: 0 success, 1 verification failed, 2 bad input, 3 internal error,
            4 unsupported (the model holds layers twinnet cannot represent; all listed),
            5 uninformative (every pair agrees, but an output does not vary with the
            input, so nothing was proved; see --randomize, --allow-uninformative)
"""

SRC_HELP = """\
SRC is one of:
  FILE.keras
      a Keras 3 model file, loaded with safe_mode=True (Lambda layers refused).
  FILE.onnx
      an ONNX model (needs the ONNX importer, twinnet.from_onnx).
  FILE.json | FILE.safetensors
      a model saved with twinnet.save; only read and validated.
  FILE.py:FUNCTION
      RUNS the Python file FILE.py and calls FUNCTION(), which returns an
      ir.Model, a keras.Model, or (torch module, example_inputs) for PyTorch
      (needs the torch importer, twinnet.from_torch). Only for code you trust.
      A bool torch input is a key-padding mask (True = pad); the converted
      model takes it as a float mask, 1 = attend ((~mask).float()).

OUT receives <name>.py (standalone source), its weights (<name>.safetensors for
torch, <name>.weights.h5 for Keras) and the IR (<name>.twinnet.safetensors). The
source model, the emitted file and the ONNX file written straight from the IR
(onnx-ir) are run on the same inputs and compared; OUT is written only when all
agree. --paths all adds the IR's Keras and torch models and the ONNX files their
exporters write (slow on a large model); --profile prints each stage's wall
time, CPU time and peak memory.

exit codes: 0 success, 1 verification failed (OUT not written unless
            --keep-failed), 2 bad input, 3 internal error, 4 unsupported (every
            layer twinnet cannot represent is listed; nothing written),
            5 uninformative (every pair agrees and OUT is written, but an output
            does not vary with the input; see --randomize, --allow-uninformative)
"""


class _Parser(argparse.ArgumentParser):
    # argparse prints usage plus a message and exits; we want one line and
    # exit code 2 decided in one place (main).
    def error(self, message):
        raise BadInput(f"{message} (see '{self.prog} --help')")


# -- commands ------------------------------------------------------------------


def cmd_summary(args) -> int:
    from ..ir.tensor import fmt_shape

    model = load_model(args.model)
    rows = []
    for node in model.nodes:
        params = sum(math.prod(s.shape) for s in node.weight_specs().values())
        kind = "Input" if node.is_input else node.layer.kind
        rows.append(
            (
                node.name,
                kind,
                fmt_shape(node.spec),
                node.spec.layout,
                f"{params:,}",
                ", ".join(t.name for t in node.inputs),
            )
        )
    footer = [
        f"Total params: {model.count_params():,}",
        "Outputs: " + ", ".join(f"{t.name} {t.spec}" for t in model.outputs),
    ]
    print_table(f'Model "{model.name}"', ("Layer", "Kind", "Output shape", "Layout", "Params", "Inputs"), rows, footer)
    return OK


def cmd_emit(args) -> int:
    from ..backends import emit

    model = load_model(args.model)
    model.dtype = args.dtype or model.dtype
    source = emit(model, args.framework, out_dir=args.output)
    if args.output is None:
        sys.stdout.write(source if source.endswith("\n") else source + "\n")
    else:
        print(f"wrote {Path(args.output) / (model.name + '.py')} and its weights")
    return OK


def cmd_export(args) -> int:
    from .. import exporters

    model = load_model(args.model)
    model.dtype = args.dtype or model.dtype
    parent = Path(args.output).parent
    if not parent.is_dir():
        raise BadInput(f"{str(parent)!r}: no such folder for the ONNX file")
    path = exporters.export_onnx(model, args.output, via=args.via)
    print(f"wrote {path}")
    return OK


def cmd_verify(args) -> int:
    import json

    from .. import exporters

    model = load_model(args.model)
    kwargs = {"atol": args.atol, "rtol": args.rtol}
    if args.batch_sizes is not None:
        kwargs["batch_sizes"] = args.batch_sizes
    if args.seq_lens is not None:
        kwargs["seq_lens"] = args.seq_lens
    if args.paths is not None:
        kwargs["paths"] = args.paths
    kwargs.update(randomize=args.randomize, inputs=args.inputs, device=args.device)
    if args.dtype is not None and args.dtype != model.dtype:
        model.dtype = args.dtype
    report = exporters.verify(model, progress=_progress(args, f"verify {model.name}"), **kwargs)
    if args.json:
        print(json.dumps(json_safe(report.to_dict()), indent=2))
        return verdict(report, args)
    print_report(report, f"verify {model.name}: {report.tolerance_text()}")
    return verdict(report, args)


def _progress(args, label: str):
    """Progress bars on stderr for a terminal; nothing for a pipe, --quiet or --json."""
    from .progress import for_terminal

    return for_terminal(quiet=args.quiet, label=label)


def cmd_convert(args) -> int:
    import json

    from .convert import convert

    kwargs = {"atol": args.atol, "rtol": args.rtol, "native_io": args.native_io, "keep_failed": args.keep_failed}
    kwargs.update(randomize=args.randomize, inputs=args.inputs, dtype=args.dtype, device=args.device)
    if args.batch_sizes is not None:
        kwargs["batch_sizes"] = args.batch_sizes
    if args.seq_lens is not None:
        kwargs["seq_lens"] = args.seq_lens
    if args.paths is not None:
        kwargs["paths"] = args.paths
    result = convert(args.src, args.to, args.output, progress=_progress(args, "convert"), **kwargs)
    if args.json:
        print(json.dumps(json_safe(result.to_dict()), indent=2))
        return verdict(result.report, args)
    footer = ["time: " + ", ".join(f"{k} {v:.1f}s" for k, v in result.seconds.items())]
    if args.profile:
        footer += [
            f"profile {k}: {v['wall_s']:.2f}s wall, {v['cpu_s']:.2f}s CPU, peak RSS {v['peak_rss_mb']:,.0f} MiB so far"
            for k, v in result.profile.items()
        ]
    if result.out_dir is None:
        footer.append(f"nothing written to {args.output} (rerun with --keep-failed to keep the files)")
    else:
        footer += [f"wrote {f}" for f in result.files]
    print_report(
        result.report,
        f"convert {result.model.name} ({result.source} -> {result.target}): {result.report.tolerance_text()}",
        footer,
    )
    return verdict(result.report, args)


# -- argument parsing ------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    fmt = argparse.RawDescriptionHelpFormatter
    parser = _Parser(
        prog="twinnet",
        formatter_class=fmt,
        epilog=MODEL_HELP,
        description="Inspect, compile, export and verify twinnet models (Keras 3 and PyTorch).",
    )
    parser.add_argument("--debug", action="store_true", help="print the full traceback on errors")
    parser.add_argument("--version", action="version", version=f"twinnet {VERSION}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    def command(name, func, help_text):
        p = sub.add_parser(name, help=help_text, description=help_text, epilog=MODEL_HELP, formatter_class=fmt)
        p.add_argument("model", metavar="MODEL", help="FILE.json, FILE.safetensors, or FILE.py:FUNCTION (runs FILE.py)")
        # Accepted after the command too; SUPPRESS keeps it from resetting the global flag.
        p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
        p.set_defaults(func=func)
        return p

    command("summary", cmd_summary, "print the layers, shapes, layouts and parameter counts")
    p = command("emit", cmd_emit, "print (or write) standalone PyTorch or Keras source for the model")
    p.add_argument("--framework", required=True, choices=FRAMEWORKS)
    p.add_argument("--dtype", choices=PRECISIONS, help="the precision to emit in (default: the model's)")
    p.add_argument(
        "-o", "--output", metavar="DIR", help="write DIR/<model name>.py and its weights instead of printing"
    )
    p = command("export", cmd_export, "export the model to ONNX through PyTorch or Keras, or straight from the IR")
    p.add_argument(
        "--via",
        default="torch",
        choices=(*FRAMEWORKS, "ir"),
        help="framework to export through (torch), or ir: straight from the IR",
    )
    p.add_argument("-o", "--output", metavar="FILE.onnx", required=True, help="the ONNX file to write")
    p.add_argument(
        "--dtype", choices=PRECISIONS, help="the precision of the file's float tensors (default: the model's)"
    )
    p = command("verify", cmd_verify, "run the model through Keras, PyTorch and ONNX (onnxruntime) and compare outputs")
    p.add_argument("--atol", type=tolerance, help="absolute tolerance (default 1e-5 for float32; docs/precision.md)")
    p.add_argument("--rtol", type=tolerance, help="relative tolerance (default 1e-4 for float32; docs/precision.md)")
    p.add_argument("--batch-sizes", type=sizes, metavar="N,N", help="batch sizes to try (default 1,3)")
    p.add_argument("--seq-lens", type=sizes, metavar="T,T", help="lengths for symbolic sequence axes (default 5,9)")
    p.add_argument("--paths", type=paths, metavar="P,P", help=PATHS_HELP)
    add_check_options(p)
    p.add_argument("--json", action="store_true", help="print the report as JSON only")
    p.add_argument("--quiet", action="store_true", help="no progress bars (they show only on a terminal anyway)")

    p = sub.add_parser(
        "convert",
        formatter_class=fmt,
        epilog=SRC_HELP,
        help="convert a Keras, ONNX, PyTorch or IR model to standalone PyTorch or Keras, verified",
        description="Convert SRC to standalone PyTorch or Keras source plus weights in OUT, and "
        "verify the result against SRC.",
    )
    p.add_argument("src", metavar="SRC", help="FILE.keras, FILE.onnx, FILE.json, FILE.safetensors or FILE.py:FUNCTION")
    p.add_argument("--to", required=True, choices=FRAMEWORKS, help="the target framework")
    p.add_argument("-o", "--output", metavar="OUT", required=True, help="the folder to write the files to")
    p.add_argument(
        "--native-io",
        action="store_true",
        help="the emitted model takes and returns the framework's own layout (no boundary transposes)",
    )
    p.add_argument("--keep-failed", action="store_true", help="write OUT even when verification fails")
    p.add_argument("--atol", type=tolerance, help="absolute tolerance (default 1e-5 for float32; docs/precision.md)")
    p.add_argument("--rtol", type=tolerance, help="relative tolerance (default 1e-4 for float32; docs/precision.md)")
    p.add_argument("--batch-sizes", type=sizes, metavar="N,N", help="batch sizes to try (default 1,2)")
    p.add_argument("--seq-lens", type=sizes, metavar="T,T", help="lengths for symbolic sequence axes (default 5,9)")
    p.add_argument("--paths", type=paths, metavar="P,P", help=CONVERT_PATHS_HELP)
    p.add_argument(
        "--profile", action="store_true", help="print each stage's wall time, CPU time and peak resident memory"
    )
    add_check_options(p)
    p.add_argument("--json", action="store_true", help="print the result as JSON only")
    p.add_argument("--quiet", action="store_true", help="no progress bars (they show only on a terminal anyway)")
    p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    p.set_defaults(func=cmd_convert)
    return parser


def main(argv=None, setup=None) -> int:
    """Run the CLI; returns the exit code (0 ok, 1 verification failed, 2 bad input, 3 internal error).

    ``setup``: called with the parsed arguments before the command runs (the process entry point,
    :func:`twinnet.exporters.process.command`, sets its environment defaults there).

    >>> main(["summary", "model.json"])  # doctest: +SKIP
    0
    """
    argv = sys.argv[1:] if argv is None else list(argv)
    debug = "--debug" in argv  # known even when parsing itself fails
    try:
        args = build_parser().parse_args(argv)
        if setup is not None:
            setup(args)
        with warnings.catch_warnings():
            if not debug:  # frameworks' warnings are noise to a CLI user; --debug shows them
                warnings.filterwarnings("ignore", module=_FRAMEWORKS)
                quiet_tensorflow_import()
            return args.func(args)
    except SystemExit as e:  # --help / --version from argparse
        return e.code if isinstance(e.code, int) else OK
    except KeyboardInterrupt:
        print("twinnet: interrupted", file=sys.stderr)
        return 130
    except BaseException as e:
        from ..ir.errors import IRError, UnsupportedError

        if debug:
            traceback.print_exc()
        problems = getattr(e, "problems", None) if isinstance(e, UnsupportedError) else None
        if "--json" in argv and isinstance(e, (BadInput, IRError, OSError)):
            print_json_error(e, problems)
        if problems:  # one line, then every problem on its own line: the list is the message
            head = one_line(str(e).split("\n", 1)[0])
            print("\n".join([f"twinnet: error: {head}", *(f"  - {one_line(p)}" for p in problems)]), file=sys.stderr)
            return UNSUPPORTED
        # OSError: almost always a path the user gave (missing, unwritable).
        if isinstance(e, (BadInput, IRError, OSError)):
            print(f"twinnet: error: {one_line(e)}", file=sys.stderr)
            return UNSUPPORTED if isinstance(e, UnsupportedError) else BAD_INPUT
        hint = "" if debug else " (run with --debug for the traceback)"
        print(f"twinnet: error: internal error: {type(e).__name__}: {one_line(e)}{hint}", file=sys.stderr)
        return INTERNAL


if __name__ == "__main__":
    sys.exit(main())
