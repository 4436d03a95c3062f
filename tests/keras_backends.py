"""Keras on its other backends, for the test helpers.

What ``to_keras`` builds uses ``keras.layers`` and ``keras.ops`` only, so it must run under every Keras 3 backend
with the same outputs, and never import TensorFlow off it. :func:`references` gives ``verify`` one more path per
other backend (``keras-torch``, ``keras-jax``): the model compiled by ``to_keras`` in a worker process whose
``KERAS_BACKEND`` is that backend and where TensorFlow cannot be imported (as on a machine without it: Keras
itself then leaves it alone too). ``verify`` compares those paths with every other on the same inputs.

One worker per backend and test process, started on first use and kept: it loads and compiles each model once
(``ir.save``'s files) and runs it on each case's inputs; after a failure it ends (a failed call can leave Keras's
state behind, a cached attention shape), and the next model starts a new one. Run as a script, this file is that
worker: requests and replies are JSON lines on its stdin and stdout (replies marked, as a library may print too).
"""

from __future__ import annotations

import atexit
import importlib.machinery
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

#: the Keras backends other than TensorFlow's (the test process's own)
BACKENDS = ("torch", "jax")
_MARK = "@twinnet-worker "
_DIR = "TWINNET_KERAS_WORKER_DIR"
_workers: dict[str, _Worker] = {}


class _Worker:
    """A worker process running ``to_keras`` models under one Keras backend."""

    def __init__(self, backend: str):
        self.backend = backend
        self.dir = Path(tempfile.mkdtemp(prefix=f"twinnet-keras-{backend}-"))
        self.log = open(self.dir / "stderr.log", "w+")
        env = {**os.environ, "KERAS_BACKEND": backend, "JAX_PLATFORMS": "cpu", "TF_CPP_MIN_LOG_LEVEL": "3"}
        env[_DIR] = str(self.dir)  # the worker removes it when it ends, should this process end first
        self.proc = subprocess.Popen(
            [sys.executable, __file__],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.log,
            text=True,
            env=env,
        )
        self.count = 0

    def ask(self, request: dict) -> dict:
        if self.proc.poll() is not None:
            return {"error": "the worker ended at this model's first failure"}
        self.proc.stdin.write(json.dumps(request) + "\n")
        self.proc.stdin.flush()
        for line in self.proc.stdout:
            if line.startswith(_MARK):
                return json.loads(line[len(_MARK) :])
        self.log.seek(0)
        raise RuntimeError(f"the Keras {self.backend} worker ended:\n{self.log.read()[-3000:]}")

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.stdin.close()
            self.proc.wait(timeout=60)
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)  # the models and inputs it was sent


def _worker(backend: str) -> _Worker:
    if backend not in _workers or _workers[backend].proc.poll() is not None:
        _workers[backend] = _Worker(backend)
    return _workers[backend]


@atexit.register
def _close_all() -> None:
    for worker in _workers.values():
        worker.close()


def _attention_value_dim(node) -> bool:
    layer = node.layer
    return layer.kind == "MultiHeadAttention" and layer.value_dim not in (None, layer.key_dim)


def _inner_layer_norm(node) -> bool:
    if node.layer.kind != "LayerNorm":
        return False
    spec = node.inputs[0].spec
    axes = sorted(node.layer.norm_axes(spec))
    return axes != list(range(spec.rank - len(axes), spec.rank))


def _uneven_same_average(node) -> bool:
    """An average pool whose 'same' pads differ before and after (an odd total) on an axis it pools over more
    than 2 entries."""
    from twinnet.ir.layers.conv import resolve_pads, spatial_of

    layer = node.layer
    if layer.kind not in ("AvgPool1D", "AvgPool2D") or layer.padding != "same":
        return False
    spec = node.inputs[0].spec
    sizes = [spec.dim(a) for a in spatial_of(layer, spec, layer.rank)]
    pads = resolve_pads("same", sizes, layer.pool_size, layer.strides, (1,) * layer.rank)
    # the edge copies it pads with count as entries; in a 2-wide window the one real entry equals its copy
    return any(p is not None and p[0] != p[1] and k > 2 for p, k in zip(pads, layer.pool_size))


#: Keras's own bugs on a backend, each a gap of tests/known_gaps.toml: (gap id, backend, which IR nodes meet it)
KNOWN_GAPS = (
    ("keras-jax-attention-value-dim", "jax", _attention_value_dim),
    ("keras-torch-layer-norm-inner-axes", "torch", _inner_layer_norm),
    ("keras-torch-uneven-same-average-pool", "torch", _uneven_same_average),
)


def gaps_of(model) -> dict[str, str]:
    """``{backend: gap id}`` for the backends on which Keras itself cannot run ``model`` as it should."""
    return {backend: gap for gap, backend, meets in KNOWN_GAPS if any(meets(n) for n in model.layers)}


def references(model, backends=BACKENDS) -> dict:
    """``{"keras-<backend>": run}`` for ``verify(references=...)``: ``run(xs)`` gives ``to_keras(model)``'s
    outputs under that backend for inputs ``xs`` (declared layouts in and out, as ``verify``'s paths)."""
    from twinnet import ir

    found = {}
    for backend in backends:
        worker = _worker(backend)
        worker.count += 1
        path = worker.dir / f"model{worker.count}.safetensors"
        ir.save(model, path)
        found[f"keras-{backend}"] = _runner(worker, path)
    return found


def misses(model, backend: str, xs: list, want: list) -> bool:
    """Whether ``to_keras(model)`` under ``backend`` fails on ``xs`` or misses ``want`` (a known gap that holds)."""
    try:
        got = references(model, (backend,))[f"keras-{backend}"](xs)
    except AssertionError:
        return True
    return any(not np.allclose(g, w, atol=1e-5, rtol=1e-4) for g, w in zip(got, want))


def _runner(worker: _Worker, path: Path):
    def run(xs: list) -> list:
        inputs, outputs = path.with_suffix(".inputs.npz"), path.with_suffix(".outputs.npz")
        np.savez(inputs, *xs)
        reply = worker.ask({"model": str(path), "inputs": str(inputs), "outputs": str(outputs)})
        if "error" in reply:
            worker.close()  # it ends after a failure: the next model starts a new one
            if _workers.get(worker.backend) is worker:
                del _workers[worker.backend]
            raise AssertionError(f"to_keras under KERAS_BACKEND={worker.backend}: {reply['error']}")
        with np.load(outputs) as saved:
            return [saved[f"arr_{i}"] for i in range(len(saved.files))]

    return run


class _NoTensorFlow:
    """A finder whose ``import tensorflow`` fails as where it is not installed (``sys.modules`` keeps no entry,
    which Keras would take for TensorFlow being loaded); ``importlib.util.find_spec`` gets a spec without an
    origin, which torch's tracing rules pass over."""

    def find_spec(self, name, path=None, target=None):
        if name == "tensorflow" or name.startswith("tensorflow."):
            return importlib.machinery.ModuleSpec(name, self)
        return None

    def create_module(self, spec):
        raise ModuleNotFoundError(f"No module named {spec.name!r} (this Keras runs off TensorFlow)", name=spec.name)

    def exec_module(self, module):  # never reached: create_module refuses
        raise ModuleNotFoundError(module.__name__)


def _serve() -> None:
    try:
        _answer()
    finally:
        shutil.rmtree(os.environ[_DIR], ignore_errors=True)


def _answer() -> None:
    sys.meta_path.insert(0, _NoTensorFlow())
    import keras

    from twinnet import ir
    from twinnet.backends import to_keras
    from twinnet.exporters.targets import TARGETS

    assert keras.backend.backend() == os.environ["KERAS_BACKEND"]
    held: tuple[str, object] | None = None  # (model path, its runner): each model is compiled once
    for line in sys.stdin:
        request = json.loads(line)
        try:
            if held is None or held[0] != request["model"]:
                held = None
                keras.backend.clear_session()
                model = ir.load(request["model"])
                held = (request["model"], TARGETS["keras"].runner(to_keras(model), model))
            with np.load(request["inputs"]) as saved:
                xs = [saved[f"arr_{i}"] for i in range(len(saved.files))]
            np.savez(request["outputs"], *held[1](xs))
            reply = {"ok": True}
        except Exception as e:  # the test names it
            reply = {"error": f"{type(e).__name__}: {e}"}
        if "tensorflow" in sys.modules:
            reply = {"error": "TensorFlow was imported"}
        print(_MARK + json.dumps(reply), flush=True)
        if "error" in reply:
            return  # the next model gets a fresh worker


if __name__ == "__main__":
    _serve()
