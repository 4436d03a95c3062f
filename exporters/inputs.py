"""The inputs a model is checked on: seeded ones that fit the model, or the user's own from an ``.npz`` file.

Seeded inputs (:func:`model_inputs`), one rule per kind of input:

* integer inputs: token ids in ``[0, vocabulary)``, the smallest ``input_dim`` of the Embedding
  layers that read the input (10 when none does);
* bool inputs: fair coins;
* key-padding masks of MultiHeadAttention: 0/1, key 0 always kept;
* image-like inputs (a spatial axis, D, H or W, and at most 4 channels): uniform in ``[-1, 1]``, the range
  most image models take after their preprocessing; when the input goes straight into a Rescaling
  layer, the range that layer maps to ``[-1, 1]`` (``[0, 255]`` for ``Rescaling(1/127.5, offset=-1)``);
* any other float input: standard normal.

User inputs (:func:`load_inputs`, ``--inputs FILE.npz``): one array per model input, stored under
the input's name, in its declared layout and dtype. A missing or unknown name, a wrong shape or a
wrong dtype is refused with a :class:`twinnet.ir.ConfigError` or :class:`twinnet.ir.ShapeError`
naming the input.
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import numpy as np

from ..ir.errors import ConfigError, ShapeError
from ..ir.layout import SPATIAL
from ..ir.tensor import fmt_shape


def model_inputs(model, batch: int, seq: int, *, seed: int = 0, layouts=None) -> list[np.ndarray]:
    """Seeded inputs for ``model`` (declared layouts, or ``layouts``, one per input), per the rules above."""
    rng = np.random.default_rng(seed)
    vocab = vocab_sizes(model)
    masks = attention_masks(model)
    out = []
    for i, t in enumerate(model.inputs):
        shape = t.spec.concrete(batch, seq)
        if t.dtype.startswith("int") or t.dtype.startswith("uint"):
            x = rng.integers(0, vocab.get(t.node.name, 10), size=shape).astype(t.dtype)
        elif t.dtype == "bool":
            x = rng.random(shape) < 0.5  # fair coins
        elif t.node.name in masks:
            # A query row with every key masked is undefined across frameworks (docs/equivalence.md, section 10):
            # keep key 0 so every row attends somewhere (with a causal mask too).
            x = (rng.random(shape) < 0.7).astype(np.float32)
            x[tuple(0 if a == "T" else slice(None) for a in t.layout)] = 1.0
        elif image_like(t):
            low, high = image_range(model, t)
            x = (low + (high - low) * rng.random(shape)).astype(t.dtype)
        else:
            x = rng.standard_normal(shape).astype(t.dtype)
        if layouts is not None and layouts[i] != t.layout:
            x = np.ascontiguousarray(x.transpose([t.layout.index(a) for a in layouts[i]]))
        out.append(x)
    return out


def image_like(t) -> bool:
    """A float input with a spatial axis and at most 4 channels (grey, RGB, RGBA)."""
    spec = t.spec
    return any(a in SPATIAL for a in spec.layout) and "C" in spec.layout and (spec.dim("C") or 0) <= 4


def image_range(model, t) -> tuple[np.ndarray | float, np.ndarray | float]:
    """``[-1, 1]``, or what the Rescaling reading input ``t`` maps to it (per channel where it has one per channel)."""
    readers = [n for n in model.layers if any(i.node is t.node for i in n.inputs)]
    if len(readers) != 1 or readers[0].layer.kind != "Rescaling":
        return -1.0, 1.0
    layer = readers[0].layer
    scale, offset = np.asarray(layer.scale, np.float64), np.asarray(layer.offset, np.float64)
    if np.any(scale == 0):
        return -1.0, 1.0
    ends = ((-1.0 - offset) / scale, (1.0 - offset) / scale)
    low, high = np.minimum(*ends), np.maximum(*ends)
    if low.ndim:  # one value per channel: broadcast along C of the declared layout
        shape = [1] * t.spec.rank
        shape[t.spec.layout.index("C")] = -1
        low, high = low.reshape(shape), high.reshape(shape)
    return low, high


def vocab_sizes(model) -> dict[str, int]:
    """Model input name -> the smallest ``input_dim`` of the Embedding layers reading it."""
    vocab = {}
    for node in model.layers:
        if node.layer.kind == "Embedding":
            src = node.inputs[0].node.name
            vocab[src] = min(vocab.get(src, node.layer.input_dim), node.layer.input_dim)
    return vocab


def attention_masks(model) -> set[str]:
    """Names of the model inputs used directly as a MultiHeadAttention key-padding mask (its last input, without C)."""
    return {
        node.inputs[-1].node.name
        for node in model.layers
        if node.layer.kind == "MultiHeadAttention"
        and "C" not in node.inputs[-1].layout
        and node.inputs[-1].node.is_input
    }


def given_inputs(model, inputs) -> list[np.ndarray]:
    """The user's inputs, checked: a path to an ``.npz`` file, ``{input name: array}``, or arrays in input order."""
    if isinstance(inputs, (str, os.PathLike)):
        return load_inputs(model, inputs)
    if isinstance(inputs, dict):
        return inputs_by_name(model, inputs)
    return checked_inputs(model, inputs)


def load_inputs(model, path) -> list[np.ndarray]:
    """The arrays of ``path`` (an ``.npz`` file), one per model input by name, checked (see the module docstring)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{str(path)!r}: no such inputs file")
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {name: data[name] for name in data.files}
    except (OSError, ValueError, zipfile.BadZipFile) as e:
        raise ConfigError(f"{str(path)!r} is not an .npz file of arrays: {e}") from None
    return inputs_by_name(model, arrays, where=repr(str(path)))


def inputs_by_name(model, arrays: dict, where: str = "inputs") -> list[np.ndarray]:
    """``{input name: array}`` -> the list in the model's input order, each checked (:func:`checked_inputs`)."""
    names = [t.node.name for t in model.inputs]
    missing = [n for n in names if n not in arrays]
    extra = sorted(set(arrays) - set(names))
    if missing or extra:
        parts = [f"no array for input {', '.join(map(repr, missing))}"] if missing else []
        parts += [f"no model input named {', '.join(map(repr, extra))}"] if extra else []
        raise ConfigError(f"{where}: {'; '.join(parts)} (model {model.name!r} takes {', '.join(map(repr, names))})")
    return checked_inputs(model, [arrays[n] for n in names])


def checked_inputs(model, inputs) -> list[np.ndarray]:
    """User-given arrays (declared layouts), checked against the model's inputs before any framework sees them."""
    xs = [np.asarray(inputs)] if isinstance(inputs, np.ndarray) else [np.asarray(x) for x in inputs]
    if len(xs) != len(model.inputs):
        raise ShapeError(f"verify got {len(xs)} input array(s); model {model.name!r} has {len(model.inputs)} input(s)")
    for x, t in zip(xs, model.inputs):
        spec = t.spec
        if x.ndim != spec.rank or any(s is not None and s != n for s, n in zip(spec.shape, x.shape)):
            raise ShapeError(
                f"verify got an array of shape {x.shape}, expected {fmt_shape(spec)} in layout {spec.layout!r}",
                layer=t.node.label,
            )
        if x.dtype != np.dtype(spec.dtype):
            raise ConfigError(f"verify got a {x.dtype} array, expected {spec.dtype}", layer=t.node.label)
    return xs
