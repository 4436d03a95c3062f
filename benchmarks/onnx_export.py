"""ONNX export benchmark: the file written straight from the IR beside those written through torch and Keras.

For every IR model in ``examples/``, some ``keras.applications`` models
(imported with ``from_keras``) and the PyTorch architectures of
``examples/torch_archs.py`` (imported with ``from_torch``), it exports the
model three ways (``export_onnx(via="ir" | "torch" | "keras")``) and reports,
measured side by side in one run:

* export time of each, and the ratio of each framework's time to the IR's;
* graph size: nodes, and Transpose nodes, in each file;
* onnxruntime inference time of each file (median of repeated runs, batch 8),
  and the ratio to the IR file's;
* the largest absolute difference of the IR file's outputs from the torch file's.

Not a test: it only measures. Run from the repository root:

    python benchmarks/onnx_export.py                      # examples, 3 apps, every torch arch
    python benchmarks/onnx_export.py --apps vgg16,resnet50 --archs resnet
    python benchmarks/onnx_export.py --json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from convert import EXAMPLES, load_file, timed  # noqa: E402  (the conversion benchmark's model lists)

VIAS = ("ir", "torch", "keras")
DEFAULT_APPS = "mobilenet_v2,resnet50,densenet121"


def ort_time(path: Path, xs, repeats: int) -> tuple[float, list]:
    """(median seconds of one run, the outputs) of the file in onnxruntime on one thread (as CI machines have)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    feeds = {i.name: x for i, x in zip(session.get_inputs(), xs)}
    outs = session.run(None, feeds)  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        session.run(None, feeds)
        times.append(time.perf_counter() - start)
    return statistics.median(times), outs


def measure(name: str, model, repeats: int) -> dict:
    import numpy as np
    import onnx

    from twinnet.exporters import export_onnx
    from twinnet.exporters.onnx import example_inputs, keras_layout

    row = {"model": name}
    with tempfile.TemporaryDirectory() as tmp:
        outs = {}
        for via in VIAS:
            try:
                path, seconds = timed(export_onnx, model, Path(tmp) / f"{via}.onnx", via=via)
            except Exception as e:
                row[via] = {"error": f"{type(e).__name__}: {str(e).splitlines()[0][:80]}"}
                continue
            nodes = [n.op_type for n in onnx.load(str(path)).graph.node]
            layouts = [keras_layout(t.layout) if via == "keras" else t.layout for t in model.inputs]
            run_s, outs[via] = ort_time(path, example_inputs(model, batch=8, layouts=layouts), repeats)
            row[via] = {
                "export_s": seconds,
                "nodes": len(nodes),
                "transposes": nodes.count("Transpose"),
                "run_ms": run_s * 1e3,
            }
    if "ir" in outs and "torch" in outs:
        row["ir_vs_torch_abs"] = max(float(np.abs(a - b).max(initial=0)) for a, b in zip(outs["ir"], outs["torch"]))
    return row


def rows(apps, archs, repeats: int, examples: bool):
    from twinnet.backends import from_keras
    from twinnet.exporters.sources import from_object

    if examples:
        for file, fn in EXAMPLES:
            yield measure(f"{file.removesuffix('.py')}:{fn}", getattr(load_file(file), fn)(), repeats)
    keras_apps = load_file("keras_apps.py")
    for app in apps:
        yield measure(app, from_keras(keras_apps.build(app)), repeats)
    torch_archs = load_file("torch_archs.py")
    for arch in archs:
        yield measure(arch, from_object(getattr(torch_archs, arch)(), arch).model, repeats)


def cells(r: dict) -> list[str]:
    def get(via, key, fmt):
        return fmt.format(r[via][key]) if key in r.get(via, {}) else "error"

    def ratio(via, key):
        if key not in r.get(via, {}) or key not in r.get("ir", {}):
            return "-"
        return f"{r[via][key] / r['ir'][key]:.1f}x"

    out = [r["model"]]
    out += [get(v, "export_s", "{:.2f}") for v in VIAS] + [ratio("torch", "export_s"), ratio("keras", "export_s")]
    out += [f"{get(v, 'nodes', '{}')}/{get(v, 'transposes', '{}')}" for v in VIAS]
    out += [get(v, "run_ms", "{:.2f}") for v in VIAS] + [ratio("torch", "run_ms"), ratio("keras", "run_ms")]
    out.append(f"{r['ir_vs_torch_abs']:.1e}" if "ir_vs_torch_abs" in r else "-")
    return out


HEADERS = [
    "Model",
    "ir s",
    "torch s",
    "keras s",
    "torch/ir",
    "keras/ir",
    "ir nodes/T",
    "torch nodes/T",
    "keras nodes/T",
    "ir ms",
    "torch ms",
    "keras ms",
    "torch/ir",
    "keras/ir",
    "ir vs torch abs",
]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--apps", default=DEFAULT_APPS, help=f"Keras applications ({DEFAULT_APPS}; '' for none)")
    parser.add_argument("--archs", help="PyTorch architectures of examples/torch_archs.py (default: all; '' for none)")
    parser.add_argument("--no-examples", action="store_true", help="skip the IR examples")
    parser.add_argument("--repeats", type=int, default=20, help="onnxruntime runs per file (median)")
    parser.add_argument("--json", action="store_true", help="print the rows as JSON")
    args = parser.parse_args(argv)
    from twinnet.exporters.quiet import quiet_tensorflow_import

    quiet_tensorflow_import()
    apps = [a for a in args.apps.split(",") if a]
    archs = list(load_file("torch_archs.py").ARCHS) if args.archs is None else [a for a in args.archs.split(",") if a]
    table = list(rows(apps, archs, args.repeats, not args.no_examples))
    if args.json:
        print(json.dumps(table, indent=2))
        return 0
    from rich.console import Console
    from rich.table import Table

    out = Table(title="ONNX export: straight from the IR vs through torch and Keras (T = Transpose nodes)")
    for h in HEADERS:
        out.add_column(h, justify="left" if h == "Model" else "right")
    for r in table:
        out.add_row(*cells(r))
    Console(width=200).print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
