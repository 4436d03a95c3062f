"""What every Keras importer entry uses: activation lookup, weights by name, axis letters, config checks."""

from __future__ import annotations

import keras
import numpy as np

from ....ir import layers as L
from ....ir.errors import UnsupportedError
from ....ir.tensor import Tensor

Converted = tuple[L.Layer, dict[str, np.ndarray]]

# Keras activation function -> IR name. Matched by identity: a user function
# that happens to be called "relu" is not Keras's relu. The defaults of these
# functions are the IR's (gelu exact, elu alpha 1, leaky_relu slope 0.2,
# softmax over the last axis, which is C in an imported tensor).
_ACTIVATIONS = {
    keras.activations.get(name): ir_name
    for name, ir_name in [
        ("linear", "linear"),
        ("relu", "relu"),
        ("sigmoid", "sigmoid"),
        ("tanh", "tanh"),
        ("softmax", "softmax"),
        ("log_softmax", "log_softmax"),
        ("gelu", "gelu"),
        ("silu", "silu"),
        ("elu", "elu"),
        ("selu", "selu"),
        ("leaky_relu", "leaky_relu"),
        ("softplus", "softplus"),
        ("hard_sigmoid", "hard_sigmoid"),
        ("hard_silu", "hard_swish"),
    ]
}


def activation(fn) -> str:
    """The IR name of a Keras activation function."""
    name = _ACTIVATIONS.get(fn)
    if name is None:
        label = getattr(fn, "__name__", repr(fn))
        known = ", ".join(sorted(set(_ACTIVATIONS.values())))
        raise UnsupportedError(
            f"activation {label!r} ({getattr(fn, '__module__', '?')}) is not one of the "
            f"keras.activations functions the IR has: {known}"
        )
    return name


def weights_of(layer, prefix: str = "") -> dict[str, np.ndarray]:
    """A Keras layer's variables by short name (``kernel``, ``moving_mean``...), as float32 arrays.

    Keyed by the variable's own name (the last part of its path), never by the
    position in ``layer.weights``, so a reordering in Keras cannot shift weights.
    """
    out = {}
    for v in layer.weights:
        key = prefix + v.name
        if key in out:
            raise UnsupportedError(f"has two weights named {v.name!r} ({v.path})")
        out[key] = np.asarray(keras.ops.convert_to_numpy(v), dtype=np.float32)
    return out


def letter(axis, tensor: Tensor, what: str = "axis") -> str:
    """The layout letter of a Keras axis index (batch included, negatives allowed)."""
    layout = tensor.layout
    if isinstance(axis, bool) or not isinstance(axis, int) or not -len(layout) <= axis < len(layout):
        raise UnsupportedError(f"{what}={axis!r} does not name one axis of a rank-{len(layout)} tensor")
    found = layout[axis]
    if found == "N":
        raise UnsupportedError(f"{what}={axis!r} is the batch axis")
    return found


def _config(layer, **required) -> dict:
    """``layer.get_config()``, refusing options whose value the IR cannot represent."""
    cfg = layer.get_config()
    for key, expected in required.items():
        if key in cfg and cfg[key] != expected:
            raise UnsupportedError(f"{key}={cfg[key]!r} is not supported (the IR needs {key}={expected!r})")
    return cfg


def _plain(layer) -> None:
    """Refuse LoRA adapters: they add weights the IR layer does not have."""
    if getattr(layer, "lora_enabled", False):
        raise UnsupportedError("has LoRA enabled; merge the adapter into the kernel first")
