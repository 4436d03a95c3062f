"""Weights back from ONNX: an ``onnx.ModelProto`` written by ``to_onnx`` (then trained or edited, say with
ONNX Runtime's training tools), its initializers copied into the IR.

The exact inverse of this backend's compile-time transfer, read from that
transfer itself (``backends/lowering/weights_back.py``): the model's
architecture is lowered as ``to_onnx`` lowers it, keyed by initializer name;
each initializer is its own unit. ``BACK`` has one entry per layer kind with
weights, joined from the family files beside their lowerings
(``fold_recurrent_bias`` in ``recurrent.py``). Shape and index initializers
are constants and must come back unchanged.
"""

from __future__ import annotations

import numpy as np

from ...ir.errors import WeightError
from ...ir.graph import Model
from ..lowering.weights_back import Transfer, pull_back, trace
from ..tables import join_tables
from . import TABLE, attention, constant, conv, conv_variants, core, norm, ops_tensors, recurrent
from .compile import OnnxLowering

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
    what="onnx BACK",
)


def _compiled(model: Model) -> dict[str, np.ndarray]:
    lowering = OnnxLowering(model, TABLE)
    lowering.lower()
    return dict(lowering.initializers)


def transfer(model: Model) -> Transfer:
    """Where ``to_onnx`` puts each IR weight element of ``model``'s architecture, by initializer name."""
    return trace(model, _compiled, lambda key: (key, key))


def parameters(proto) -> dict[str, np.ndarray]:
    """The initializers of an ONNX model as numpy arrays."""
    import onnx
    from onnx import numpy_helper

    if not isinstance(proto, onnx.ModelProto):
        raise WeightError(f"weights back from ONNX take an onnx.ModelProto, got {type(proto).__name__}")
    return {init.name: numpy_helper.to_array(init) for init in proto.graph.initializer}


def load_weights_from(model: Model, proto) -> Model:
    """A copy of ``model`` holding the initializers of ``proto``, an ONNX model ``to_onnx`` wrote from it.

    Raises:
        WeightError: ``proto`` is not an ONNX model, or its initializers do not match what ``to_onnx`` makes
            of ``model`` (one missing, extra or misshapen, a shape constant changed); the message names the layer.
    """
    params = parameters(proto)
    moves = transfer(model)
    return pull_back(model, moves, params, BACK, "ONNX")
