"""Converters tf2onnx lacks, registered before exporting through Keras.

TensorFlow computes the exact gelu as ``0.5 * x * erfc(-x / sqrt(2))``, and
tf2onnx has no converter for ``Erfc`` (ONNX has no such op), so any Keras model
with an exact gelu failed to export. ONNX does have ``Erf``:
``erfc(x) = 1 - erf(x)``. This matches what torch computes for the exact gelu,
``0.5 * x * (1 + erf(x / sqrt(2)))``, to float rounding.
"""
from __future__ import annotations

import numpy as np

_registered = False


def register() -> None:
    """Register the extra converters with tf2onnx (once per process)."""
    global _registered
    if _registered:
        return
    from tf2onnx import utils
    from tf2onnx.handler import tf_op

    @tf_op("Erfc")
    class Erfc:  # noqa: F841 - registered by the decorator
        @classmethod
        def version_9(cls, ctx, node, **kwargs):  # ONNX Erf exists from opset 9
            dtype = utils.map_onnx_to_numpy_type(ctx.get_dtype(node.input[0]))
            node.type = "Erf"
            one = ctx.make_const(utils.make_name("erfc_one"), np.array(1, dtype=dtype))
            ctx.insert_new_node_on_output("Sub", node.output[0], inputs=[one.output[0], node.output[0]],
                                          name=utils.make_name(node.name))

    _registered = True
