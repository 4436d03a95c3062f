"""Keras importer entries for Embedding and the recurrent layers (gate orders match: the IR keeps Keras's)."""

from __future__ import annotations

from keras import layers as K

from ....ir import layers as L
from ....ir.errors import UnsupportedError
from .convert_helpers import _ACTIVATIONS, Converted, _config, _plain, activation, weights_of


def embedding(layer, inputs) -> Converted:
    _plain(layer)
    cfg = _config(layer, mask_zero=False)  # a mask changes what downstream layers compute
    return L.Embedding(cfg["input_dim"], cfg["output_dim"]), weights_of(layer)


_GATES = {K.LSTM: ("tanh", "sigmoid"), K.GRU: ("tanh", "sigmoid")}


def rnn_layer(layer) -> L.Layer:
    """The IR layer for a Keras SimpleRNN, LSTM or GRU (no weights)."""
    cfg = _config(layer, return_state=False, go_backwards=False, stateful=False)
    kind = type(layer)
    common = {"use_bias": cfg["use_bias"], "return_sequences": cfg["return_sequences"]}
    if kind is K.SimpleRNN:
        name = activation(layer.activation)
        if name not in ("tanh", "relu"):
            raise UnsupportedError(f"SimpleRNN activation {name!r} is not supported (tanh or relu)")
        return L.SimpleRNN(cfg["units"], activation=name, **common)
    expected = _GATES[kind]
    got = (_ACTIVATIONS.get(layer.activation), _ACTIVATIONS.get(layer.recurrent_activation))
    if got != expected:
        raise UnsupportedError(
            f"activation / recurrent_activation must be {expected[0]} / {expected[1]} "
            f"(what torch's {kind.__name__} computes)"
        )
    if kind is K.LSTM:
        return L.LSTM(cfg["units"], **common)
    return L.GRU(cfg["units"], reset_after=cfg["reset_after"], **common)


def rnn(layer, inputs) -> Converted:
    return rnn_layer(layer), weights_of(layer)


def bidirectional(layer, inputs) -> Converted:
    _config(layer, merge_mode="concat")
    if getattr(layer, "return_state", False):
        raise UnsupportedError("return_state=True is not supported")
    forward, backward = layer.forward_layer, layer.backward_layer
    for part in (forward, backward):
        if type(part) not in (K.SimpleRNN, K.LSTM, K.GRU):
            raise UnsupportedError(f"wraps {type(part).__name__}; the IR's Bidirectional takes SimpleRNN, LSTM or GRU")
    # Keras lets backward_layer be any RNN; the IR runs the same configuration both ways.
    same = {k: v for k, v in forward.get_config().items() if k not in ("name", "go_backwards")}
    other = {k: v for k, v in backward.get_config().items() if k not in ("name", "go_backwards")}
    if type(backward) is not type(forward) or same != other or not backward.go_backwards:
        raise UnsupportedError("backward_layer must be the forward layer's configuration run backwards")
    return L.Bidirectional(rnn_layer(forward)), {**weights_of(forward, "forward_"), **weights_of(backward, "backward_")}


# -- merges ----------------------------------------------------------------------------
