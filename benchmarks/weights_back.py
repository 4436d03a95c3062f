"""Weights-back benchmark: ``load_weights_from`` beside the compile it inverts, per backend.

For every IR model in ``examples/`` and some ``keras.applications`` models
(imported with ``from_keras``), it compiles the model to torch, Keras and ONNX
and pulls the weights back from each, reporting side by side in one run:

* compile time (``to_torch`` / ``to_keras`` / ``to_onnx``);
* weights-back time (``load_weights_from`` on what that compile returned: the
  trace, which lowers the architecture once per 22-bit digit of the weight
  count plus once more, then the copy);
* whether the weights came back bit for bit.

Not a test: it only measures. Run from the repository root:

    python benchmarks/weights_back.py                          # examples, resnet50 and mobilenet_v2
    python benchmarks/weights_back.py --apps vgg16,densenet121
    python benchmarks/weights_back.py --json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
from convert import EXAMPLES, load_file, timed  # noqa: E402  (the conversion benchmark's model lists)

BACKENDS = ("torch", "keras", "onnx")


def models(apps: list[str]):
    """(label, IR model) for each example and each app."""
    for file, fn in EXAMPLES:
        yield f"{file}:{fn}", getattr(load_file(file), fn)()
    if apps:
        import twinnet

        keras_apps = load_file("keras_apps.py")
        for app in apps:
            yield app, twinnet.from_keras(keras_apps.build(app))


def measure(model) -> dict:
    import twinnet

    row = {"params": model.count_params()}
    for backend in BACKENDS:
        compiled, seconds = timed(getattr(twinnet, f"to_{backend}"), model)
        back, back_seconds = timed(twinnet.load_weights_from, model, compiled)
        exact = all(np.array_equal(back.weights[k], v) for k, v in model.weights.items())
        row[backend] = {"compile_s": round(seconds, 3), "back_s": round(back_seconds, 3), "exact": exact}
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--apps", default="resnet50,mobilenet_v2", help="keras_apps names, comma-separated")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args()
    rows = {label: measure(model) for label, model in models([a for a in args.apps.split(",") if a])}
    if args.json:
        print(json.dumps(rows, indent=2))
        return
    head = f"{'model':40s} {'params':>10s}" + "".join(f" {b + ' compile/back (s)':>26s}" for b in BACKENDS)
    print(head)
    for label, row in rows.items():
        cells = "".join(
            f" {row[b]['compile_s']:>11.3f} / {row[b]['back_s']:<7.3f}{'' if row[b]['exact'] else ' NOT EXACT':>6s}"
            for b in BACKENDS
        )
        print(f"{label:40s} {row['params']:>10d}{cells}")


if __name__ == "__main__":
    main()
