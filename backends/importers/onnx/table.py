"""``ONNX_TABLE``: ONNX op type -> the function converting one op, joined from the layer entries and the
op-tier entries.

An op that an IR layer says (Conv, Relu, MatMul by a stored matrix, Concat of
computed tensors...) becomes that layer, so emitted code reads as a person
would write it; where the layer cannot say a particular op (an integer tensor,
a constant operand, an axis with no layer meaning) the entry falls back to the
op tier (``tier_math.py``, ``tier_shape.py``, ``tier_reduce.py``):
``layer_or_op(layer entry, op entry)``. Ops no layer has go to the op tier
directly.
"""

from __future__ import annotations

from typing import Callable

from ....ir import layers as L
from ...tables import join_tables
from . import tier_math, tier_norm, tier_reduce, tier_shape
from .attention import attention
from .norm import affine, batch_norm, group_norm, instance_norm, layer_norm, twinnet_group_norm, twinnet_layer_norm
from .ops import (
    activation,
    clip,
    concat,
    dropout,
    elu,
    embedding,
    flatten,
    gelu,
    gemm,
    hard_sigmoid,
    identity,
    leaky_relu,
    matmul,
    merge,
    reshape,
    selu,
    softmax,
    squeeze,
    transpose,
    unsqueeze,
)
from .rnn import recurrent
from .spatial import crop, pad, resize
from .tier import layer_or_op
from .windows import conv, conv_transpose, global_pool, pool, reduce

#: op types no entry reads because a pattern rule always rewrites them (Split -> one Slice per output, or
#: left whole and refused when its sizes are not known)
BY_RULES = ("Split",)

#: ONNX op type -> converter. ``twinnet.*`` ops are made by the pattern rules (onnx/patterns/rules.py).
#: IR layer kinds that ONNX spells with other ops, and what from_onnx makes of the ops twinnet's torch
#: export writes for them (checked in tests/backends/importers/onnx/test_import.py,
#: test_spelled_otherwise_imports_as_described):
#: an ONNX file can say the same computation, but from_onnx never produces these kinds.
SPELLED_OTHERWISE = {
    "DepthwiseConv1D": "Conv with group = channels (C * multiplier outputs), imported as Conv1D(groups=C)",
    "DepthwiseConv2D": "Conv with group = channels (C * multiplier outputs), imported as Conv2D(groups=C)",
    "SeparableConv1D": "a grouped Conv then a 1-wide Conv, imported as Conv1D(groups=C) then Conv1D",
    "SeparableConv2D": "a grouped Conv then a 1x1 Conv, imported as Conv2D(groups=C) then Conv2D",
    "Rescaling": "Mul then Add by constants, imported as one BatchNorm with exact statistics (mean 0, "
    "variance + epsilon = 1)",
    "Normalization": "Sub then Div by per-channel constants, imported as two BatchNorms with exact statistics "
    "(the shift, then the scale)",
}

LAYER_TABLE: dict[str, Callable] = {
    "Conv": conv,
    "ConvTranspose": conv_transpose,
    "MaxPool": pool(True),
    "AveragePool": pool(False),
    "GlobalAveragePool": global_pool(False),
    "GlobalMaxPool": global_pool(True),
    "BatchNormalization": batch_norm,
    "twinnet.Affine": affine,
    "twinnet.LayerNorm": twinnet_layer_norm,
    "GroupNormalization": group_norm,
    "twinnet.GroupNorm": twinnet_group_norm,
    "InstanceNormalization": instance_norm,
    "Resize": resize,
    "Upsample": resize,
    "Gemm": gemm,
    "Softplus": activation("softplus"),
    "HardSwish": activation("hard_swish"),
    "twinnet.Silu": activation("silu"),
    "Gelu": gelu,
    "Elu": elu,
    "LeakyRelu": leaky_relu,
    "LSTM": recurrent,
    "GRU": recurrent,
    "RNN": recurrent,
    "twinnet.MultiHeadAttention": attention,
}

#: a layer where one says the op, else ops
LAYER_OR_OP_TABLE: dict[str, Callable] = {
    "LayerNormalization": layer_or_op(layer_norm, tier_reduce.layer_norm),
    "Selu": layer_or_op(selu, tier_math.selu),
    "HardSigmoid": layer_or_op(hard_sigmoid, tier_math.hard_sigmoid),
    "Dropout": layer_or_op(dropout, tier_math.dropout),
    "ReduceMean": layer_or_op(reduce(False), tier_reduce.reduce("mean")),
    "ReduceMax": layer_or_op(reduce(True), tier_reduce.reduce("max")),
    "Pad": layer_or_op(pad, tier_shape.pad),
    "Slice": layer_or_op(crop, tier_shape.slice_op),
    "Clip": layer_or_op(clip, tier_math.clip),
    "MatMul": layer_or_op(matmul, tier_reduce.matmul),
    "Relu": layer_or_op(activation("relu"), tier_math.unary("relu")),
    "Sigmoid": layer_or_op(activation("sigmoid"), tier_math.unary("sigmoid")),
    "Tanh": layer_or_op(activation("tanh"), tier_math.unary("tanh")),
    "Softmax": layer_or_op(softmax("softmax"), tier_reduce.softmax(False)),
    "LogSoftmax": layer_or_op(softmax("log_softmax"), tier_reduce.softmax(True)),
    "Identity": layer_or_op(identity, tier_math.identity_op),
    "Transpose": layer_or_op(transpose, tier_shape.transpose),
    "Flatten": layer_or_op(flatten, tier_shape.flatten),
    "Reshape": layer_or_op(reshape, tier_shape.reshape),
    "Squeeze": layer_or_op(squeeze, tier_shape.squeeze),
    "Unsqueeze": layer_or_op(unsqueeze, tier_shape.unsqueeze),
    "Concat": layer_or_op(concat, tier_shape.concat),
    "Add": layer_or_op(merge(L.Add), tier_math.binary("add")),
    "Sub": layer_or_op(merge(L.Subtract), tier_math.binary("sub")),
    "Mul": layer_or_op(merge(L.Multiply), tier_math.binary("mul")),
    "Max": layer_or_op(merge(L.Maximum, 1), tier_math.variadic("max")),
    "Sum": layer_or_op(merge(L.Add, 1), tier_math.variadic("add")),
    "Mean": layer_or_op(merge(L.Average, 1), tier_math.variadic("add", mean=True)),
    "Gather": layer_or_op(embedding, tier_shape.gather),
}

#: ops only the op tier says
OP_TABLE: dict[str, Callable] = {
    **{op: tier_math.unary(fn) for op, fn in tier_math.UNARY.items() if op not in LAYER_OR_OP_TABLE},
    **{op: tier_math.binary(fn) for op, fn in tier_math.BINARY.items() if op not in LAYER_OR_OP_TABLE},
    "Min": tier_math.variadic("min"),
    "Where": tier_math.where,
    "Cast": tier_math.cast,
    "ReduceSum": tier_reduce.reduce("sum"),
    "ReduceMin": tier_reduce.reduce("min"),
    "Expand": tier_shape.expand,
    "Tile": tier_shape.tile,
    "GatherElements": tier_shape.gather_elements,
    "RMSNormalization": tier_norm.rms_norm,
    "Attention": tier_norm.attention,
    "twinnet.Roll": tier_shape.roll,
    "twinnet.Positions": tier_shape.positions,
}

#: op types no entry reads because a pattern rule always rewrites them (Split -> one Slice per output, or
#: left whole and refused when its sizes are not known)
BY_RULES = ("Split",)

#: ONNX op type -> converter. ``twinnet.*`` ops are made by the pattern rules (onnx/patterns/rules.py).
ONNX_TABLE: dict[str, Callable] = join_tables(LAYER_TABLE, LAYER_OR_OP_TABLE, OP_TABLE, what="ONNX_TABLE")
