"""The model zoo: real Keras, torchvision, timm and Hugging Face models converted with random weights.

Every ``keras.applications`` model goes to torch; every torchvision
classification model, a list of timm models and small Hugging Face
transformers go to Keras (the catalogue is ``benchmarks/zoo_models.py``).
Per model it prints whether it converts, and if so equal or not, the largest
difference against the source model, the conversion time (import into the
IR plus compiling to the target), the transposes inside the converted graph,
and for a miss the reasons the importer gave. A summary line per source gives
the fraction that converts equal.

Equal means, at batch sizes 1 and 2, ``|a - b| <= atol * s + rtol * |b|`` for
every output element, with ``b`` the source's output, ``s = max(1, max |b|)``
(the output's magnitude: randomised deep nets have large logits) and the
project's float32 tolerances ``atol=1e-5, rtol=1e-4``. "rel" is the largest
``|a - b| / (s + |b|)``.

Peer converters run side by side where they import: onnx2torch for
Keras -> torch (the Keras model exported to ONNX by ``keras.Model.export``)
and onnx2tf for torch -> Keras (the module exported by ``torch.onnx.export``),
each compared at batch 2 with the same rule; otherwise the table says why
they were skipped. Each model runs under a time limit (``--timeout``). Not a
test: it only measures. From the repository root:

    python benchmarks/zoo.py                                   # the full zoo
    python benchmarks/zoo.py --sources timm,transformers --no-peers
    python benchmarks/zoo.py --models resnet18,vgg11 --side 32
    python benchmarks/zoo.py --reduced --json
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import signal
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

ATOL, RTOL = 1e-5, 1e-4
BATCHES = (1, 2)
# The reduced zoo: a few of each source at small sizes (what the CI test runs).
REDUCED = {
    "keras": ["MobileNetV2", "ResNet50", "VGG16"],
    "torchvision": ["resnet18", "squeezenet1_0", "googlenet", "mobilenet_v3_small"],
    "timm": ["resnet18d", "convnext_atto", "vit_tiny_patch16_224"],
    "transformers": ["bert", "gpt2", "llama_gqa"],
}


def load(name: str):
    spec = importlib.util.spec_from_file_location("zoo_" + name.removesuffix(".py"), ROOT / "benchmarks" / name)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


zoo_models = load("zoo_models.py")
checks = load("zoo_checks.py")  # the float64 reference of misses and the run-time ratio
bench = load("convert.py")  # runners and transpose counters shared with the conversion benchmark


class ModelTimeout(BaseException):
    """A model over ``--timeout``. Not an ``Exception``: the importers catch those (a capture that fails falls
    back to torch.fx), and a timeout caught there came out as a refusal of the fallback instead of a timeout."""


def _alarm(signum, frame):
    raise ModelTimeout()


def compare(got, want) -> tuple[float, float, bool]:
    """(max abs diff, max rel diff, equal) over matching outputs, under the rule in the module docstring."""
    abs_, rel, ok = 0.0, 0.0, len(got) == len(want)
    for a, b in zip(got, want):
        a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
        if a.shape != b.shape:
            return float("inf"), float("inf"), False
        d = np.abs(a - b)
        s = max(1.0, float(np.abs(b).max(initial=0.0)))
        abs_ = max(abs_, float(d.max(initial=0.0)))
        rel = max(rel, float((d / (s + np.abs(b))).max(initial=0.0)))
        ok = ok and bool(np.isfinite(a).all()) and bool((d <= ATOL * s + RTOL * np.abs(b)).all())
    return abs_, rel, ok


def native_inputs(obj, batch: int, seed: int) -> list[np.ndarray]:
    """Inputs in the source model's own layout: Keras batch-first channels-last, drawn as its BatchNorm
    statistics were calibrated (``zoo_models.keras_inputs``), torch as its examples."""
    if not isinstance(obj, tuple):
        return zoo_models.keras_inputs(obj, batch, seed)
    rng = np.random.default_rng(seed)
    out = []
    for x in obj[1]:
        shape = (batch, *x.shape[1:])
        if x.dtype.is_floating_point:
            out.append(rng.standard_normal(shape).astype(np.float32))
        else:
            out.append(rng.integers(0, int(x.max()) + 1, size=shape).astype(np.int64))
    return out


def run_source(obj, xs):
    if isinstance(obj, tuple):
        import torch

        with torch.no_grad():
            out = obj[0](*[torch.from_numpy(x) for x in xs])
        return [o.numpy() for o in (out if isinstance(out, (tuple, list)) else (out,))]
    out = obj(xs if len(xs) > 1 else xs[0], training=False)
    return [np.asarray(o) for o in (out if isinstance(out, (list, tuple)) else [out])]


def to_declared(model, xs, keras_source: bool):
    """Native inputs -> the IR's declared layouts (torch modules are declared as they are)."""
    if not keras_source:
        return xs
    from twinnet.exporters.onnx import keras_layout

    return [x.transpose([keras_layout(t.layout).index(a) for a in t.layout]) for x, t in zip(xs, model.inputs)]


def refusals(e: BaseException) -> list[str]:
    problems = getattr(e, "problems", None)
    if problems:  # one line per kind of source layer: its first reason, and how many places share the kind
        kinds: dict[str, list] = {}
        for p in problems:
            kinds.setdefault(p.what, []).append(p)
        lines = [f"{what} (x{len(ps)}): {ps[0].reason}" for what, ps in sorted(kinds.items())]
        capture = getattr(e, "capture", None)  # from_torch: why torch.fx captured instead of torch.export
        if capture is not None and capture.reason:
            lines.append(f"captured with {capture.method} because {capture.reason}")
        return lines
    return [f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"]


def convert_one(source: str, obj, timing: bool = False) -> dict:
    """Import ``obj`` into the IR, compile it to the other framework, compare with the source; a miss
    gets a float64 reference (``zoo_checks.float64_check``), and ``timing`` adds the run-time ratio."""
    import twinnet

    keras_source = source == "keras"
    row: dict = {}
    start = time.perf_counter()
    try:
        model = twinnet.from_keras(obj) if keras_source else twinnet.from_torch(obj[0], obj[1])
        target = twinnet.to_torch(model) if keras_source else twinnet.to_keras(model)
    except Exception as e:
        return {"converts": False, "refusals": refusals(e)}
    row["convert_s"] = time.perf_counter() - start
    row["converts"] = True
    worst = (0.0, 0.0, True)
    for batch in BATCHES:
        xs = native_inputs(obj, batch, seed=batch)
        want = run_source(obj, xs)
        ins = to_declared(model, xs, keras_source)
        got = bench.run_torch(target, ins) if keras_source else bench.run_keras(target, ins, model)
        abs_, rel, ok = compare(got, want)
        worst = (max(worst[0], abs_), max(worst[1], rel), worst[2] and ok)
    row["abs"], row["rel"], row["equal"] = worst
    row["transposes"] = bench.torch_transposes(target) if keras_source else bench.keras_transposes(target)
    if not row["equal"]:
        row.update(checks.float64_check(sys.modules[__name__], source, obj, model, target))
    if timing:
        row.update(checks.speed(sys.modules[__name__], source, obj, model, target))
    return row


def run_model(
    source: str,
    name: str,
    side: int,
    peers: dict,
    timeout: int,
    max_params: float = float("inf"),
    calibrate: bool = False,
    timing: bool = False,
) -> dict:
    """One model's row; ``calibrate``: a Keras source gets calibrated BatchNorm statistics (docs/zoo.md);
    ``timing``: the run time of the converted torch module against the source's (``zoo_checks.speed``)."""
    row = {"source": source, "model": name, "target": zoo_models.TARGET[source]}
    if (source, name) in zoo_models.ZOO_GAPS:
        row["gap"] = zoo_models.ZOO_GAPS[source, name]
    options = {"calibrate": True} if calibrate and source == "keras" else {}
    signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(timeout)
    try:
        obj = zoo_models.catalogue_builder(source, name)(side, 0, **options)
        params = count_params(obj)
        if params > max_params:
            signal.alarm(0)
            return {**row, "converts": False, "skipped": f"{params / 1e6:.0f}M parameters, over --max-params"}
        row.update(convert_one(source, obj, timing))
        for peer, state in peers.items():
            if state is None and zoo_models.TARGET[source] == PEER_TARGET[peer]:
                row[peer] = PEER_RUN[peer](obj)
    except ModelTimeout:
        row.update(converts=row.get("converts", False), refusals=row.get("refusals", []) + [f"timed out ({timeout} s)"])
    except Exception as e:  # building the source model itself failed
        row.update(converts=False, refusals=[f"building the source model failed: {refusals(e)[0]}"])
    finally:
        signal.alarm(0)
    return row


def count_params(obj) -> int:
    if isinstance(obj, tuple):
        return sum(p.numel() for p in obj[0].parameters())
    return int(obj.count_params())


# -- peer converters -----------------------------------------------------------------------------------

PEER_TARGET = {"onnx2torch": "torch", "onnx2tf": "keras"}


def peer_states() -> dict:
    """peer -> None when it imports, else why it is skipped."""
    states = {}
    zoo_models.import_torchvision()  # onnx2torch imports torchvision
    for peer in PEER_TARGET:
        try:
            importlib.import_module(peer)
            states[peer] = None
        except Exception as e:
            states[peer] = f"does not import here ({type(e).__name__}: {str(e).splitlines()[0]})"
    return states


def run_onnx2torch(km) -> dict:
    import tempfile

    import onnx2torch
    import torch

    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        try:
            path = os.path.join(tmp, "m.onnx")
            km.export(path, format="onnx", verbose=False)
            net = onnx2torch.convert(path).eval()
        except Exception as e:
            return {"converts": False, "refusals": refusals(e)}
        seconds = time.perf_counter() - start
    xs = native_inputs(km, 2, seed=2)
    with torch.no_grad():
        out = net(*[torch.from_numpy(x) for x in xs])
    got = [o.numpy() for o in (out if isinstance(out, (tuple, list)) else (out,))]
    abs_, rel, ok = compare(got, run_source(km, xs))
    return {"converts": True, "equal": ok, "abs": abs_, "rel": rel, "convert_s": seconds}


def run_onnx2tf(obj) -> dict:
    import contextlib
    import io
    import tempfile

    import onnx2tf
    import torch

    module, example = obj
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        try:
            path = os.path.join(tmp, "m.onnx")
            with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
                # a free batch size: onnx2tf then checks itself without fetching sample images from the network
                names = [f"input_{i}" for i in range(len(example))]
                axes = {n: {0: "batch"} for n in names}
                torch.onnx.export(
                    module, tuple(example), path, dynamo=False, opset_version=17, input_names=names, dynamic_axes=axes
                )
                tfm = onnx2tf.convert(input_onnx_file_path=path, output_folder_path=tmp, non_verbose=True)
        except Exception as e:
            return {"converts": False, "refusals": refusals(e)}
        seconds = time.perf_counter() - start
    xs = native_inputs(obj, 2, seed=2)  # onnx2tf's model takes images channels-last
    ins = [np.ascontiguousarray(np.moveaxis(x, 1, -1)) if x.ndim == 4 else x for x in xs]
    out = tfm(ins if len(ins) > 1 else ins[0])
    got = [np.asarray(o) for o in (out if isinstance(out, (list, tuple)) else [out])]
    abs_, rel, ok = compare(got, run_source(obj, xs))
    return {"converts": True, "equal": ok, "abs": abs_, "rel": rel, "convert_s": seconds}


PEER_RUN = {"onnx2torch": run_onnx2torch, "onnx2tf": run_onnx2tf}


# -- output --------------------------------------------------------------------------------------------


def verdict(r: dict | None) -> str:
    if not r:
        return "-"
    if r.get("skipped"):
        return "skipped"
    if not r["converts"]:
        return "refused"
    return "equal" if r["equal"] else "DIFFERS"


def fmt(r: dict, peers) -> str:
    cells = [f"{r['source'] + '/' + r['model']:<44}", f"{verdict(r):<8}"]
    if r["converts"]:
        cells += [f"rel {r['rel']:.1e}", f"{r['convert_s']:6.1f} s", f"T={r['transposes']}"]
    if "speed_ratio" in r:
        cells.append(f"time x{r['speed_ratio']:.2f} of {r['speed_vs']} ({r['source_ms']:.1f} ms)")
    if r.get("converts") and not r.get("equal"):
        cells.append(checks.label(r))
    if r.get("gap") and not r.get("equal"):
        cells.append(f"[gap {r['gap']}]")
    for peer in peers:
        p = r.get(peer)
        if p:
            cells.append(
                f"| {peer}: {verdict(p)}" + (f" rel {p['rel']:.1e} {p['convert_s']:.1f} s" if p["converts"] else "")
            )
    return "  ".join(cells)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sources", default=",".join(zoo_models.SOURCES), help="comma-separated sources")
    parser.add_argument("--models", help="comma-separated model names (of any source)")
    parser.add_argument("--reduced", action="store_true", help="only the reduced zoo the CI test runs")
    parser.add_argument("--side", type=int, default=32, help="image side (raised where a model needs more)")
    parser.add_argument("--timeout", type=int, default=600, help="seconds per model")
    parser.add_argument("--max-params", type=float, default=150, help="skip models over this many million weights")
    parser.add_argument("--no-peers", action="store_true", help="do not run onnx2torch / onnx2tf")
    parser.add_argument("--json", action="store_true", help="print the rows as JSON lines")
    parser.add_argument(
        "--calibrate", action="store_true", help="calibrate Keras sources' BatchNorm statistics (docs/zoo.md)"
    )
    parser.add_argument("--timing", action="store_true", help="time the converted torch module against the source")
    parser.add_argument("--isolate", action="store_true", help="each model in its own process (bounds memory)")
    args = parser.parse_args(argv)
    from twinnet.exporters.quiet import quiet_tensorflow_import

    quiet_tensorflow_import()
    peers = {} if args.no_peers else peer_states()
    for peer, why in peers.items():
        if why:
            print(f"# {peer} skipped: {why}", flush=True)
    wanted = set(args.models.split(",")) if args.models else None
    rows = []
    for source in args.sources.split(","):
        names = REDUCED[source] if args.reduced else list(zoo_models.catalogue(source))
        for name in names:
            if wanted and name not in wanted:
                continue
            if args.isolate:
                row = checks.run_isolated(__file__, argv if argv is not None else sys.argv[1:], source, name)
            else:
                row = run_model(
                    source, name, args.side, peers, args.timeout, args.max_params * 1e6, args.calibrate, args.timing
                )
            rows.append(row)
            print(json.dumps(row) if args.json else fmt(row, peers), flush=True)
            for reason in [] if args.json or row["converts"] else row.get("refusals", [row.get("skipped")]):
                print(f"    refused: {reason}", flush=True)
            for peer in [] if args.json else peers:
                if row.get(peer) and not row[peer]["converts"]:
                    print(f"    {peer} refused: {row[peer]['refusals'][0][:300]}", flush=True)
    for source in args.sources.split(","):
        mine = [r for r in rows if r["source"] == source]
        equal = sum(1 for r in mine if r.get("equal"))
        ran = [r for r in mine if not r.get("skipped")]
        rounding = sum(1 for r in ran if r.get("converts") and not r.get("equal") and r.get("equal64"))
        if mine:
            print(
                f"# {source} -> {zoo_models.TARGET[source]}: {equal}/{len(ran)} convert equal"
                f" ({rounding} of the misses equal in float64; {len(mine) - len(ran)} skipped over --max-params)",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
