"""Two extra measurements of ``benchmarks/zoo.py``: a float64 reference for misses, and run time.

* :func:`float64_check`: a converted model that misses the float32 tolerance
  is run again with source and target both in float64 (the torch side by
  ``.double()`` on a copy, the Keras side rebuilt from its config under a
  float64 dtype policy with its weights copied: :func:`keras_float64`). The IR
  itself stays float32-only (``ir/precision.py``): the float64 run happens in
  the frameworks. When the float64 outputs agree under the same rule, the
  miss is float32 rounding and the zoo says so; it stays a miss in the count.
* :func:`speed`: the run time of the converted torch module against its
  source, both timed in the same process, interleaved, with repeats, as a
  ratio of medians (torch on one thread). For torch sources (torchvision, timm, Hugging Face) the
  IR is compiled back to torch (``to_torch``) and timed against the source
  module; for Keras sources the converted torch module is timed against the
  Keras model called eagerly, for information only (two frameworks).
"""

from __future__ import annotations

import copy
import statistics
import time

import numpy as np

#: timed calls per side after the warm-up call
REPEATS = 5
WARMUP = 1
#: torch's intra-op threads while timing: one, so that a shared machine's load hits both sides alike
TIMING_THREADS = 1


def _float64_config(node):
    """A Keras model config with every float32 dtype (policies, inputs, tensors) made float64."""
    if isinstance(node, dict):
        if node.get("class_name") in ("DTypePolicy", "FloatDTypePolicy") and node.get("config", {}).get("name") == (
            "float32"
        ):
            return {**node, "config": {**node["config"], "name": "float64"}}
        return {k: "float64" if k == "dtype" and v == "float32" else _float64_config(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_float64_config(v) for v in node]
    return node


def keras_float64(km):
    """The Keras model ``km`` rebuilt with float64 weights and computation (its float32 weights copied)."""
    import keras

    rebuilt = type(km).from_config(_float64_config(km.get_config()))
    rebuilt.set_weights([np.asarray(w, np.float64) if np.asarray(w).dtype.kind == "f" else w for w in km.weights])
    for layer in rebuilt.layers:
        if isinstance(layer, keras.layers.Rescaling):
            # Keras casts a number ``scale`` / ``offset`` through a float32 tensor, even under float64 (1 / 255
            # rounded to float32); held as float64 arrays they stay the numbers the converted model uses
            layer.scale, layer.offset = np.float64(layer.scale), np.float64(layer.offset)
    return rebuilt


def _double(xs):
    return [x.astype(np.float64) if x.dtype.kind == "f" else x for x in xs]


def float64_check(zoo, source: str, obj, model, target) -> dict:
    """Source and converted model both in float64, on the zoo's inputs: ``{"rel64", "equal64"}`` under
    ``zoo.compare``'s rule, or ``{"float64_error"}`` where a side cannot be made float64."""
    try:
        if source == "keras":
            src64, tgt64 = keras_float64(obj), copy.deepcopy(target).double()
        else:
            src64, tgt64 = (copy.deepcopy(obj[0]).double(), obj[1]), keras_float64(target)
    except Exception as e:
        return {"float64_error": f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"[:200]}
    rel, ok = 0.0, True
    for batch in zoo.BATCHES:
        xs = _double(zoo.native_inputs(obj, batch, seed=batch))
        want = zoo.run_source(src64, xs)
        ins = zoo.to_declared(model, xs, source == "keras")
        got = zoo.bench.run_torch(tgt64, ins) if source == "keras" else zoo.bench.run_keras(tgt64, ins, model)
        _, r, equal = zoo.compare(got, want)
        rel, ok = max(rel, r), ok and equal
    return {"rel64": rel, "equal64": ok}


def label(row: dict) -> str:
    """What a DIFFERS row's float64 reference says, or '' when it has none."""
    if "rel64" in row:
        if row["equal64"]:
            return f"float32 rounding (float64: {row['rel64']:.1e})"
        return f"differs in float64 too ({row['rel64']:.1e})"
    if "float64_error" in row:
        return f"no float64 reference ({row['float64_error']})"
    return ""


def interleaved_times(calls: dict, repeats: int, warmup: int = WARMUP) -> dict:
    """name -> seconds of each of its ``repeats`` calls (after ``warmup`` untimed rounds), the calls
    interleaved so that load on the machine hits every side alike."""
    for _ in range(warmup):
        for fn in calls.values():
            fn()
    times: dict = {name: [] for name in calls}
    for _ in range(repeats):
        for name, fn in calls.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return times


def _median_seconds(calls: dict, repeats: int) -> dict:
    """name -> median seconds of its call (:func:`interleaved_times`)."""
    return {name: statistics.median(ts) for name, ts in interleaved_times(calls, repeats).items()}


def speed(zoo, source: str, obj, model, target, repeats: int = REPEATS) -> dict:
    """Median run time at batch 2 of the converted torch module and of the source, and their ratio
    (``speed_ratio`` = converted / source; ``speed_vs`` says what the source was)."""
    import torch

    import twinnet

    xs = zoo.native_inputs(obj, 2, seed=2)
    if source == "keras":
        converted, ins = target, zoo.to_declared(model, xs, True)
        calls = {"source": lambda: zoo.run_source(obj, xs), "converted": lambda: zoo.bench.run_torch(converted, ins)}
        vs = "keras"
    else:
        converted = twinnet.to_torch(model)
        calls = {"source": lambda: zoo.run_source(obj, xs), "converted": lambda: zoo.bench.run_torch(converted, xs)}
        vs = "torch"
    threads = torch.get_num_threads()
    torch.set_num_threads(TIMING_THREADS)
    try:
        with torch.inference_mode():
            medians = _median_seconds(calls, repeats)
    finally:
        torch.set_num_threads(threads)
    return {
        "source_ms": medians["source"] * 1e3,
        "converted_ms": medians["converted"] * 1e3,
        "speed_ratio": medians["converted"] / medians["source"],
        "speed_vs": vs,
    }


_PER_RUN = {"--sources": True, "--models": True, "--reduced": False, "--json": False, "--isolate": False}


def run_isolated(script: str, argv: list, source: str, name: str) -> dict:
    """One model's row from a fresh process running ``script`` (the zoo) on that model alone, with the
    same options: a model's memory goes back when it is done, and a crash (out of memory) is a row."""
    import json
    import subprocess
    import sys

    kept, args = [], iter(argv)
    for arg in args:
        flag = arg.split("=", 1)[0]
        if flag in _PER_RUN:
            if _PER_RUN[flag] and "=" not in arg:
                next(args, None)
            continue
        kept.append(arg)
    command = [sys.executable, script, *kept, "--sources", source, "--models", name, "--json"]
    done = subprocess.run(command, capture_output=True, text=True)
    for line in done.stdout.splitlines():
        if line.startswith("{"):
            return json.loads(line)
    tail = (done.stderr.strip().splitlines() or [""])[-1][:200]
    return {
        "source": source,
        "model": name,
        "converts": False,
        "refusals": [f"its process died (exit {done.returncode}){': ' + tail if tail else ''}"],
    }
