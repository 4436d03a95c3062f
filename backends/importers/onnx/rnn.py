"""ONNX LSTM / GRU / RNN ops -> the IR's LSTM, GRU, SimpleRNN (and Bidirectional).

The pattern rule ``fuse_recurrent`` has already decided ``return_sequences``
(which of Y / Y_h the graph reads). Weights go to Keras's layout:

  * ONNX ``W`` is ``(directions, gates*U, I)``, ``R`` ``(directions, gates*U, U)``,
    ``B`` ``(directions, 2*gates*U)`` = [input biases; recurrent biases].
    Keras keeps ``kernel (I, gates*U)`` and ``recurrent_kernel (U, gates*U)``: transposes.
  * LSTM gates: ONNX ``i, o, f, c``; Keras ``i, f, c, o``. One Keras bias = input + recurrent bias.
  * GRU gates: ``z, r, h`` in both. ``linear_before_reset=1`` is Keras's
    ``reset_after=True`` with bias ``(2, 3U)`` = [input; recurrent]; 0 is
    ``reset_after=False`` with the two biases summed.
"""

from __future__ import annotations

import numpy as np

from ....ir import layers as L
from ....ir.errors import UnsupportedError

_LSTM_ORDER = (0, 2, 3, 1)  # ONNX i, o, f, c -> Keras i, f, c, o
_DEFAULT_ACTIVATIONS = {"LSTM": ["Sigmoid", "Tanh", "Tanh"], "GRU": ["Sigmoid", "Tanh"]}


def _gates(a: np.ndarray, order, axis: int = 0) -> np.ndarray:
    parts = np.split(a, len(order), axis=axis)
    return np.concatenate([parts[i] for i in order], axis=axis)


def _zero_or_absent(ctx, index: int, what: str) -> None:
    value = ctx.const(index, what) if index < len(ctx.op.inputs) and ctx.op.inputs[index] else None
    if value is not None and not isinstance(value, str) and np.any(value):  # ZEROS (a str) is fine
        raise UnsupportedError(
            f"a non-zero {what} is not supported: the IR's recurrent layers start from zeros and have no peepholes"
        )


def _activations(ctx, kind: str, directions: int) -> str:
    names = [a.decode() if isinstance(a, bytes) else a for a in ctx.attr("activations", [])]
    if kind == "RNN":
        names = names or ["Tanh"] * directions
        if len(set(names)) != 1 or names[0] not in ("Tanh", "Relu"):
            raise UnsupportedError(f"activations {names}: the IR's SimpleRNN uses tanh or relu in both directions")
        return names[0].lower()
    default = _DEFAULT_ACTIVATIONS[kind]
    if names and names != default * directions:
        raise UnsupportedError(f"activations {names}: the IR's {kind} uses the standard {default}")
    return ""


def _direction_weights(kind: str, w, r, b, reset_after: bool) -> dict[str, np.ndarray]:
    # RNN has one gate: splitting its rows in three only worked when the units happened to divide by three
    order = {"LSTM": _LSTM_ORDER, "GRU": (0, 1, 2), "RNN": (0,)}[kind]
    out = {"kernel": _gates(w, order).T.copy(), "recurrent_kernel": _gates(r, order).T.copy()}
    if b is not None:
        wb, rb = np.split(b, 2)
        wb, rb = _gates(wb, order), _gates(rb, order)
        out["bias"] = np.stack([wb, rb]) if kind == "GRU" and reset_after else wb + rb
    return out


def recurrent(ctx):
    op, kind = ctx.op, ctx.op.op_type
    if "return_sequences" not in op.attrs:
        raise UnsupportedError(
            "its outputs are not read in a form the IR has: either the whole sequence Y with "
            "the direction axis removed (Squeeze, or Transpose+Reshape for two directions), or "
            "the last state Y_h taken per direction (Gather/Squeeze, Concat for two); Y_c and "
            "reading both are not supported"
        )
    direction = ctx.attr("direction", "forward")
    if direction not in ("forward", "bidirectional"):
        raise UnsupportedError(f"direction={direction!r}: the IR runs forward, or both ways in a Bidirectional")
    directions = 2 if direction == "bidirectional" else 1
    ctx.x("NTC" if ctx.attr("layout", 0) else "TNC")
    if ctx.attr("clip") is not None or ctx.attr("input_forget", 0):
        raise UnsupportedError("clip and input_forget are not supported")
    activation = _activations(ctx, kind, directions)
    if len(op.inputs) > 4 and op.inputs[4]:
        raise UnsupportedError("sequence_lens (per-sample lengths, i.e. masking) is not supported")
    for index, what in ((5, "initial_h"), (6, "initial_c"), (7, "peephole weights P")):
        _zero_or_absent(ctx, index, what)
    w, r, b = ctx.array(1, "W"), ctx.array(2, "R"), ctx.array(3, "B")
    units = int(ctx.attr("hidden_size", r.shape[-1]))
    reset_after = bool(ctx.attr("linear_before_reset", 0))
    common = {"units": units, "use_bias": b is not None, "return_sequences": bool(op.attrs["return_sequences"])}
    if kind == "LSTM":
        cell = L.LSTM(**common)
    elif kind == "GRU":
        cell = L.GRU(reset_after=reset_after, **common)
    else:
        cell = L.SimpleRNN(activation=activation, **common)
    per = [_direction_weights(kind, w[d], r[d], None if b is None else b[d], reset_after) for d in range(directions)]
    if directions == 1:
        return cell, per[0]
    weights = {f"{side}_{k}": v for side, part in zip(("forward", "backward"), per) for k, v in part.items()}
    return L.Bidirectional(cell), weights
