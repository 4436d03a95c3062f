"""Converters tf2onnx lacks, registered before exporting through Keras.

TensorFlow computes the exact gelu as ``0.5 * x * erfc(-x / sqrt(2))``, and
tf2onnx has no converter for ``Erfc`` (ONNX has no such op), so any Keras model
with an exact gelu failed to export. ONNX does have ``Erf``:
``erfc(x) = 1 - erf(x)``. This matches what torch computes for the exact gelu,
``0.5 * x * (1 + erf(x / sqrt(2)))``, to float rounding.

tf2onnx turns TensorFlow's transposed convolution into an ONNX
``ConvTranspose`` whose ``pads`` crop the full result down to the requested
output size. When the output is *longer* than the full result (a kernel
smaller than the stride, or ``output_padding`` with 'valid'), those pads come
out negative, which ONNX forbids. TensorFlow keeps the full result from its
start and extends it at the end (bias only there): ONNX's ``output_padding``
says exactly that, so the wrapper below moves any negative pad there.

tf2onnx has no converter for TensorFlow's ``Bucketize`` (Keras's
``Discretization``), which the Keras lowering of ``LearnedConstant`` uses with
no boundaries (every value in bucket 0, see ``backends/keras/constant.py``).
TensorFlow's bucket of ``x`` is the number of boundaries ``b`` with
``not x < b`` (``upper_bound``; a NaN lands past the last one): the converter
below computes exactly that, and with no boundaries a zero of ``x``'s shape.

tf2onnx writes TensorFlow's integer ``FloorDiv`` as ONNX ``Div``, which
truncates toward zero: ``-7 // 2`` came out -3, not -4. The converter below
divides in float64 and floors (exact for integers below 2**53: the rounded
quotient of two such integers never reaches the next integer), then casts
back; floats keep tf2onnx's ``Floor(Div)``.
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
            ctx.insert_new_node_on_output(
                "Sub", node.output[0], inputs=[one.output[0], node.output[0]], name=utils.make_name(node.name)
            )

    from tf2onnx.onnx_opset.nn import ConvTranspose

    @tf_op(["Conv2DBackpropInput", "Conv3DBackpropInputV2"])
    class ConvTransposeNonNegativePads:  # noqa: F841 - registered by the decorator
        @classmethod
        def version_1(cls, ctx, node, **kwargs):
            ConvTranspose.version_1(ctx, node, **kwargs)
            _negative_pads_to_output_padding(node)

        @classmethod
        def version_11(cls, ctx, node, **kwargs):
            ConvTranspose.version_11(ctx, node, **kwargs)
            _negative_pads_to_output_padding(node)

    from tf2onnx.onnx_opset.math import FloorDiv

    @tf_op("FloorDiv")
    class FloorDivIntegers:  # noqa: F841 - registered by the decorator
        @classmethod
        def version_6(cls, ctx, node, **kwargs):
            if not _floor_divide_integers(ctx, node):
                FloorDiv.version_6(ctx, node, **kwargs)

    @tf_op("Bucketize")
    class Bucketize:  # noqa: F841 - registered by the decorator
        @classmethod
        def version_11(cls, ctx, node, **kwargs):
            _bucketize(ctx, node)

    _registered = True


def _bucketize(ctx, node) -> None:
    """Replace ``node`` (Bucketize) by ONNX ops counting the boundaries ``b`` with ``not x < b``."""
    import onnx
    from tf2onnx import utils
    from tf2onnx.graph_builder import GraphBuilder

    boundaries = list(node.get_attr_value("boundaries") or [])
    x, outputs = node.input[0], node.output
    out_dtype, shapes = ctx.get_dtype(outputs[0]), [ctx.get_shape(outputs[0])]
    ctx.remove_node(node.name)
    if not boundaries:  # one bucket: 0 for every value, NaN included
        shape = ctx.make_node("Shape", [x])
        zero = onnx.helper.make_tensor("value", out_dtype, [1], [0])
        ctx.make_node(
            "ConstantOfShape",
            [shape.output[0]],
            attr={"value": zero},
            name=node.name,
            outputs=outputs,
            shapes=shapes,
            dtypes=[out_dtype],
        )
        return
    dtype = utils.map_onnx_to_numpy_type(ctx.get_dtype(x))
    bounds = ctx.make_const(utils.make_name("bucketize_boundaries"), np.array(boundaries, dtype=dtype))
    column = GraphBuilder(ctx).make_unsqueeze({"data": x, "axes": [-1]})
    below = ctx.make_node("Less", [column, bounds.output[0]])
    reached = ctx.make_node("Not", [below.output[0]])
    count = ctx.make_node("Cast", [reached.output[0]], attr={"to": out_dtype})
    GraphBuilder(ctx).make_reduce_sum(
        {"data": count.output[0], "axes": [-1], "keepdims": 0, "outputs": outputs},
        name=node.name,
        shapes=shapes,
        dtypes=[out_dtype],
    )


def _floor_divide_integers(ctx, node) -> bool:
    """Replace an integer ``node`` (FloorDiv) by ``Cast(Floor(Div(double, double)))``; False for floats."""
    import onnx

    double, out_dtype = onnx.TensorProto.DOUBLE, ctx.get_dtype(node.output[0])
    if out_dtype in (onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16, double):
        return False
    inputs, outputs, shapes = list(node.input), node.output, [ctx.get_shape(node.output[0])]
    ctx.remove_node(node.name)
    wide = [ctx.make_node("Cast", [x], attr={"to": double}).output[0] for x in inputs]
    quotient = ctx.make_node("Floor", [ctx.make_node("Div", wide).output[0]])
    ctx.make_node(
        "Cast",
        [quotient.output[0]],
        attr={"to": out_dtype},
        name=node.name,
        outputs=outputs,
        shapes=shapes,
        dtypes=[out_dtype],
    )
    return True


def _negative_pads_to_output_padding(node) -> None:
    """pads (b0.., e0..) with a negative total t on an axis -> pads 0, 0 and output_padding -t there."""
    if "pads" not in node.attr:
        return
    pads = list(node.get_attr("pads").ints)
    nd = len(pads) // 2
    if all(p >= 0 for p in pads):
        return
    extra = [0] * nd
    for i in range(nd):
        total = pads[i] + pads[i + nd]
        if total < 0:  # TF's output starts at the full result's start and runs past its end
            pads[i], pads[i + nd], extra[i] = 0, 0, -total
    node.set_attr("pads", pads)
    node.set_attr("output_padding", extra)
