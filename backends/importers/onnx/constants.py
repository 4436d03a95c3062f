"""A stored tensor added to a computed one (a learned positional embedding) -> IR ``LearnedConstant``.

torch exports ``x + self.pos`` with ``pos`` of shape ``(1, T, C)`` as an
``Add`` of the activation and an initializer. The initializer's leading 1
broadcasts over the batch, which is what ``LearnedConstant`` computes: its
value is the initializer without that axis, its axis letters the computed
operand's, and its (reference) input, read only for the batch size, the
model's first input. The merge entry (``ops.py``) then sees two
computed operands, and still refuses shapes that differ. Any other constant
operand (a scalar, no leading 1, another rank) is left to that entry's
refusal. A constant concatenated to a tensor arrives behind an ``Expand`` to
the run-time batch size, which has no IR layer yet, so it stays refused.
"""

from __future__ import annotations

import numpy as np

from ....ir import layers as L


def expanded_constant(importer, op):
    """The IR tensor for ``Expand(stored (1, *S) tensor, shape)`` giving ``(batch, *S)``; None if it is not that.

    The shape is the folded run-time one (``onnx/passes/fold.py`` writes the symbolic batch size as -1); every
    other entry must keep the stored size (1 or the size itself).
    """
    value = importer.graph.const(op.inputs[0]) if op.inputs else None
    target = importer.graph.const(op.inputs[1]) if len(op.inputs) > 1 else None
    reference = _batch_source(importer, op.inputs[1]) if len(op.inputs) > 1 else None
    reference = reference if reference is not None else _reference(importer)
    if (
        not isinstance(value, np.ndarray)
        or value.dtype.kind != "f"
        or value.ndim < 2
        or value.shape[0] != 1
        or not isinstance(target, np.ndarray)
        or target.shape != (value.ndim,)
        or target[0] != -1
        or any(t not in (1, v) for t, v in zip(target[1:], value.shape[1:]))
        or reference is None
    ):
        return None
    layout = importer.layouts.layout(op.outputs[0], value.ndim)
    if layout.index("N") != 0:
        return None
    layer = L.LearnedConstant(value.shape[1:], layout=layout, name=importer.claim(op.inputs[0]))
    importer.weights[f"{layer.name}/value"] = np.ascontiguousarray(value[0], dtype=np.float32)
    return layer(reference)


def _batch_source(importer, name: str):
    """The imported tensor whose batch size the folded shape ``name`` starts with (``Shape(t)`` then
    ``Concat``, as ``to_onnx`` writes a ``Learned`` tensor repeated over windows, not the model's batch)."""
    op = importer.graph.folded.get(name)
    while op is not None and op.op_type in ("Concat", "Slice", "Gather", "Unsqueeze", "Squeeze", "Cast"):
        op = importer.graph.folded.get(op.inputs[0])
    if op is None or op.op_type != "Shape" or op.attr("start", 0) != 0:
        return None
    found = importer.tensors.get(op.inputs[0])
    return found if found is not None and found.layout[0] == "N" else None


def _reference(importer):
    """The model's first input that was imported (a LearnedConstant reads its batch size)."""
    return next(
        (importer.tensors.get(vi.name) for vi in importer.graph.inputs if importer.tensors.get(vi.name) is not None),
        None,
    )


#: ops whose stored operands may become LearnedConstants
LEARNED_OPERANDS = ("Add", "Sub", "Mul")


def learned_operands(importer, op, computed: list):
    """The op's operands in order, each stored one turned into a LearnedConstant; ``computed`` unchanged if
    any stored operand does not fit (or there is no batch-first partner or no model input to follow)."""
    partner = next((t for t in computed if t is not None), None)
    reference = _reference(importer)
    if partner is None or reference is None or partner.layout[0] != "N":
        return computed
    operands, pending = [], iter(computed)
    for name in (i for i in op.inputs if i):
        value = importer.graph.const(name)
        if value is None:
            operands.append(next(pending))
            continue
        if (
            not isinstance(value, np.ndarray)
            or value.dtype.kind != "f"
            or value.ndim != partner.spec.rank
            or value.ndim < 2
            or value.shape[0] != 1
        ):
            return computed
        layer = L.LearnedConstant(value.shape[1:], layout=partner.layout, name=importer.claim(name))
        operands.append(layer(reference))
        importer.weights[f"{layer.name}/value"] = np.ascontiguousarray(value[0], dtype=np.float32)
    return operands
