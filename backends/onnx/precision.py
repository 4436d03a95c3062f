"""``to_onnx(model, dtype=...)``: an ONNX model whose float tensors are float16 or bfloat16.

The model is built in float32, as always, then one pass rewrites every float32 tensor type to the half
type: graph inputs, outputs and value infos, initializers (rounded to nearest even), ``Constant`` and
``ConstantOfShape`` values and ``Cast(to=FLOAT)``. Two kinds of input stay float32 because the
operator takes only float there: ``Resize``'s ``roi`` and ``scales``. Only ``onnx`` and numpy are used.

onnxruntime's CPU provider has half-precision kernels for few operators (on x86 not ``Conv``), so a half
file is mostly for a GPU provider; ``verify`` checks a half model's ONNX paths in float32 instead
(:func:`twinnet.exporters.verify.float32_reference`).
"""

from __future__ import annotations

import numpy as np

from ...ir.precision import check_precision, round_to

#: the input positions of an operator that must stay float32 whatever the model's precision
FLOAT_ONLY = {"Resize": (1, 2)}


def cast_model(proto, dtype: str):
    """Rewrite ``proto`` (an ``onnx.ModelProto``) in place so that its float32 tensors are ``dtype``; returns it."""
    from onnx import TensorProto

    dtype = check_precision(dtype)
    if dtype == "float32":
        return proto
    elem = TensorProto.FLOAT16 if dtype == "float16" else TensorProto.BFLOAT16
    graph = proto.graph
    keep = {
        name
        for node in graph.node
        for i in FLOAT_ONLY.get(node.op_type, ())
        if i < len(node.input)
        for name in [node.input[i]]
    }
    for info in [*graph.input, *graph.output, *graph.value_info]:
        if info.type.tensor_type.elem_type == TensorProto.FLOAT and info.name not in keep:
            info.type.tensor_type.elem_type = elem
    for i, tensor in enumerate(graph.initializer):
        if tensor.data_type == TensorProto.FLOAT and tensor.name not in keep:
            graph.initializer[i].CopyFrom(_cast_tensor(tensor, dtype, elem))
    for node in graph.node:
        if node.op_type == "Cast":
            for attr in node.attribute:
                if attr.name == "to" and attr.i == TensorProto.FLOAT:
                    attr.i = elem
        if node.op_type in ("Constant", "ConstantOfShape") and not (set(node.output) & keep):
            for attr in node.attribute:
                if attr.name == "value" and attr.t.data_type == TensorProto.FLOAT:
                    attr.t.CopyFrom(_cast_tensor(attr.t, dtype, elem))
    return proto


def _cast_tensor(tensor, dtype: str, elem: int):
    """A float32 ``TensorProto`` as ``dtype`` (same name and shape), rounded to nearest even."""
    from onnx import numpy_helper

    array = round_to(numpy_helper.to_array(tensor).astype(np.float32), dtype)
    out = numpy_helper.from_array(array.astype(np.float16) if dtype == "float16" else array, tensor.name)
    if dtype == "bfloat16":  # the upper 16 bits of each (already rounded) float32, little-endian
        bits = (np.ascontiguousarray(array).view(np.uint32) >> 16).astype("<u2")
        out.data_type = elem
        out.raw_data = bits.tobytes()
    return out
