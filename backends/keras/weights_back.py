"""Weights back from Keras: a trained ``keras.Model`` compiled from a model, its weights copied into the IR.

The exact inverse of this backend's compile-time transfer, read from that
transfer itself (``backends/lowering/weights_back.py``): the model's
architecture is lowered as ``to_keras`` lowers it, each layer's weights keyed
``"<layer>:<index in get_weights()>"``. ``BACK`` has one entry per layer kind
with weights, joined from the family files beside their lowerings. Keras
holds the IR's layout, so the transfer is mostly the identity, except where
the model declares channels-first tensors (Flatten orders folded into Dense).
It reads the model ``to_keras`` returns and the one the emitted file builds.
"""

from __future__ import annotations

import numpy as np

from ...ir.errors import WeightError
from ...ir.graph import Model
from ..lowering.weights_back import Transfer, pull_back, trace
from ..tables import join_tables
from . import attention, constant, conv, conv_variants, core, lower, norm, ops_tensors, recurrent

#: IR layer class -> None (copies only) or its fold, for every kind with weights
BACK = join_tables(
    core.BACK,
    conv.BACK,
    conv_variants.BACK,
    norm.BACK,
    recurrent.BACK,
    attention.BACK,
    constant.BACK,
    ops_tensors.BACK,
    what="keras BACK",
)


def _compiled(model: Model) -> dict[str, np.ndarray]:
    program = lower(model)
    return {f"{layer}:{i}": w for layer, arrays in program.weights.items() for i, w in enumerate(arrays)}


def _unit(key: str) -> tuple[str, str]:
    unit, _, index = key.rpartition(":")
    return unit, index


def transfer(model: Model) -> Transfer:
    """Where ``to_keras`` puts each IR weight element of ``model``'s architecture, by layer and index."""
    return trace(model, _compiled, _unit)


def parameters(keras_model, layers: set[str]) -> dict[str, np.ndarray]:
    """The weights of the named layers of a Keras model, keyed as :func:`transfer` keys them."""
    import keras

    if not isinstance(keras_model, keras.Model):
        raise WeightError(f"weights back from Keras take a keras.Model, got {type(keras_model).__name__}")
    out = {}
    for name in sorted(layers):
        try:
            layer = keras_model.get_layer(name)
        except ValueError:
            raise WeightError("the Keras model has no layer of this name", layer=name) from None
        out.update({f"{name}:{i}": np.asarray(w) for i, w in enumerate(layer.get_weights())})
    return out


def load_weights_from(model: Model, keras_model) -> Model:
    """A copy of ``model`` holding the weights of ``keras_model``, a Keras model compiled from it (and trained).

    Raises:
        WeightError: ``keras_model`` is not a Keras model, or its weights do not match what ``to_keras`` makes
            of ``model`` (a layer or weight missing, extra or misshapen); the message names the layer.
    """
    moves = transfer(model)
    units = {origin.unit for origin in moves.origins.values()}
    params = parameters(keras_model, units)
    return pull_back(model, moves, params, BACK, "Keras")
