"""Deterministic weight initialisers (the ones Keras users expect), and the check of a weight dict.

Every weight draws from its own generator, seeded by the model seed and a
stable hash of the weight's name, so a weight's initial value does not depend
on the order layers were built in, on the process, or on the machine's hash
seed. All arrays are float32.
"""

from __future__ import annotations

import hashlib
import math

import numpy as np

from .errors import WeightError
from .layers.base import WeightSpec


def rng_for(seed: int, key: str) -> np.random.Generator:
    digest = hashlib.sha256(key.encode()).digest()
    return np.random.default_rng([seed & 0xFFFFFFFF, int.from_bytes(digest[:8], "little")])


def _fans(shape: tuple[int, ...]) -> tuple[int, int]:
    if len(shape) == 1:
        return shape[0], shape[0]
    receptive = math.prod(shape[:-2])
    return shape[-2] * receptive, shape[-1] * receptive


def glorot_uniform(shape, rng):
    fan_in, fan_out = _fans(shape)
    limit = math.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, size=shape)


def orthogonal(shape, rng):
    rows, cols = math.prod(shape[:-1]), shape[-1]
    a = rng.standard_normal((max(rows, cols), min(rows, cols)))
    q, r = np.linalg.qr(a)
    q = q * np.sign(np.diag(r))
    if rows < cols:
        q = q.T
    return q.reshape(shape)


def lstm_bias(shape, rng):
    out = np.zeros(shape)
    units = shape[0] // 4
    out[units : 2 * units] = 1.0  # unit_forget_bias, as Keras
    return out


INITIALIZERS = {
    "glorot_uniform": glorot_uniform,
    "orthogonal": orthogonal,
    "zeros": lambda shape, rng: np.zeros(shape),
    "ones": lambda shape, rng: np.ones(shape),
    "embedding_uniform": lambda shape, rng: rng.uniform(-0.05, 0.05, size=shape),
    "lstm_bias": lstm_bias,
}


def initial_value(spec: WeightSpec, seed: int, key: str) -> np.ndarray:
    """The initial value of one weight."""
    return INITIALIZERS[spec.init](spec.shape, rng_for(seed, key)).astype(spec.dtype)


def random_value(spec: WeightSpec, seed: int, key: str) -> np.ndarray:
    """A random value that exercises every weight: non-zero biases, BN/LN
    statistics away from 0/1 (variances positive), kernels at initial scale."""
    rng = rng_for(seed, "random/" + key)
    if spec.init == "ones":  # scales and variances: positive, away from 1
        return rng.uniform(0.5, 1.5, size=spec.shape).astype(spec.dtype)
    if spec.init in ("zeros", "lstm_bias"):
        return (0.3 * rng.standard_normal(spec.shape)).astype(spec.dtype)
    return initial_value(spec, seed, key)


def check_weights(specs: dict[str, WeightSpec], weights: dict, *, copy: bool = True) -> dict[str, np.ndarray]:
    """Validate a weight dict against the specs; returns copies in spec order (the arrays themselves when
    ``copy`` is False)."""
    if not isinstance(weights, dict):
        raise WeightError(f"weights must be a dict of arrays, got {type(weights).__name__}")
    missing = [k for k in specs if k not in weights]
    extra = [k for k in weights if k not in specs]
    if missing:
        raise WeightError(f"missing weight(s): {', '.join(missing[:10])}", layer=missing[0].split("/")[0])
    if extra:
        raise WeightError(f"unexpected weight(s): {', '.join(map(str, extra[:10]))}", layer=str(extra[0]).split("/")[0])
    out = {}
    for key, spec in specs.items():
        value = weights[key]
        if not isinstance(value, np.ndarray):
            raise WeightError(
                f"weight {key!r} must be a numpy array, got {type(value).__name__}", layer=key.split("/")[0]
            )
        if tuple(value.shape) != spec.shape:
            raise WeightError(
                f"weight {key!r} has shape {tuple(value.shape)}, expected {spec.shape}", layer=key.split("/")[0]
            )
        if value.dtype != np.dtype(spec.dtype):
            raise WeightError(f"weight {key!r} has dtype {value.dtype}, expected {spec.dtype}", layer=key.split("/")[0])
        out[key] = np.array(value, dtype=spec.dtype, copy=True) if copy else value
    return out
