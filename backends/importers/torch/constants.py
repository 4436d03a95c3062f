"""Parameters read directly in ``forward`` -> IR ``LearnedConstant``; ``expand`` over the batch -> nothing.

A ViT keeps its class token ``nn.Parameter(1, 1, d)`` and positional
embedding ``nn.Parameter(1, n + 1, d)`` on the module and combines them with
activations itself (``torch.cat([self.cls.expand(b, -1, -1), x], 1) + self.pos``).
fx records such a read as a ``get_attr`` node. A tensor whose leading axis
is 1 broadcasts over the batch, which is what ``LearnedConstant`` computes:
its value is the tensor without that axis, and its (reference) input, used
only for the batch size, is the model's first input. Any other shape would
not broadcast over the batch and is refused.

The read becomes a :class:`Learned` value, made a layer only when a consumer
takes a tensor from it: by then the tensors it is combined with (the patch
tokens it is concatenated to) are converted, and the layer takes their axis
letters, so that no relabelling is needed there. Until then it passes
through ``Tensor.expand(b, -1, ...)`` / ``expand_as`` that only stretch the
batch axis (nothing in the IR, whose tensors all have a symbolic batch
axis), ``contiguous()`` and constant indexing that keeps the leading 1
(``self.pos[:, :n]``: the slice is taken from the stored tensor). A tensor
read several times (fx records one ``get_attr`` per parameter, but one per
read of a buffer) is one layer with several consumers.
"""

from __future__ import annotations

import numpy as np
import torch

from .... import ir
from ....ir import layers as L
from ....ir.errors import UnsupportedError
from ....ir.layout import free_letters
from .aten_values import Held, regrouped
from .capture import Info, guess_layout, layout_for
from .recurrent import Lazy

__all__ = ["CONSTANT_METHODS", "Learned", "learned_value"]


class Learned(Lazy):
    """A tensor read in ``forward`` (``held``, leading axis 1) that becomes a LearnedConstant when used."""

    why = "indexing a tensor read in forward is supported only with constant slices that keep its leading axis"

    def __init__(self, node, held: torch.Tensor, key=None):
        self.node, self.held, self.key = node, held, key  # key: caches the layer (None for a slice of a read)

    def materialize(self, ctx) -> ir.Tensor:
        if self.key is not None and self.key in ctx.learned:
            return ctx.learned[self.key]
        reference = next((x for x in ctx.ir_inputs if x is not None), None)
        if reference is None:
            raise UnsupportedError("no model input to take the batch size from")
        rank = self.held.dim()
        layout = _partner_layout(ctx, self.node, rank) or guess_layout(ctx.gm, self.node, rank, False)
        if layout.index("N") != 0:
            layout = layout_for(rank, 0, 1 if rank > 2 else rank - 1)
        name = ctx.claim(self.node.target)
        out = L.LearnedConstant(tuple(self.held.shape[1:]), layout=layout, name=name)(reference)
        ctx.weights[f"{name}/value"] = np.array(self.held.detach().cpu().numpy()[0], dtype=np.float32)
        if self.key is not None:
            ctx.learned[self.key] = out
        return out

    def pick(self, index):
        """``self.held[index]`` for a constant index: another Learned value where it keeps the leading 1, else a
        batchless :class:`Held` one."""
        try:
            with torch.no_grad():
                part = self.held[index]
        except (TypeError, IndexError, ValueError):
            return None
        if 0 in part.shape:
            return None
        if part.dim() != self.held.dim() or part.shape[0] != 1:
            return Held(self.node, part)  # no longer repeated over the batch: a value of its own (aten_values.py)
        return Learned(self.node, part)


def learned_value(ctx, node, held: torch.Tensor) -> Learned:
    """The value of get_attr ``node`` reading ``held`` (refused unless it broadcasts over the batch)."""
    shape = tuple(held.shape)
    if held.dim() < 2 or shape[0] != 1:
        raise UnsupportedError(
            f"the forward reads {node.target} of shape {shape} directly; as a value it needs a "
            "leading axis of size 1 to repeat over the batch (a class token (1, 1, d), a positional "
            "embedding (1, n, d)), and the IR holds other weights only inside its layers"
        )
    if held.dtype != torch.float32:
        raise UnsupportedError(
            f"the forward reads {node.target} of dtype {held.dtype}; the IR's learned values are float32"
        )
    return Learned(node, held, key=node.target)


def _partner_layout(ctx, node, rank: int) -> str | None:
    """The layout of a converted batch-first tensor combined with ``node``'s value (past the nodes it passed)."""
    frontier, seen = list(node.users), set()
    while frontier:
        user = frontier.pop(0)
        if user in seen:
            continue
        seen.add(user)
        if isinstance(ctx.values.get(user), Learned):  # an expand, contiguous() or slice of the value
            frontier += list(user.users)
        for arg in user.all_input_nodes:
            value = ctx.values.get(arg)
            if isinstance(value, ir.Tensor) and value.spec.rank == rank and value.layout[0] == "N":
                return value.layout
    return None


def expand(ctx, call):
    """``x.expand(sizes)`` / ``x.expand_as(y)`` that stretches only the batch axis: the value itself."""
    value = call.args[0]
    x = value if isinstance(value, Learned) else ctx.tensor(value)
    n = ctx.n_pos(call.node)
    if isinstance(x, Learned) and n == 0 and (regrouped(ctx, call.node) or _taken(call.node)):
        return _as_op(ctx, call, x)
    before, after = ctx.run1.get(call.node.args[0]), call.info
    held_n = 0 if isinstance(x, Learned) else x.layout.index("N")
    if not isinstance(before, Info) or not isinstance(after, Info) or n is None or held_n != n:
        raise UnsupportedError("only an expand that stretches the batch axis (to the batch size) is supported")
    if len(before.shape) != len(after.shape) or any(
        a != b for i, (a, b) in enumerate(zip(before.shape, after.shape)) if i != n
    ):
        raise UnsupportedError(
            f"expands {tuple(before.shape)} to {tuple(after.shape)}: only the batch axis may "
            "grow (other sizes would need a broadcast the IR does not hold)"
        )
    return x


def _taken(node) -> bool:
    """Whether an index (``index_select``, ``x[idx]``) reads ``node``: an op only the op tier has."""
    return any(u.target in (torch.ops.aten.index_select.default, torch.ops.aten.index.Tensor) for u in node.users)


def _as_op(ctx, call, value: Learned) -> ir.Tensor:
    """``self.table.expand(q.shape[0], -1, ...)`` read by an index or over a regrouped batch (how ``to_torch``
    writes a ``Learned`` op a Swin attention's relative position bias reads): that op, in free letters, as a
    value computed without the inputs reads (``aten_values.Held``), repeated over the model input's batch, or
    over windows that of the last tensor before it with ``q``'s (``q.shape[0]`` is a product of the input's
    batch in export's graph; the rewrite ``windows_reference`` names one reference for every spelling)."""
    shape = tuple(value.held.shape[1:])
    layout = "N" + free_letters("N", len(shape))
    if not regrouped(ctx, call.node):
        return Held(value.node, value.held[0]).learned(ctx, shape, layout)
    like = None
    for node in call.node.graph.nodes:  # the last tensor before it with that batch (rewrites.py picks one)
        if node is call.node:
            break
        seen = ctx.values.get(node)
        if isinstance(seen, ir.Tensor) and seen.layout[0] == "N" and ctx.n_pos(node) == 0:
            like = seen if _same_batch(ctx, node, call.node) else like
    if like is None:
        raise UnsupportedError("an expand over a regrouped batch (windows) that no tensor before it has")
    return Held(value.node, value.held[0]).learned(ctx, shape, layout, like)


def _same_batch(ctx, a, b) -> bool:
    """Whether nodes ``a`` and ``b`` (batch first) had one batch size on both recorded runs."""
    runs = [(run.get(a), run.get(b)) for run in (ctx.run1, ctx.run2)]
    return all(isinstance(x, Info) and isinstance(y, Info) and x.shape[0] == y.shape[0] for x, y in runs)


CONSTANT_METHODS = {torch.Tensor.expand: expand, torch.Tensor.expand_as: expand}
