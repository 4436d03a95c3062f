"""Pattern rules for spatial ops torch writes as several nodes (see ``rules.py``).

* ConvTranspose + Slice(s) of its spatial axes -> ConvTranspose with the crops in its pads
  (torch's form of Keras's 'same' transposed convolution: the full result, then a slice)
* a ConvTranspose whose window Keras cannot keep -> the full result + a Slice (a Cropping)
* Slice + Slice of other spatial axes (torch slices one axis at a time) -> one Slice (a Cropping);
  a slice of channels (as layout inference letters the input) stays alone: the IR's Slice
* Transpose(spatial axes first) + GatherND(constant indices) + Transpose back, where the
  indices repeat each position ``s`` times -> Upsample(nearest) (how torch's dynamo exporter
  writes ``nn.Upsample(mode='nearest-exact')``)
* Split(constant sizes) -> one Slice per output
"""

from __future__ import annotations

import numpy as np

from ..graph import Graph, Op
from ..match import next_op, private, replace
from ..passes.layout import LayoutInference
from ..windows import keras_transposed

_INT64_MAX = 2**63 - 1


def fold_crop(graph: Graph, op: Op) -> None:
    """torch writes Keras's 'same' transposed conv as the full ConvTranspose, then Slices; a crop of the
    output is more pads (positions are cut from the kept window, bias-only tail included)."""
    if (
        op.op_type != "ConvTranspose"
        or op.attr("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET")
        or op.attr("output_shape") is not None
    ):
        return
    nd = len(graph.shapes.get(op.inputs[0]) or ()) - 2
    pads = list(op.attr("pads", [0] * 2 * nd))
    group, last = [op], op
    while (cut := next_op(graph, last, "Slice")) is not None and len(cut.inputs) >= 4:
        shape = graph.shapes.get(last.outputs[0])
        starts, ends, axes = (graph.const(i) for i in cut.inputs[1:4])
        steps = graph.const(cut.inputs[4]) if len(cut.inputs) > 4 and cut.inputs[4] else np.ones(1, np.int64)
        if (
            any(not isinstance(v, np.ndarray) or v.dtype.kind not in "iu" for v in (starts, ends, axes, steps))
            or shape is None
            or any(int(s) != 1 for s in steps.reshape(-1))
        ):
            break
        trial = list(pads)
        for a, b, e in zip(axes.reshape(-1), starts.reshape(-1), ends.reshape(-1)):
            a = int(a) % len(shape)
            size, b, e = shape[a], int(b), int(e)
            if a < 2 or size is None:
                trial = None
                break
            b = b + size if b < 0 else b
            e = e + size if e < 0 else min(e, size)  # INT64_MAX: to the end
            if not 0 <= b < e <= size:
                trial = None
                break
            trial[a - 2] += b
            trial[nd + a - 2] += size - e
        if trial is None:
            break
        pads = trial
        group.append(cut)
        last = cut
    if len(group) > 1:
        replace(graph, group, Op("ConvTranspose", op.name, op.inputs, last.outputs, {**op.attrs, "pads": pads}))


def fuse_gather_upsample(graph: Graph, op: Op) -> None:
    if op.op_type != "GatherND" or op.attr("batch_dims", 0) != 0:
        return
    before = private(graph, op.inputs[0], "Transpose", op)
    after = next_op(graph, op, "Transpose")
    indices = graph.const(op.inputs[1])
    shape = graph.shapes.get(before.inputs[0]) if before is not None else None
    if after is None or shape is None or not isinstance(indices, np.ndarray) or indices.dtype.kind not in "iu":
        return
    rank = len(shape)
    k = rank - 2
    perm, back = list(before.attr("perm", [])), list(after.attr("perm", []))
    if (
        perm != list(range(2, rank)) + [0, 1]
        or [perm[i] for i in back] != list(range(rank))
        or indices.shape[-1:] != (k,)
        or indices.ndim != k + 1
        or any(s is None for s in shape[2:])
    ):
        return
    scales = [o // n if n and o % n == 0 else 0 for o, n in zip(indices.shape[:k], shape[2:])]
    if 0 in scales:
        return
    grid = np.stack(np.meshgrid(*[np.arange(o) // s for o, s in zip(indices.shape[:k], scales)], indexing="ij"), -1)
    if np.array_equal(indices, grid):
        replace(
            graph,
            [before, op, after],
            Op(
                "Upsample",
                op.name,
                [before.inputs[0]],
                after.outputs,
                {"mode": "nearest", "scales": [1.0, 1.0] + [float(s) for s in scales]},
            ),
        )


def _slice_parts(graph: Graph, op: Op) -> list[tuple[int, int, int]] | None:
    """(axis, start, end) of a unit-step Slice with constant inputs; None otherwise."""
    rank = graph.rank(op.inputs[0])
    values = [graph.const(i) if i else None for i in (op.inputs + [""] * 5)[1:5]]
    if (
        rank is None
        or any(not isinstance(v, np.ndarray) or v.dtype.kind not in "iu" for v in values[:3])
        or (values[3] is not None and np.any(values[3] != 1))
    ):
        return None
    starts, ends, axes = (v.reshape(-1) for v in values[:3])
    return [(int(a) % rank, int(s), int(e)) for a, s, e in zip(axes, starts, ends)]


def merge_slices(graph: Graph, op: Op) -> None:
    """Slices of different axes one after another (torch slices one axis at a time) -> one Slice."""
    if op.op_type != "Slice":
        return
    group, parts = [op], _slice_parts(graph, op)
    rank = graph.rank(op.inputs[0])
    letters = LayoutInference(graph).layout(op.inputs[0], rank) if rank else None
    if parts is not None and (letters is None or any(letters[a] in "NC" for a, _, _ in parts)):
        return  # a channel slice stays alone (an IR Slice); unmerged slices are always right, merging saves a layer
    while (
        parts is not None
        and (nxt := next_op(graph, group[-1], "Slice")) is not None
        and nxt.inputs[0] == group[-1].outputs[0]
    ):
        more = _slice_parts(graph, nxt)
        if (
            more is None
            or {a for a, _, _ in more} & {a for a, _, _ in parts}
            or any(letters[a] in "NC" for a, _, _ in more)
        ):
            break
        group.append(nxt)
        parts += more
    if len(group) > 1:
        axes, starts, ends = (list(t) for t in zip(*parts))
        replace(
            graph,
            group,
            Op(
                "Slice",
                group[-1].name,
                [op.inputs[0]],
                group[-1].outputs,
                {"starts": starts, "ends": ends, "axes": axes},
            ),
        )


def split_conv_transpose(graph: Graph, op: Op) -> None:
    """A ConvTranspose whose kept window no Keras padding keeps (torch's ``ConvTranspose2d(3, 2, padding=1,
    output_padding=1)`` drops the first row, Keras's 'same' the last) -> the full result ('valid', with the
    bias-only tail as output_padding) and a Slice (a Cropping) of the window."""
    if (
        op.op_type != "ConvTranspose"
        or op.attr("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET")
        or op.attr("output_shape") is not None
    ):
        return
    w = graph.const(op.inputs[1])
    nd = w.ndim - 2
    kernel = list(op.attr("kernel_shape", w.shape[2:]))
    strides, dilations = list(op.attr("strides", [1] * nd)), list(op.attr("dilations", [1] * nd))
    pads, extra = list(op.attr("pads", [0] * 2 * nd)), list(op.attr("output_padding", [0] * nd))
    crops = [(pads[i], pads[nd + i] - extra[i]) for i in range(nd)]
    tails = [max(0, -after) for _, after in crops]
    if (
        keras_transposed(kernel, strides, dilations, crops) is not None
        or any(b < 0 for b, _ in crops)
        or any(t >= s for t, s in zip(tails, strides))
    ):
        return
    full = f"{op.outputs[0]}__full"
    conv = Op("ConvTranspose", op.name, op.inputs, [full], {**op.attrs, "pads": [0] * 2 * nd, "output_padding": tails})
    cut = [(2 + i, b, -a if a > 0 else _INT64_MAX) for i, (b, a) in enumerate(crops) if b or a > 0]
    axes, starts, ends = (list(t) for t in zip(*cut))
    graph.ops[graph.ops.index(op)] = conv
    crop = Op("Slice", f"{op.name}_crop", [full], op.outputs, {"starts": starts, "ends": ends, "axes": axes})
    graph.ops.insert(graph.ops.index(conv) + 1, crop)
    conv.sources = crop.sources = op.sources
    graph.index()


def split_to_slices(graph: Graph, op: Op) -> None:
    """Split (constant sizes) -> one Slice per output, so each output is one single-output op (``torch.chunk``,
    ``torch.split`` of channels); sizes from the ``split`` input (opset 13+) or attribute, ``num_outputs``
    (opset 18: ``ceil(size / n)`` each, the last what is left) or equal parts."""
    if op.op_type != "Split" or not all(op.outputs):
        return
    shape = graph.shapes.get(op.inputs[0])
    axis = int(op.attr("axis", 0)) % len(shape)
    size, n = shape[axis], len(op.outputs)
    if len(op.inputs) > 1 and op.inputs[1]:
        value = graph.const(op.inputs[1])
        if not isinstance(value, np.ndarray) or value.dtype.kind not in "iu":
            return  # computed sizes: Split stays, and is refused
        sizes = [int(v) for v in value.reshape(-1)]
    elif op.attr("split") is not None:
        sizes = [int(v) for v in op.attr("split")]
    elif size is None:
        return
    elif op.attr("num_outputs") is not None:
        chunk = -(-size // n)
        sizes = [chunk] * (n - 1) + [size - chunk * (n - 1)]
    else:
        sizes = [size // n] * n if size % n == 0 else []
    if len(sizes) != n or min(sizes) < 1:
        return
    ends = np.cumsum(sizes).tolist()
    slices = [
        Op(
            "Slice",
            f"{op.name}_{i}",
            [op.inputs[0]],
            [out],
            {"starts": [end - s], "ends": [end], "axes": [axis]},
            list(op.sources),
        )
        for i, (out, s, end) in enumerate(zip(op.outputs, sizes, ends))
    ]
    at = graph.ops.index(op)
    graph.ops[at : at + 1] = slices
    graph.index()
