"""Keras lowerings of Embedding and the recurrent layers.

IR weights already use Keras's layout and gate order (see ``ir/layers/recurrent.py``),
so they copy as is. Keras recurrent layers are batch-first: a sequence-first
(``TNC``) input is already held ``NTC`` by this backend. ``Bidirectional``'s
``get_weights()`` lists the forward layer's weights, then the backward layer's.
"""

from __future__ import annotations

from ...ir.layers import GRU, LSTM, Bidirectional, Embedding, SimpleRNN
from ..lowering.code import call


def lower_embedding(ctx, node, inputs):
    (x,) = inputs
    layer = node.layer
    w = ctx.weights(node)
    ctor = call("layers.Embedding", layer.input_dim, layer.output_dim)
    return ctx.layer(node.name, ctor, x.var, node.spec, x.phys + "C", [w["embeddings"]])


def rnn_ctor(cell) -> str:
    """Constructor of one recurrent layer (no name: inside Bidirectional Keras names it)."""
    kwargs = {}
    if isinstance(cell, SimpleRNN) and cell.activation != "tanh":
        kwargs["activation"] = cell.activation
    if not cell.use_bias:
        kwargs["use_bias"] = False
    if cell.return_sequences:
        kwargs["return_sequences"] = True
    if isinstance(cell, GRU) and not cell.reset_after:
        kwargs["reset_after"] = False
    return call(f"layers.{type(cell).__name__}", cell.units, **kwargs)


def _weights(cell, w: dict, prefix: str = "") -> list:
    out = [w[prefix + "kernel"], w[prefix + "recurrent_kernel"]]
    return out + [w[prefix + "bias"]] if cell.use_bias else out


def lower_rnn(ctx, node, inputs):
    (x,) = inputs
    layer = node.layer
    x = ctx.require(x, "NTC")
    w = ctx.weights(node)
    if isinstance(layer, Bidirectional):
        cell = layer.layer
        ctor = f"layers.Bidirectional({rnn_ctor(cell)}, merge_mode={layer.merge_mode!r})"
        weights = _weights(cell, w, "forward_") + _weights(cell, w, "backward_")
    else:
        cell, ctor, weights = layer, rnn_ctor(layer), _weights(layer, w)
    phys = "NTC" if cell.return_sequences else "NC"
    return ctx.layer(node.name, ctor, x.var, node.spec, phys, weights)


TABLE = {Embedding: lower_embedding, SimpleRNN: lower_rnn, LSTM: lower_rnn, GRU: lower_rnn, Bidirectional: lower_rnn}

#: weights back (backends/lowering/weights_back.py): Keras holds the IR's layout, every weight is a copy
BACK = dict.fromkeys(TABLE)  # every kind of this family has weights, each copied as is
