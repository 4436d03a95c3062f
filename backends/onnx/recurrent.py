"""ONNX lowerings of Embedding and the recurrent layers (SimpleRNN, LSTM, GRU, Bidirectional).

Keras -> ONNX weights, per direction (ONNX stacks directions on a leading axis):
``W = kernel.T`` ``(gates*units, in)``, ``R = recurrent_kernel.T``, ``B = [Wb, Rb]``.
ONNX's LSTM gate order is i, o, f, c (Keras: i, f, c, o); GRU's is z, r, h, as in
Keras. Keras's one bias is ``Wb`` with a zero ``Rb``, except GRU
``reset_after=True`` whose two biases are ``Wb`` and ``Rb`` (``linear_before_reset=1``
adds ``Rb`` inside the reset product, as Keras 3 does); ``reset_after=False``
is ONNX's default ``linear_before_reset=0`` (``Rbh`` outside the product, and zero).

onnxruntime (1.32, CPU) refuses ``layout=1`` ("Batchwise recurrent operations
(layout == 1) are not supported"), so the ops run sequence-first (``TNC``) and
their results stay held ``TNC``: stacked layers need no transpose in between,
and the driver transposes once where a batch-first tensor is needed.
"""

from __future__ import annotations

import numpy as np

from ...ir.layers import GRU, LSTM, Bidirectional, Embedding, SimpleRNN
from .compile import Op

#: Keras gate index of each ONNX gate, in ONNX's order
_GATES = {LSTM: (0, 3, 1, 2), GRU: (0, 1, 2), SimpleRNN: (0,)}
_OP = {LSTM: "LSTM", GRU: "GRU", SimpleRNN: "RNN"}


def lower_embedding(ctx, node, inputs):
    (x,) = inputs
    table = ctx.const(f"{node.name}_embeddings", ctx.weights(node)["embeddings"].astype(np.float32))
    # Gather takes int32 and int64 indices alike: the token ids go in as they come.
    return ctx.let(node.name, Op("Gather", (table, x.var), {"axis": 0}), node.spec, x.phys + "C")


def _regate(a: np.ndarray, cell) -> np.ndarray:
    """``a`` with its last axis (``gates*units``, Keras's gate order) in ONNX's gate order."""
    parts = np.split(a, len(_GATES[type(cell)]), axis=-1)
    return np.concatenate([parts[k] for k in _GATES[type(cell)]], axis=-1)


def direction_weights(cell, w: dict, prefix: str = "") -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """(W, R, B) of one direction, without the direction axis, from Keras-layout weights."""
    kernel = _regate(w[prefix + "kernel"], cell).T
    recurrent = _regate(w[prefix + "recurrent_kernel"], cell).T
    bias = w.get(prefix + "bias")
    if bias is None:
        return kernel, recurrent, None
    if isinstance(cell, GRU) and cell.reset_after:
        return kernel, recurrent, np.concatenate([bias[0], bias[1]])  # input bias Wb, recurrent bias Rb
    return kernel, recurrent, np.concatenate([_regate(bias, cell), np.zeros_like(bias)])


def _attrs(cell, directions: int) -> dict:
    attrs = {"hidden_size": cell.units, "direction": "bidirectional" if directions == 2 else "forward"}
    if isinstance(cell, SimpleRNN):
        # ONNX's RNN defaults to Tanh; the activations list has one entry per direction.
        attrs["activations"] = [{"tanh": "Tanh", "relu": "Relu"}[cell.activation]] * directions
    if isinstance(cell, GRU):
        attrs["linear_before_reset"] = int(cell.reset_after)
    return attrs


def lower_rnn(ctx, node, inputs):
    """One ONNX RNN / LSTM / GRU node (both directions in one, ``direction="bidirectional"``), then its
    sequence ``Y`` or final state ``Y_h`` reshaped to what the layer returns."""
    layer = node.layer
    bidirectional = isinstance(layer, Bidirectional)
    cell = layer.layer if bidirectional else layer
    x = ctx.require(ctx.plain(inputs[0]), "TNC")
    w = ctx.weights(node)
    parts = [direction_weights(cell, w, p) for p in (("forward_", "backward_") if bidirectional else ("",))]
    base, op_type = node.name, _OP[type(cell)]
    args = [
        x.var,
        ctx.const(f"{base}_W", np.stack([p[0] for p in parts]).astype(np.float32)),
        ctx.const(f"{base}_R", np.stack([p[1] for p in parts]).astype(np.float32)),
    ]
    if cell.use_bias:  # an omitted B is zero
        args.append(ctx.const(f"{base}_B", np.stack([p[2] for p in parts]).astype(np.float32)))
    attrs = _attrs(cell, len(parts))
    if cell.return_sequences:
        y = ctx.op(op_type, *args, base=f"{base}_{op_type.lower()}", **attrs)
        return ctx.let(base, _sequence(ctx, y, bidirectional, base), node.spec, "TNC")
    # The last output is the final hidden state Y_h (dirs, N, units): for the backward direction that is its
    # state after reading the whole sequence backwards, which is what Keras returns (Y[-1] would not be).
    _, y_h = ctx.op(op_type, *args, base=f"{base}_{op_type.lower()}", outputs=2, unused=(0,), **attrs)
    if not bidirectional:
        return ctx.let(base, Op("Squeeze", (y_h, ctx.ints(f"{base}_axes", [0]))), node.spec, "NC")
    # [forward, backward] along the features: each direction taken out with a 0-d Gather, then one Concat --
    # the form torch's exporter writes, so twinnet's ONNX importer reads this file back as a Bidirectional.
    sides = [
        ctx.op("Gather", y_h, ctx.const(f"{base}_{side}", np.array(d, np.int64)), base=f"{base}_{side}_h", axis=0)
        for d, side in enumerate(("forward", "backward"))
    ]
    return ctx.let(base, Op("Concat", tuple(sides), {"axis": -1}), node.spec, "NC")


def _sequence(ctx, y: str, bidirectional: bool, base: str) -> Op:
    """ONNX's ``Y (T, dirs, N, units)`` as ``(T, N, dirs*units)``: [forward, backward] per step (ONNX indexes
    the backward outputs by input step, as Keras's concatenation does)."""
    if not bidirectional:
        return Op("Squeeze", (y, ctx.ints(f"{base}_axes", [1])))
    steps_first = ctx.op("Transpose", y, base=f"{base}_tnds", perm=[0, 2, 1, 3])
    return Op("Reshape", (steps_first, ctx.ints(f"{base}_shape", (0, 0, -1))))


TABLE = {Embedding: lower_embedding, SimpleRNN: lower_rnn, LSTM: lower_rnn, GRU: lower_rnn, Bidirectional: lower_rnn}


def fold_recurrent_bias(layer, params: dict) -> dict:
    """Weights back for ONNX's RNN / LSTM / GRU: ``B = [Wb, Rb]`` where :func:`direction_weights` wrote
    Keras's one bias as ``Wb`` beside a zero ``Rb``; the op adds the two, so a trained ``Rb`` goes back into
    ``Wb`` (and to zero). GRU ``reset_after=True`` holds Keras's two biases there: nothing to fold."""
    cell = layer.layer if isinstance(layer, Bidirectional) else layer
    if isinstance(cell, GRU) and cell.reset_after:
        return params
    out = dict(params)
    for name, value in params.items():
        if value.ndim == 2:  # B, (directions, 2 * gates * units); W and R have three axes
            wb, rb = np.split(value, 2, axis=-1)
            out[name] = np.concatenate([wb + rb, np.zeros_like(rb)], axis=-1)
    return out


#: weights back (backends/lowering/weights_back.py): copies, and the recurrent bias folded
BACK = {
    Embedding: None,
    SimpleRNN: fold_recurrent_bias,
    LSTM: fold_recurrent_bias,
    GRU: fold_recurrent_bias,
    Bidirectional: fold_recurrent_bias,
}
