"""Parameters read directly in ``forward`` -> IR ``LearnedConstant``; ``expand`` over the batch -> nothing.

A ViT keeps its class token ``nn.Parameter(1, 1, d)`` and positional
embedding ``nn.Parameter(1, n + 1, d)`` on the module and combines them with
activations itself (``torch.cat([self.cls.expand(b, -1, -1), x], 1) + self.pos``).
fx records such a read as a ``get_attr`` node. A tensor whose leading axis
is 1 broadcasts over the batch, which is what ``LearnedConstant`` computes:
its value is the tensor without that axis, and its (reference) input, used
only for the batch size, is the model's first input. Its axis letters are
those of the tensor it is first combined with (the patch tokens it is
concatenated to), so that no relabelling is needed there. Any other shape would
not broadcast over the batch and is refused. fx records one ``get_attr`` per
parameter however often ``forward`` reads it, so a value used twice is one
layer with two consumers; should two nodes read one tensor, that is refused
(the IR has no shared weights). ``Tensor.expand(b, -1, ...)`` /
``expand_as`` that only stretch the batch axis of such a value (or leave an
activation as it is) change nothing in the IR, whose tensors all have a
symbolic batch axis.
"""
from __future__ import annotations

import numpy as np
import torch

import ir
from ir import layers as L
from ir.errors import UnsupportedError

from .torch_capture import Info, guess_layout, layout_for

__all__ = ["CONSTANT_METHODS", "learned_constant"]


def learned_constant(ctx, node, held: torch.Tensor):
    """The IR tensor for a parameter/buffer ``held`` read as a value by get_attr ``node``."""
    shape = tuple(held.shape)
    if held.dim() < 2 or shape[0] != 1:
        raise UnsupportedError(f"the forward reads {node.target} of shape {shape} directly; as a value it needs a "
                               "leading axis of size 1 to repeat over the batch (a class token (1, 1, d), a positional "
                               "embedding (1, n, d)), and the IR holds other weights only inside its layers")
    if held.dtype != torch.float32:
        raise UnsupportedError(f"the forward reads {node.target} of dtype {held.dtype}; the IR's learned values are "
                               "float32")
    reads = sum(1 for n in ctx.gm.graph.nodes if n.op == "get_attr" and n.target == node.target)
    if reads > 1:
        raise UnsupportedError(f"{reads} graph nodes read {node.target} (shared weights), which the IR cannot "
                               "express")
    reference = next((x for x in ctx.ir_inputs if x is not None), None)
    if reference is None:
        raise UnsupportedError("no model input to take the batch size from")
    layout = _partner_layout(ctx, node, len(shape)) or guess_layout(ctx.gm, node, len(shape), False)
    if layout.index("N") != 0:
        layout = layout_for(len(shape), 0, 1 if len(shape) > 2 else len(shape) - 1)
    name = ctx.claim(node.target)
    out = L.LearnedConstant(shape[1:], layout=layout, name=name)(reference)
    ctx.weights[f"{name}/value"] = np.array(held.detach().cpu().numpy()[0], dtype=np.float32)
    return out


def _partner_layout(ctx, node, rank: int) -> str | None:
    """The layout of an already converted batch-first tensor that ``node``'s value is combined with (past expands)."""
    frontier, seen = list(node.users), set()
    while frontier:
        user = frontier.pop(0)
        if user in seen:
            continue
        seen.add(user)
        if user.op == "call_method" and user.target in ("expand", "expand_as", "contiguous"):
            frontier += list(user.users)
        for arg in user.all_input_nodes:
            value = ctx.values.get(arg)
            if isinstance(value, ir.Tensor) and value.spec.rank == rank and value.layout[0] == "N":
                return value.layout
    return None


def expand(ctx, call):
    """``x.expand(sizes)`` / ``x.expand_as(y)`` that stretches only the batch axis: the IR tensor itself."""
    x = ctx.tensor(call.args[0])
    n = ctx.n_pos(call.node)
    before, after = ctx.run1.get(call.node.args[0]), call.info
    if not isinstance(before, Info) or not isinstance(after, Info) or n is None or x.layout.index("N") != n:
        raise UnsupportedError("only an expand that stretches the batch axis (to the batch size) is supported")
    if len(before.shape) != len(after.shape) or any(a != b for i, (a, b) in enumerate(zip(before.shape, after.shape))
                                                    if i != n):
        raise UnsupportedError(f"expands {tuple(before.shape)} to {tuple(after.shape)}: only the batch axis may "
                               "grow (other sizes would need a broadcast the IR does not hold)")
    return x


CONSTANT_METHODS = {torch.Tensor.expand: expand, torch.Tensor.expand_as: expand}
