"""``nn.LSTM`` / ``nn.GRU`` / ``nn.RNN`` -> IR recurrent layers, and reading which output the module uses.

A torch RNN returns ``(output, h_n)`` (LSTM: ``(output, (h_n, c_n))``); the
IR's layers return either the whole sequence or the last step. So the call is
kept as a :class:`RnnCall` and turned into IR layers only when the graph
selects a tensor from it (``getitem`` and ``squeeze`` in ``ops.py``):

* ``output`` (``out, _ = lstm(x)``) -> every layer ``return_sequences=True``;
* ``output[:, -1]`` (``output[-1]`` sequence-first), ``h_n[-1]``, ``h_n.squeeze(0)``
  (one layer) -> the last layer ``return_sequences=False``;
* bidirectional: ``torch.cat([h_n[-2], h_n[-1]], dim=1)`` -> ``Bidirectional``'s
  last output [forward, backward];
* any other index of ``output``, and a bidirectional ``output[:, -1]`` (whose
  backward half has seen one step, docs/equivalence.md, section 9): the whole
  sequence, then that slice of it (``slicing.py``).

``num_layers=k`` becomes k IR layers (``<name>_l0`` ...). Weights (docs/equivalence.md,
section 9; the inverse of ``backends/torch/recurrent.py``): kernels transposed; LSTM
gates i,f,g,o are Keras's i,f,c,o and ``b_ih + b_hh`` fold into one bias; GRU
gates r,z,n are reordered to Keras's z,r,h and the two biases stack into the
``(2, 3U)`` bias of ``GRU(reset_after=True)``, which is what ``nn.GRU`` computes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from torch import nn

from ....ir import layers as L
from ....ir.errors import UnsupportedError


class Lazy:
    """A value from the traced graph that becomes IR only when a tensor is taken from it."""

    def materialize(self, ctx):
        raise UnsupportedError(self.why)

    why = "is not a tensor the IR can represent"


def _array(t) -> np.ndarray:
    return t.detach().cpu().numpy().astype(np.float32)


def _gru_gates(a: np.ndarray) -> np.ndarray:
    r, z, n = np.split(a, 3, axis=0)  # torch r, z, n -> Keras z, r, h
    return np.concatenate([z, r, n], axis=0)


def direction_weights(m, k: int, reverse: bool, prefix: str = "") -> dict:
    """Keras-layout weights of layer ``k`` (one direction) of a torch RNN."""
    sfx = f"_l{k}" + ("_reverse" if reverse else "")
    w_ih, w_hh = _array(getattr(m, "weight_ih" + sfx)), _array(getattr(m, "weight_hh" + sfx))
    gru = isinstance(m, nn.GRU)
    if gru:
        w_ih, w_hh = _gru_gates(w_ih), _gru_gates(w_hh)
    out = {"kernel": w_ih.T, "recurrent_kernel": w_hh.T}
    if m.bias:
        b_ih, b_hh = _array(getattr(m, "bias_ih" + sfx)), _array(getattr(m, "bias_hh" + sfx))
        out["bias"] = np.stack([_gru_gates(b_ih), _gru_gates(b_hh)]) if gru else b_ih + b_hh
    return {prefix + key: v for key, v in out.items()}


@dataclass(eq=False)
class RnnCall(Lazy):
    """One call of a torch RNN module, waiting for the graph to say which output it uses."""

    module: nn.RNNBase
    x: object  # the IR input
    name: str
    built: dict = field(default_factory=dict)  # return_sequences -> IR tensor
    why = "the (output, h_n) tuple of an RNN is not a tensor; select output or h_n from it"

    @property
    def directions(self) -> int:
        return 2 if self.module.bidirectional else 1

    def build(self, ctx, last: bool, call):
        """The IR layers; ``last``: the final layer returns only its last step."""
        if last in self.built:
            return self.built[last]
        m = self.module
        suffix = "_last" if (not last) in self.built else ""
        y = self.x
        for k in range(m.num_layers):
            sequences = not (last and k == m.num_layers - 1)
            if isinstance(m, nn.LSTM):
                inner = L.LSTM(m.hidden_size, use_bias=m.bias, return_sequences=sequences)
            elif isinstance(m, nn.GRU):
                inner = L.GRU(m.hidden_size, use_bias=m.bias, return_sequences=sequences, reset_after=True)
            else:
                inner = L.SimpleRNN(
                    m.hidden_size, activation=m.nonlinearity, use_bias=m.bias, return_sequences=sequences
                )
            if m.bidirectional:
                layer = L.Bidirectional(inner)
                weights = {**direction_weights(m, k, False, "forward_"), **direction_weights(m, k, True, "backward_")}
            else:
                layer, weights = inner, direction_weights(m, k, False)
            if m.num_layers == 1 and not suffix:
                name = self.name  # claimed when the call was converted
            else:
                name = ctx.claim(self.name + (f"_l{k}" if m.num_layers > 1 else "") + suffix)
            y = ctx.add(call, layer, [y], weights, name=name, check=False)
        ctx.check_shape(y, call.node)
        self.built[last] = y
        return y


@dataclass(eq=False)
class RnnOutput(Lazy):
    """``output`` of an RNN call: the whole sequence, unless only its last step is taken."""

    call: RnnCall
    node_call: object

    def materialize(self, ctx):
        return self.call.build(ctx, False, self.node_call)


@dataclass(eq=False)
class RnnState(Lazy):
    """``h_n`` (part "h"), ``c_n`` ("c") or LSTM's ``(h_n, c_n)`` ("hc")."""

    call: RnnCall
    part: str
    why = (
        "an RNN's state tensor has the layers and directions on its first axis; take h_n[-1] (or "
        "torch.cat([h_n[-2], h_n[-1]], 1) when bidirectional)"
    )


@dataclass(eq=False)
class RnnHalf(Lazy):
    """``h_n[i]`` of a bidirectional RNN's last layer: one direction (0 forward, 1 backward)."""

    call: RnnCall
    direction: int
    why = (
        "one direction of a bidirectional RNN's state: the IR's Bidirectional gives both, concatenated; "
        "use torch.cat([h_n[-2], h_n[-1]], dim=1)"
    )


def rnn(ctx, call) -> RnnCall:
    """An ``nn.LSTM`` / ``nn.GRU`` / ``nn.RNN`` call (converted when an output is selected)."""
    m = call.module
    if len(call.args) > 1 or call.kwargs:
        raise UnsupportedError("an initial state (h0 / (h0, c0)) is not supported: the IR's RNNs start from zeros")
    if getattr(m, "proj_size", 0):
        raise UnsupportedError("proj_size > 0 (a projected LSTM) has no IR equivalent")
    x = ctx.tensor(call.args[0])
    if x.spec.rank != 3:
        raise UnsupportedError(f"expects a batched rank-3 sequence, got rank {x.spec.rank}")
    return RnnCall(m, ctx.relabel(x, "NTC" if m.batch_first else "TNC", call), call.name)


def select(ctx, call, value, index):
    """``value[index]`` for RNN outputs and states (None: not an RNN value)."""
    if isinstance(value, RnnCall):
        if index == 0:
            return RnnOutput(value, call)
        if index == 1:
            return RnnState(value, "hc" if isinstance(value.module, nn.LSTM) else "h")
    elif isinstance(value, RnnState) and value.part == "hc" and index in (0, 1):
        return RnnState(value.call, "hc"[index])
    elif isinstance(value, RnnState) and value.part == "c":
        raise UnsupportedError("the LSTM cell state c_n has no IR equivalent (the IR's LSTM returns h)")
    elif isinstance(value, RnnState) and isinstance(index, int):
        rnn_call = value.call
        total = rnn_call.module.num_layers * rnn_call.directions
        if not -total <= index < total or (index % total) // rnn_call.directions != rnn_call.module.num_layers - 1:
            raise UnsupportedError(f"h_n[{index}] is not the last layer's state; the IR gives only the last layer's")
        if rnn_call.directions == 2:
            return RnnHalf(rnn_call, (index % total) % 2)
        return rnn_call.build(ctx, True, call)
    elif isinstance(value, RnnOutput):
        first = value.call.module.batch_first
        last_step = (slice(None), -1) if first else -1
        if index == last_step or (
            isinstance(index, tuple)
            and index[:2] == (slice(None), -1)
            and first
            and all(i == slice(None) for i in index[2:])
        ):
            if value.call.directions == 1:
                return value.call.build(ctx, True, call)
        # any other step or range, and a bidirectional RNN's output[:, -1] (the forward half's last step beside
        # the backward half's first): a slice of the whole sequence output, which is what torch computes
        from .slicing import index_tensor

        return index_tensor(ctx, call, value.materialize(ctx), index)
    else:
        return None
    raise UnsupportedError(f"index {index!r} of an RNN result is not supported")


def squeeze_state(ctx, call, value, dims):
    """``h_n.squeeze(0)`` of a one-layer, one-direction RNN: its last output (None: not that)."""
    if isinstance(value, RnnState) and value.part == "h" and dims in ((0,), ()):
        rnn_call = value.call
        if rnn_call.module.num_layers * rnn_call.directions == 1:
            return rnn_call.build(ctx, True, call)
    return None


def concat_halves(ctx, call, values, dim):
    """``torch.cat([h_n[-2], h_n[-1]], dim=1)``: a Bidirectional's last output (None: not that)."""
    if (
        len(values) == 2
        and all(isinstance(v, RnnHalf) for v in values)
        and values[0].call is values[1].call
        and [v.direction for v in values] == [0, 1]
        and dim in (1, -1)
    ):
        return values[0].call.build(ctx, True, call)
    return None
