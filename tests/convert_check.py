"""Helpers for the conversion tests: running an emitted file standalone, inputs and tolerances for Keras apps."""

import subprocess
import sys
from pathlib import Path

import numpy as np


def run_standalone(folder: Path, script: str, only: str | None = None) -> np.ndarray:
    """Run ``script`` in a fresh, isolated interpreter in ``folder``; returns the array it saved as ``out.npy``.

    ``only="torch"`` or ``"keras"``: the other framework cannot be imported there.
    """
    blocked = {"torch": ["keras", "tensorflow"], "keras": ["torch"], None: []}[only]
    script = f"import sys; sys.path.insert(0, '.')\nfor m in {blocked!r}: sys.modules[m] = None\n" + script
    out = subprocess.run(
        [sys.executable, "-I", "-c", script],
        cwd=folder,
        capture_output=True,
        text=True,
        env={"TF_CPP_MIN_LOG_LEVEL": "3", "PATH": "/usr/bin:/bin"},
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return np.load(folder / "out.npy")


def inputs_for(km, batch: int, seed: int = 0) -> np.ndarray:
    """Seeded N(0, 1) float32 inputs for the one-input Keras model ``km``."""
    return np.random.default_rng(seed).standard_normal((batch, *km.input_shape[1:])).astype(np.float32)


def scaled_atol(km, atol: float = 1e-5) -> float:
    """``atol * max(1, max|y|)`` over a probe batch: rounding errors accumulated through dozens of
    layers are relative to the size of the activations, not absolute."""
    return atol * max(1.0, float(np.abs(np.asarray(km(inputs_for(km, 2, seed=99), training=False))).max()))
