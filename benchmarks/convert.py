"""Conversion benchmark: time, accuracy and transposes of each converted model, both targets side by side.

For every ``keras.applications`` model in ``examples/keras_apps.py`` (small,
randomised), every PyTorch architecture in ``examples/torch_archs.py`` and
every IR model in ``examples/``, it reports

* the time to import the model into the IR (``from_keras``, ``from_torch``)
  and to compile it to each target (``to_torch``, ``to_keras``);
* the largest absolute and relative output difference of each target against
  the source (the original Keras model or torch module; for IR examples, the
  other target);
* the number of transpose/permute operations in each converted graph: in torch
  the ``permute``/``transpose``/``movedim`` calls of a ``torch.fx`` trace of the
  module, in Keras the ``Permute`` layers and ``transpose`` ops of the model.

Apps the IR cannot represent yet are listed with the layers they miss. Not a
test: it only measures. Run from the repository root:

    python benchmarks/convert.py                 # everything
    python benchmarks/convert.py --apps vgg16    # one app, plus the torch archs and the examples
    python benchmarks/convert.py --no-apps --no-examples --archs resnet,vit
    python benchmarks/convert.py --no-examples --json
    python benchmarks/convert.py --cli           # the command as a user runs it, beside the peer routes

``--cli`` measures what a user waits for instead (see ``benchmarks/convert_cli.py``): per Keras
application saved to a file, ``twinnet convert`` as a command (wall time, CPU time, peak RSS), the
frameworks' bare import footprint, and the peer routes (Keras -> ONNX -> onnx2torch, torch -> ONNX ->
onnx2tf) where they install, side by side in one run.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

EXAMPLES = [
    ("mnist_convnet.py", "build"),
    ("mnist_convnet.py", "build_variant"),
    ("vgg_block.py", "build"),
    ("fasttext_sentiment.py", "build"),
    ("lstm_sentiment.py", "build"),
    ("lstm_sentiment.py", "build_sequence_first"),
]
TORCH_TRANSPOSES = {"permute", "transpose", "movedim", "swapaxes", "swapdims", "t"}


def load_file(name: str):
    spec = importlib.util.spec_from_file_location(name.replace(".py", ""), ROOT / "examples" / name)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def timed(fn, *args, **kwargs):
    start = time.perf_counter()
    value = fn(*args, **kwargs)
    return value, time.perf_counter() - start


def torch_transposes(module) -> int | str:
    """permute/transpose calls in a torch.fx trace of the module (or '?' when it cannot be traced)."""
    import torch.fx

    try:
        graph = torch.fx.symbolic_trace(module).graph
    except Exception:  # e.g. a Python loop over a symbolic length (GRUResetBefore)
        return "?"
    count = 0
    for node in graph.nodes:
        if node.op == "call_method" and node.target in TORCH_TRANSPOSES:
            count += 1
        elif node.op == "call_function" and getattr(node.target, "__name__", "") in TORCH_TRANSPOSES:
            count += 1
    return count


def keras_transposes(km) -> int:
    """Permute layers and transpose ops in a functional Keras model (nested models included)."""
    import keras

    count = 0
    for op in km.operations:
        if isinstance(op, keras.Model):
            count += keras_transposes(op)
        elif isinstance(op, keras.layers.Permute) or "transpose" in type(op).__name__.lower():
            count += 1
    return count


def run_torch(module, xs):
    import torch

    with torch.no_grad():
        out = module(*[torch.from_numpy(x) for x in xs])
    return [o.numpy() for o in (out if isinstance(out, tuple) else (out,))]


def run_keras(km, xs, model):
    from twinnet.exporters.onnx import keras_layout

    ins = [
        np.ascontiguousarray(x.transpose([t.layout.index(a) for a in keras_layout(t.layout)]))
        for x, t in zip(xs, model.inputs)
    ]
    out = km(ins if len(ins) > 1 else ins[0], training=False)
    out = out if isinstance(out, (list, tuple)) else [out]
    return [
        np.asarray(o).transpose([keras_layout(t.layout).index(a) for a in t.layout]) for o, t in zip(out, model.outputs)
    ]


def diff(got, want) -> tuple[float, float]:
    abs_, rel = 0.0, 0.0
    for a, b in zip(got, want):
        d = np.abs(a.astype(np.float64) - b.astype(np.float64))
        scale = np.maximum(np.abs(a), np.abs(b)).astype(np.float64)
        abs_ = max(abs_, float(d.max(initial=0.0)))
        rel = max(rel, float(np.divide(d, scale, out=np.zeros_like(d), where=scale > 0).max(initial=0.0)))
    return abs_, rel


def measure(name: str, model, import_s: float | None, source_run=None, source="keras", make_inputs=None) -> dict:
    """Compile ``model`` to both targets and measure them (source_run: the original model, if any;
    make_inputs: ``(batch, seq, seed) -> inputs`` the source accepts, when it accepts only some)."""
    from twinnet.backends import to_keras, to_torch
    from twinnet.exporters.onnx import example_inputs

    tm, torch_s = timed(to_torch, model)
    km, keras_s = timed(to_keras, model)
    xs = make_inputs(2, 7, 1) if make_inputs else example_inputs(model, batch=2, seq=7, seed=1)
    t_out, k_out = run_torch(tm, xs), run_keras(km, xs, model)
    ref_t = ref_k = source_run(xs) if source_run else None
    if ref_t is None:  # an IR model has no other source: each target is compared with the other
        ref_t, ref_k = k_out, t_out
    return {
        "model": name,
        "import_s": import_s,
        "torch_s": torch_s,
        "keras_s": keras_s,
        "torch_diff": diff(t_out, ref_t),
        "keras_diff": diff(k_out, ref_k),
        "torch_transposes": torch_transposes(tm),
        "keras_transposes": keras_transposes(km),
        "source": source if source_run else "ir",
    }


def keras_app_rows(apps):
    from twinnet.backends import from_keras
    from twinnet.exporters.sources import keras_runner

    keras_apps = load_file("keras_apps.py")
    for app in apps:
        km = keras_apps.build(app)
        try:
            model, import_s = timed(from_keras, km)
        except Exception as e:
            problems = getattr(e, "problems", [])
            missing = sorted({p.what.rsplit(".", 1)[-1] for p in problems}) or [str(e).splitlines()[0]]
            yield {"model": app, "unsupported": ", ".join(missing)}
            continue
        yield measure(app, model, import_s, keras_runner(km, model))


def torch_arch_rows(archs):
    from twinnet.exporters.sources import from_object

    torch_archs = load_file("torch_archs.py")
    for arch in archs:
        net, example = getattr(torch_archs, arch)()
        source, import_s = timed(from_object, (net, example), arch)  # from_torch, and the module as the reference
        yield measure(arch, source.model, import_s, source.run, "torch", source.make_inputs)


def example_rows():
    for file, fn in EXAMPLES:
        model = getattr(load_file(file), fn)()
        yield measure(f"{file.removesuffix('.py')}:{fn}", model, None)


def fmt_row(r: dict) -> list[str]:
    imp = "-" if r["import_s"] is None else f"{r['import_s']:.2f}"
    return [
        r["model"],
        r["source"],
        imp,
        f"{r['torch_s']:.2f}",
        f"{r['keras_s']:.2f}",
        f"{r['torch_diff'][0]:.1e}",
        f"{r['torch_diff'][1]:.1e}",
        f"{r['keras_diff'][0]:.1e}",
        f"{r['keras_diff'][1]:.1e}",
        str(r["torch_transposes"]),
        str(r["keras_transposes"]),
    ]


HEADERS = [
    "Model",
    "Source",
    "Import s",
    "torch s",
    "keras s",
    "torch abs",
    "torch rel",
    "keras abs",
    "keras rel",
    "torch T",
    "keras T",
]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--apps", help="comma-separated keys of examples/keras_apps.py APPS (default: all)")
    parser.add_argument("--no-apps", action="store_true", help="skip the Keras applications")
    parser.add_argument("--archs", help="comma-separated keys of examples/torch_archs.py ARCHS (default: all)")
    parser.add_argument("--no-archs", action="store_true", help="skip the PyTorch architectures")
    parser.add_argument("--no-examples", action="store_true", help="skip the IR examples")
    parser.add_argument("--json", action="store_true", help="print the rows as JSON")
    parser.add_argument(
        "--cli",
        action="store_true",
        help="instead: the twinnet convert command's wall time, CPU time and peak RSS per model, "
        "next to the peer routes and the frameworks' import footprint (benchmarks/convert_cli.py)",
    )
    parser.add_argument("--cli-models", help="with --cli: comma-separated keys of convert_cli.MODELS (default: all)")
    parser.add_argument("--repeat", type=int, default=1, help="with --cli: runs of the default convert per model")
    args = parser.parse_args(argv)
    if args.cli:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        import convert_cli

        keys = args.cli_models.split(",") if args.cli_models else list(convert_cli.MODELS)
        rows = convert_cli.cli_rows(keys, repeat=args.repeat)
        if args.json:
            print(json.dumps(rows, indent=2))
        else:
            convert_cli.print_rows(rows)
        return 0
    from twinnet.exporters.quiet import quiet_tensorflow_import

    quiet_tensorflow_import()  # TensorFlow's start-up lines would land in the middle of the table's output
    apps = [] if args.no_apps else (args.apps.split(",") if args.apps else list(load_file("keras_apps.py").APPS))
    archs = [] if args.no_archs else (args.archs.split(",") if args.archs else list(load_file("torch_archs.py").ARCHS))
    rows = (
        list(keras_app_rows(apps)) + list(torch_arch_rows(archs)) + ([] if args.no_examples else list(example_rows()))
    )
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    from rich.console import Console
    from rich.table import Table

    table = Table(
        title="twinnet conversion benchmark: batch 2; import and compile times in seconds; max abs/rel "
        "diff of each target vs the source; T = transpose/permute ops in the converted graph",
        title_justify="left",
    )
    for h in HEADERS:
        table.add_column(h, justify="left" if h in ("Model", "Source") else "right", no_wrap=True)
    for r in rows:
        if "unsupported" not in r:
            table.add_row(*fmt_row(r))
    console = Console(width=None if sys.stdout.isatty() else 160)
    console.print(table)
    console.print("Source 'ir': the model is written in the IR; each target is compared with the other one.")
    for r in rows:
        if "unsupported" in r:
            console.print(f"not converted: {r['model']}: the IR lacks {r['unsupported']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
