"""Pattern rules: groups of ONNX nodes that are one IR layer, rewritten into one :class:`Op`.

Each rule looks for one shape of subgraph and replaces it by a single op the
table converts (a standard ONNX op with extra attributes, or a ``twinnet.*``
op for what ONNX has no node for). A rule fires only when every intermediate
value has exactly one consumer and is no graph output, so nothing the rest of
the graph reads disappears. Rules, in the order they run:

  * Pad(constant) + Conv / MaxPool / AveragePool -> the pads join the window op's pads
  * ConvTranspose + Slice(s) of its spatial axes -> the crops join its pads; a ConvTranspose whose
    window Keras cannot keep -> the full result + a Slice (a Cropping)
  * Split(constant sizes) -> one Slice per output
  * Concat of two Slices of one tensor (torch's roll) -> twinnet.Roll; Range(0, a size, 1) + Unsqueeze(0)
    -> twinnet.Positions (``movement.py``)
  * Slice + Slice of other axes -> one Slice (a Cropping)
  * Transpose + GatherND(constant repeat indices) + Transpose, torch's nearest upsampling -> Upsample
  * AveragePool(count_include_pad) + Mul(real-count rescale) -> count_include_pad=0
  * MatMul(x, W) + Add(b) -> MatMul with a bias (a Dense)
  * Softmax(MatMul(q, k) [+ mask] [* scale]) read by MatMul(., v), between q/k/v and output projections
    and the ops that split and merge heads -> twinnet.MultiHeadAttention (``attention.py``)
  * MatMul of two rank-3 activations, one read through Transpose(0, 2, 1) -> MatMul with
    ``twinnet_trans_a`` / ``twinnet_trans_b`` (a Dot contracting other axes, no Permute)
  * Reshape + InstanceNormalization + Reshape (+ Mul + Add), torch's group norm -> twinnet.GroupNorm
  * ReduceMean, Sub, square, ReduceMean, Add eps, Sqrt, Div (+ Mul + Add), a layer norm composed over
    any axes (torch below opset 17, twinnet's backend over non-trailing axes) -> twinnet.LayerNorm;
    before the affine rule, which would take its Mul and Add
  * x * 0.5 * (1 + Erf(x / sqrt 2)) and the tanh form -> Gelu;  x * Sigmoid(x) -> twinnet.Silu
  * Where(x > t, x, Softplus(x)) (torch's thresholded softplus) -> Softplus
  * (a + b + ...) / k -> Mean (an Average)
  * x * s + b with per-channel constants (tf2onnx's BatchNorm) -> twinnet.Affine (a BatchNorm)
  * a global pool (or spatial ReduceMean/Max) keeping dims + Flatten/Squeeze/Reshape -> keepdims=0
  * LSTM/GRU/RNN + the Squeeze/Gather/Concat/Transpose/Reshape that select its
    sequence (Y) or last state (Y_h) -> one recurrent op with ``return_sequences``
  * a forward recurrent sequence, (transposed and) indexed at its last step
    (torch's ``y[:, -1]``) -> the last state, ``return_sequences=False``

Attention lives in ``attention.py``; activation and arithmetic rules in
``math.py``, transposed-conv crops and upsampling in ``spatial.py``,
group norm in ``norm.py``, the composed layer norm in ``layer_norm.py``,
recurrent ones in ``rnn.py``, the matching helpers in ``onnx/match.py``.
"""

from __future__ import annotations

import math

import numpy as np

from ..graph import Graph, Op
from ..match import axes_of, next_op, other, private, replace, scalar
from .attention import fuse_attention
from .layer_norm import fuse_layer_norm
from .math import fuse_affine, fuse_average, fuse_gelu, fuse_gelu_tanh, fuse_silu, fuse_softplus
from .movement import fuse_positions, fuse_roll
from .norm import fuse_group_norm
from .rnn import fuse_last_step, fuse_recurrent
from .spatial import fold_crop, fuse_gather_upsample, merge_slices, split_conv_transpose, split_to_slices


def run_rules(graph: Graph) -> None:
    """Apply every rule, in order, to every op still in the graph (rewrites ``graph`` in place)."""
    for rule in (
        split_to_slices,
        fuse_roll,
        fuse_positions,
        fold_pad,
        fold_crop,
        split_conv_transpose,
        merge_slices,
        fuse_gather_upsample,
        fold_avg_rescale,
        fuse_dense,
        fuse_attention,
        fuse_group_norm,
        fuse_layer_norm,
        fuse_gelu,
        fuse_gelu_tanh,
        fuse_silu,
        fuse_softplus,
        fuse_average,
        fuse_affine,
        fuse_global_flatten,
        fuse_recurrent,
        fuse_last_step,
        fold_matmul_transpose,
    ):
        for op in list(graph.ops):
            if op not in graph.ops:
                continue
            try:
                rule(graph, op)
            except (ValueError, TypeError, KeyError, IndexError, AttributeError, ZeroDivisionError):
                continue  # an odd attribute: no fusion here; the op is then converted (or refused) on its own


# -- window ops -----------------------------------------------------------------------


def fold_pad(graph: Graph, op: Op) -> None:
    if op.op_type != "Pad" or op.attr("mode", b"constant") not in (b"constant", "constant"):
        return
    user = graph.only_consumer(op.outputs[0])
    if user is None or user.op_type not in ("Conv", "MaxPool", "AveragePool") or user.inputs[0] != op.outputs[0]:
        return
    pads = graph.const(op.inputs[1]) if len(op.inputs) > 1 else np.asarray(op.attr("pads", []))
    value = (
        (scalar(graph, op.inputs[2]) if len(op.inputs) > 2 and op.inputs[2] else 0.0)
        if len(op.inputs) > 1
        else op.attr("value", 0.0)
    )
    if pads is None or isinstance(pads, str) or value is None or (len(op.inputs) > 3 and op.inputs[3]):
        return
    pads = [int(p) for p in pads.reshape(-1)]
    rank = len(pads) // 2
    begin, end = pads[:rank], pads[rank:]
    if any(begin[:2]) or any(end[:2]) or min(pads) < 0 or user.attr("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
        return
    wanted = -math.inf if user.op_type == "MaxPool" else 0.0
    if value != wanted:
        return
    nd = rank - 2
    own = list(user.attr("pads", [0] * 2 * nd))
    attrs = {**user.attrs, "pads": [a + b for a, b in zip(begin[2:] + end[2:], own)]}
    if user.op_type == "AveragePool":
        if any(own) and not user.attr("count_include_pad", 0):
            return  # padded zeros counted, own pads not: one pool cannot say both
        attrs["count_include_pad"] = 1  # the Pad's zeros are real elements to the pool
    replace(graph, [op, user], Op(user.op_type, user.name, [op.inputs[0]] + user.inputs[1:], user.outputs, attrs))


def window_counts(sizes, kernel, strides, pads) -> np.ndarray:
    """Real (unpadded) elements under each pooling window, as an array over the output positions."""
    per_axis = []
    for n, k, s, b, a in zip(sizes, kernel, strides, pads[: len(sizes)], pads[len(sizes) :]):
        out = (n + b + a - k) // s + 1
        starts = np.arange(out) * s - b
        per_axis.append(np.minimum(starts + k, n) - np.maximum(starts, 0))
    counts = per_axis[0]
    for c in per_axis[1:]:
        counts = np.multiply.outer(counts, c)
    return counts.astype(np.float64)


def fold_avg_rescale(graph: Graph, op: Op) -> None:
    """torch's 'same' average pool: count zeros, then multiply by window / real count."""
    if op.op_type != "AveragePool" or not op.attr("count_include_pad", 0) or op.attr("ceil_mode", 0):
        return
    mul = next_op(graph, op, "Mul")
    shape = graph.shapes.get(op.inputs[0])
    if mul is None or shape is None or any(s is None for s in shape[2:]):
        return
    scale = graph.const(other(mul, op.outputs[0]) or "")
    if scale is None or isinstance(scale, str):
        return
    kernel = list(op.attr("kernel_shape"))
    nd = len(kernel)
    pads = list(op.attr("pads", [0] * 2 * nd))
    counts = window_counts(shape[2:], kernel, list(op.attr("strides", [1] * nd)), pads)
    expected = math.prod(kernel) / counts
    try:
        matches = np.allclose(np.broadcast_to(scale, (1, 1) + expected.shape)[0, 0], expected, rtol=1e-6)
    except ValueError:
        return
    if matches and scale.ndim <= nd + 2 and all(d == 1 for d in scale.shape[: scale.ndim - nd]):
        replace(
            graph, [op, mul], Op("AveragePool", op.name, op.inputs, mul.outputs, {**op.attrs, "count_include_pad": 0})
        )


# -- dense and global pools ----------------------------------------------------------


def fuse_dense(graph: Graph, op: Op) -> None:
    if op.op_type != "MatMul" or graph.const(op.inputs[1]) is None:
        return
    add = next_op(graph, op, "Add")
    bias = other(add, op.outputs[0]) if add is not None else None
    value = graph.const(bias) if bias else None
    if value is None or isinstance(value, str) or value.ndim == 0 or value.size != value.shape[-1]:
        return
    replace(graph, [op, add], Op("MatMul", op.name, op.inputs + [bias], add.outputs, dict(op.attrs)))


def fold_matmul_transpose(graph: Graph, op: Op) -> None:
    """``q @ k.transpose(1, 2)``: the Transpose only says which axis the Dot contracts."""
    if op.op_type != "MatMul" or len(op.inputs) != 2 or any(graph.const(i) is not None for i in op.inputs):
        return
    inputs, attrs, group = list(op.inputs), dict(op.attrs), []
    for i, key in enumerate(("twinnet_trans_a", "twinnet_trans_b")):
        t = private(graph, inputs[i], "Transpose", op)
        if t is not None and list(t.attr("perm", [])) == [0, 2, 1] and inputs[0] != inputs[1]:
            inputs[i], attrs[key] = t.inputs[0], 1
            group.append(t)
    if group:
        replace(graph, group + [op], Op("MatMul", op.name, inputs, op.outputs, attrs))


def fuse_global_flatten(graph: Graph, op: Op) -> None:
    """(N, C, 1, 1) then Flatten / Squeeze / Reshape to (N, C) is one global pool without kept dims."""
    if op.op_type not in ("GlobalAveragePool", "GlobalMaxPool", "ReduceMean", "ReduceMax") or not op.attr(
        "keepdims", 1
    ):
        return
    rank, user = graph.rank(op.inputs[0]), graph.only_consumer(op.outputs[0])
    if rank is None or user is None or user.inputs[0] != op.outputs[0]:
        return
    spatial = list(range(2, rank))
    if op.op_type.startswith("Reduce") and sorted(a % rank for a in axes_of(graph, op) or []) != spatial:
        return
    shape = graph.const(user.inputs[1]) if user.op_type == "Reshape" else None
    if (
        (user.op_type == "Flatten" and user.attr("axis", 1) == 1)
        or (user.op_type == "Squeeze" and sorted(a % rank for a in axes_of(graph, user) or []) == spatial)
        or (
            isinstance(shape, np.ndarray)
            and shape.size == 2
            and int(shape[0]) in (0, -1)
            and int(shape[1]) in (-1, (graph.shapes.get(op.inputs[0]) or (0, 0))[1])
        )
    ):
        replace(graph, [op, user], Op(op.op_type, op.name, op.inputs, user.outputs, {**op.attrs, "keepdims": 0}))
