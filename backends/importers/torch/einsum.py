"""``torch.einsum`` (``aten.einsum``) rewritten, in the exported graph, into the ATen ops it amounts to.

An einsum whose operands meet pairwise as (batched) matrix products is a
chain of ``permute``, ``flatten`` / ``unsqueeze``, ``matmul``, ``unflatten`` /
``squeeze`` and ``sum`` nodes: those already convert (``aten_shape.py``,
``aten_compute.py``), so :func:`lower_einsums` rewrites the graph before the
importer records it, and no IR op is needed. Operands are contracted left to
right; for each pair the letters split into

* **shared** (in both, still needed): the product's leading axes, broadcast;
* **contracted** (in both, not needed later): one axis ``K`` (flattened);
* **left-only** / **right-only**: the rows ``M`` (the left's last such letter;
  the others lead) and the columns ``P`` (flattened, unflattened after);

and a letter in one operand only, needed nowhere else, is summed first. The
operand holding the batch axis goes left and its batch letter leads, so the
product keeps the batch axis first, as the op tier wants. An equation that is
not of this form (a letter repeated in one operand, a diagonal) keeps its
``einsum`` node, and its converter (``EINSUM``) refuses it, naming the
equation and why.
"""

from __future__ import annotations

import string
from typing import Callable

import torch

from ....ir.errors import UnsupportedError
from .capture import Info, batch_axis, record

aten = torch.ops.aten
_WHY = "twinnet_einsum"  # node.meta key: why an einsum was left unlowered


def _parse(equation: str, ranks: list[int]) -> tuple[list[str], str]:
    """Each operand's letters and the output's, ``...`` spelt out as fresh letters (broadcast to the right)."""
    eq = equation.replace(" ", "")
    left, arrow, right = eq.partition("->")
    terms = left.split(",")
    if len(terms) != len(ranks):
        raise ValueError(f"{len(terms)} operand term(s) for {len(ranks)} operand(s)")
    used = set(eq) - set(".,->")
    fresh = [c for c in string.ascii_letters if c not in used]
    spans = [r - len(t.replace("...", "")) if "..." in t else 0 for t, r in zip(terms, ranks)]
    dots = fresh[: max(spans, default=0)]
    letters = []
    for t, r, k in zip(terms, ranks, spans):
        spelt = t.replace("...", "".join(dots[len(dots) - k :]))
        if len(spelt) != r or not all(c.isalpha() for c in spelt):
            raise ValueError(f"the term {t!r} does not fit a rank-{r} operand")
        if len(set(spelt)) != len(spelt):
            raise ValueError(f"the term {t!r} repeats a letter (a diagonal)")
        letters.append(spelt)
    if arrow:
        out = right.replace("...", "".join(dots))
    else:  # implicit output: the broadcast letters, then the letters used once, in alphabetical order
        once = [c for c in sorted(set("".join(letters))) if "".join(letters).count(c) == 1 and c not in dots]
        out = "".join(dots) + "".join(once)
    if len(set(out)) != len(out) or not set(out) <= set("".join(letters)):
        raise ValueError(f"the output {right!r} repeats a letter or names one no operand has")
    return letters, out


class _Lowering:
    """Writes the ATen nodes of one einsum before it; ``sizes``: each letter's size in the example run."""

    def __init__(self, graph: torch.fx.Graph, sizes: dict[str, int]):
        self.graph, self.sizes = graph, sizes

    def op(self, target, *args):
        return self.graph.call_function(target, args)

    def permute(self, x, have: str, want: str):
        return x if have == want else self.op(aten.permute.default, x, [have.index(c) for c in want])

    def merged(self, x, start: int, count: int):
        """Axes ``start .. start+count-1`` as one: flattened, or a new size-1 axis when there are none."""
        if count == 0:
            return self.op(aten.unsqueeze.default, x, start)
        return x if count == 1 else self.op(aten.flatten.using_ints, x, start, start + count - 1)

    def sum_out(self, x, have: str, keep: set) -> tuple:
        gone = [i for i, c in enumerate(have) if c not in keep]
        if not gone:
            return x, have
        return self.op(aten.sum.dim_IntList, x, gone), "".join(c for c in have if c in keep)

    def pair(self, a, la: str, b, lb: str, keep: set, batch: str | None) -> tuple:
        """``a`` (letters ``la``) with ``b`` (``lb``), keeping the letters in ``keep``: (node, its letters)."""
        a, la = self.sum_out(a, la, keep | set(lb))
        b, lb = self.sum_out(b, lb, keep | set(la))
        if batch is not None and batch in lb and batch not in la:
            a, la, b, lb = b, lb, a, la  # the batched operand on the left, so the product is batch first
        shared = [c for c in la if c in lb and c in keep]
        contracted = [c for c in la if c in lb and c not in keep]
        left = [c for c in la if c not in lb]
        right = [c for c in lb if c not in la]
        rows = next((c for c in reversed(left) if c != batch), None)
        lead = [c for c in shared + left if c != rows]
        if batch in lead:
            lead.remove(batch)
            lead.insert(0, batch)
        lead, rows_s, k = "".join(lead), rows or "", len(contracted)
        a = self.merged(self.permute(a, la, lead + rows_s + "".join(contracted)), len(lead) + len(rows_s), k)
        if not rows:
            a = self.op(aten.unsqueeze.default, a, len(lead))
        b_lead = "".join(c for c in lead if c in lb)
        b = self.permute(b, lb, b_lead + "".join(contracted) + "".join(right))
        for i, c in enumerate(lead):
            if c not in lb:
                b = self.op(aten.unsqueeze.default, b, i)  # a size-1 axis: broadcast against the left's
        b = self.merged(self.merged(b, len(lead), k), len(lead) + 1, len(right))
        out = self.op(aten.matmul.default, a, b)
        last = len(lead) + 1
        if not right:
            out = self.op(aten.squeeze.dim, out, last)
        elif len(right) > 1:
            out = self.op(aten.unflatten.int, out, last, [self.sizes[c] for c in right])
        if not rows:
            out = self.op(aten.squeeze.dim, out, len(lead))
        return out, lead + rows_s + "".join(right)


def _lower(gm, node, run1, run2) -> None:
    equation, operands = node.args[0], list(node.args[1])
    infos = [run1.get(o) for o in operands]
    if not all(isinstance(i, Info) for i in infos):
        raise ValueError("an operand is not a tensor")
    letters, out = _parse(equation, [len(i.shape) for i in infos])
    sizes, batch = {}, set()
    for o, lt, info in zip(operands, letters, infos):
        for c, s in zip(lt, info.shape):
            sizes[c] = max(sizes.get(c, 1), s)
        axis = batch_axis(info, run2[o]) if isinstance(run2.get(o), Info) else None
        if axis is not None:
            batch.add(lt[axis])
    if len(batch) > 1:
        raise ValueError(f"the operands hold the batch axis under different letters {sorted(batch)}")
    lowering = _Lowering(gm.graph, sizes)
    with gm.graph.inserting_before(node):
        value, have = lowering.sum_out(operands[0], letters[0], set(out).union(*letters[1:]))
        for i in range(1, len(operands)):
            keep = set(out).union(*letters[i + 1 :])
            value, have = lowering.pair(value, have, operands[i], letters[i], keep, next(iter(batch), None))
        value = lowering.permute(value, have, out)
    if value is operands[0]:
        value = gm.graph.call_function(aten.alias.default, (value,))
        node.prepend(value)
    node.replace_all_uses_with(value)
    gm.graph.erase_node(node)


def lower_einsums(gm: torch.fx.GraphModule, inputs: list, batch_axes: list[int]) -> None:
    """Every ``aten.einsum`` node of ``gm`` rewritten as products and reshapes, where its equation allows
    (the others keep their node and the reason, which ``refuse`` reports)."""
    nodes = [n for n in gm.graph.nodes if n.op == "call_function" and n.target is aten.einsum.default]
    if not nodes:
        return
    run1, run2, _ = record(gm, inputs, batch_axes)
    for node in nodes:
        try:
            _lower(gm, node, run1, run2)
        except ValueError as e:
            node.meta[_WHY] = str(e)
    gm.graph.lint()
    gm.recompile()


def refuse(ctx, call):
    """The converter of an einsum :func:`lower_einsums` left (or of ``torch.einsum`` in a ``torch.fx``
    trace): refused with its equation and why."""
    equation, *operands = call.node.args
    operands = operands[0] if len(operands) == 1 and isinstance(operands[0], (list, tuple)) else operands
    why = call.node.meta.get(_WHY)
    if why is None:
        try:
            _parse(equation, [len(ctx.run1[o].shape) for o in operands])
            why = "only the torch.export capture lowers einsums"
        except (ValueError, KeyError, AttributeError) as e:
            why = str(e)
    raise UnsupportedError(f"einsum {equation!r} is not a chain of products of operand pairs: {why}")


#: torch.einsum / ATen op -> converter (only the refusal: the lowerable einsums are gone before conversion)
EINSUM: dict[Callable, Callable] = {aten.einsum.default: refuse, torch.einsum: refuse}
