"""torch lowerings of Embedding and the recurrent layers.

Keras -> torch weights (docs/equivalence.md, section 9): kernels transposed; one Keras
bias becomes ``bias_ih`` with a zero ``bias_hh``; LSTM gate order i,f,c,o is
the same; GRU gates z,r,h are reordered to r,z,n; ``reset_after=False`` has no
torch layer and uses the inlined ``GRUResetBefore``. A batch-first sequence
uses ``batch_first=True``; a sequence-first one the torch default.
"""

from __future__ import annotations

import numpy as np

from ...ir.layers import GRU, LSTM, Bidirectional, Embedding, SimpleRNN
from ..lowering.code import Value, call


def lower_embedding(ctx, node, inputs):
    (x,) = inputs
    w = ctx.weights(node)
    layer = node.layer
    mod = ctx.module(node.name, call("nn.Embedding", layer.input_dim, layer.output_dim), {"weight": w["embeddings"]})
    return ctx.let(node.name, f"{mod}({x.var})", node.spec, x.phys + "C")


def _gru_gates(a: np.ndarray, axis: int = -1) -> np.ndarray:
    z, r, h = np.split(a, 3, axis=axis)
    return np.concatenate([r, z, h], axis=axis)


def rnn_params(layer, w: dict, suffix: str, prefix: str = "") -> dict:
    """torch parameters of one direction from Keras-layout weights."""
    kernel, recurrent = w[prefix + "kernel"], w[prefix + "recurrent_kernel"]
    bias = w.get(prefix + "bias")
    if isinstance(layer, GRU):
        kernel, recurrent = _gru_gates(kernel), _gru_gates(recurrent)
        if bias is not None:
            bias = _gru_gates(bias)
    out = {f"weight_ih{suffix}": kernel.T, f"weight_hh{suffix}": recurrent.T}
    if bias is None:
        return out
    if isinstance(layer, GRU) and not layer.reset_after:
        out[f"bias{suffix}"] = bias
    elif isinstance(layer, GRU):
        out[f"bias_ih{suffix}"], out[f"bias_hh{suffix}"] = bias[0], bias[1]
    else:
        out[f"bias_ih{suffix}"], out[f"bias_hh{suffix}"] = bias, np.zeros_like(bias)
    return out


def lower_rnn(ctx, node, inputs):
    (x,) = inputs
    layer = node.layer
    bidirectional = isinstance(layer, Bidirectional)
    cell = layer.layer if bidirectional else layer
    x = ctx.plain(x)
    if x.phys not in ("NTC", "TNC"):
        x = ctx.require(x, "NTC")
    batch_first = x.phys == "NTC"
    w = ctx.weights(node)
    if bidirectional:
        params = {**rnn_params(cell, w, "_l0", "forward_"), **rnn_params(cell, w, "_l0_reverse", "backward_")}
    else:
        params = rnn_params(cell, w, "_l0")
    kwargs = {"batch_first": True} if batch_first else {}
    if not cell.use_bias:
        kwargs["bias"] = False
    if bidirectional:
        kwargs["bidirectional"] = True
    c_in = x.spec.dim("C")
    if isinstance(cell, SimpleRNN):
        if cell.activation != "tanh":
            kwargs["nonlinearity"] = cell.activation
        ctor = call("nn.RNN", c_in, cell.units, **kwargs)
    elif isinstance(cell, LSTM):
        ctor = call("nn.LSTM", c_in, cell.units, **kwargs)
    elif cell.reset_after:
        ctor = call("nn.GRU", c_in, cell.units, **kwargs)
    else:
        ctx.program.helpers.add("GRUResetBefore")
        ctor = call(
            "GRUResetBefore", c_in, cell.units, batch_first=batch_first, bidirectional=bidirectional, bias=cell.use_bias
        )
    mod = ctx.module(node.name, ctor, params)
    if cell.return_sequences:
        var = ctx.fresh(node.name)
        ctx.program.body.append(f"{var}, _ = {mod}({x.var})")
        return Value(var, node.spec, x.phys)
    # The last output is the final hidden state: h_n[-1], or [forward, backward] when bidirectional
    # (out[:, -1] would be wrong for the backward half, which has seen only one step).
    h = ctx.fresh(f"{node.name}_h")
    state = f"({h}, _)" if isinstance(cell, LSTM) else h
    ctx.program.body.append(f"_, {state} = {mod}({x.var})")
    expr = f"torch.cat([{h}[0], {h}[1]], dim=1)" if bidirectional else f"{h}[-1]"
    return ctx.let(node.name, expr, node.spec, "NC")


TABLE = {Embedding: lower_embedding, SimpleRNN: lower_rnn, LSTM: lower_rnn, GRU: lower_rnn, Bidirectional: lower_rnn}


def fold_second_bias(layer, params: dict) -> dict:
    """Weights back for nn.RNN / nn.LSTM: :func:`rnn_params` compiles Keras's one bias as ``bias_ih`` beside a
    zero ``bias_hh``; torch adds the two, so a trained ``bias_hh`` goes back into ``bias_ih`` (and to zero).
    GRU keeps both biases of Keras (``reset_after``) or has one: nothing to fold."""
    cell = layer.layer if isinstance(layer, Bidirectional) else layer
    if isinstance(cell, GRU):
        return params
    out = dict(params)
    for name, value in params.items():
        if name.startswith("bias_hh"):
            ih = "bias_ih" + name[len("bias_hh") :]
            out[ih] = params[ih] + value
            out[name] = np.zeros_like(value)
    return out


#: weights back (backends/lowering/weights_back.py): copies, and the second recurrent bias folded
BACK = {
    Embedding: None,
    SimpleRNN: fold_second_bias,
    LSTM: fold_second_bias,
    GRU: fold_second_bias,
    Bidirectional: fold_second_bias,
}
