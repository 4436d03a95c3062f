"""Tensors computed without the batch axis in torch: weights read directly and what depends on no input's values.

Every IR tensor has the batch axis, and a ``Learned`` weight or ``Positions``
ids are the same for every sample. Torch code (Llama's rotary tables, an
RMSNorm weight) computes such tensors once, without the batch axis, and
lets broadcasting from the right repeat them where they meet the data. The
torch backend does the same: a :class:`Bare` value is a torch tensor of the
IR tensor's axes after ``N`` (possibly with leading size-1 axes, which
broadcasting ignores). ``Learned`` and ``Positions`` start one where every
reader is an op of :data:`REGION`; those ops keep it bare while their own
readers are too (:func:`region`), and ``Binary`` combines it with data as
it is where torch's alignment from the right is the IR's by letter
(:func:`bare_fits`). Anywhere else it is expanded over the batch first
(:func:`expanded`, a view), so what is computed never changes.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

from ...ir.ops import Binary, Cast, Clip, Concat, Unary, View, Where
from ..lowering.code import Value


@dataclass(frozen=True)
class Bare(Value):
    """A torch tensor without the batch axis: the IR tensor's axes after ``N``, after ``rank - (its rank - 1)``
    leading size-1 axes; ``ref``: a value of the batch it is repeated over, for :func:`expanded`."""

    ref: Value | None = None
    rank: int = 0


def letters(value: Value) -> str:
    """The letters of ``value``'s axes in the order torch holds them (a bare weight: as stored)."""
    return value.phys.replace("N", "")


def bare(ctx, value: Value, ref: Value, rank: int | None = None) -> Bare:
    """``value`` (held in its declared order) as a :class:`Bare` tensor of ``rank`` axes (default: one per letter)."""
    base = {f.name: getattr(value, f.name) for f in fields(Value)}
    return Bare(**base, ref=ref, rank=len(letters(value)) if rank is None else rank)


def readers(ctx, node) -> list:
    """The nodes that read ``node`` (the lowering's readers map, built once)."""
    return ctx.readers[node.name]


#: the ops that take a Bare input (keeping it bare, combining it as it is, or expanding it)
REGION = (Unary, Cast, Binary, Clip, Where, Concat, View)


def stays_bare(ctx, node) -> bool:
    """Whether ``node``'s value may be :class:`Bare`: every reader is a :data:`REGION` op, none an output."""
    return ctx.read_only_by(node, REGION)


def expanded(ctx, value: Value) -> Value:
    """``value`` as any other value (a :class:`Bare` tensor expanded over the batch, a view), else itself."""
    if not isinstance(value, Bare):
        return value
    x, k = value.ref, len(letters(value))
    var = value.var
    if value.rank != k:  # leading size-1 axes a View left (held in declared order)
        sizes = [-1 if s is None else s for a, s in zip(value.spec.layout, value.spec.shape) if a != "N"]
        var = f"{var}.reshape({', '.join(map(str, sizes))})"
    sizes = ", ".join([f"{x.var}.shape[{x.pos('N')}]"] + ["-1"] * k)
    out = ctx.let(value.var.removeprefix("self."), f"{var}.expand({sizes})", value.spec, "N" + letters(value))
    return replace(out, constant=True)


def bare_fits(value: Value, phys: str) -> bool:
    """Whether torch's broadcasting of :class:`Bare` ``value`` against a tensor held in ``phys`` is the IR's
    by letter: its letters end ``phys``, in order, and it has no more axes than ``phys``."""
    return isinstance(value, Bare) and phys[0] == "N" and phys.endswith(letters(value)) and value.rank <= len(phys)


def unit_sizes(value: Value, phys: str) -> list[int] | None:
    """The sizes a :class:`Bare` weight is viewed to so that torch's broadcasting against a tensor held in
    ``phys`` is the IR's by letter, where its letters stand in ``phys`` in order but do not end it: a size-1
    axis for each letter of ``phys`` after its first one that it lacks (a layer scale ``C`` against ``NCHW``:
    ``(C, 1, 1)``); None where it fits as it is or cannot be made to."""
    own = letters(value)
    if not isinstance(value, Bare) or value.rank != len(own) or bare_fits(value, phys) or phys[0] != "N":
        return None
    if not own or any(a not in phys for a in own):
        return None
    tail = phys[phys.index(own[0]) :]
    if "".join(a for a in tail if a in own) != own:
        return None
    return [value.spec.dim(a) if a in own else 1 for a in tail]


def viewed(ctx, value: Bare, phys: str) -> Bare:
    """:class:`Bare` ``value`` viewed to :func:`unit_sizes` (``self.weight.view(C, 1, 1)``), a view."""
    sizes = unit_sizes(value, phys)
    tail = phys[phys.index(letters(value)[0]) :]
    out = ctx.let(
        value.var.removeprefix("self."), f"{value.var}.view({', '.join(map(str, sizes))})", value.spec, "N" + tail
    )
    return replace(bare(ctx, out, value.ref), constant=True)


def region(bare_fn):
    """A lowering that takes :class:`Bare` inputs: ``bare_fn(ctx, node, inputs)`` where every tensor input is
    bare and the result may stay so (it returns a :class:`Bare` value, or None where it cannot), else the
    lowering itself on the inputs expanded."""

    def wrap(fn):
        def lower(ctx, node, inputs):
            if not any(isinstance(v, Bare) for v in inputs):
                return fn(ctx, node, inputs)
            if all(isinstance(v, Bare) for v in inputs) and stays_bare(ctx, node):
                out = bare_fn(ctx, node, inputs)
                if out is not None:
                    return out
            if isinstance(node.layer, Binary):
                return fn(ctx, node, inputs)  # it combines a bare weight as it is where that fits
            return fn(ctx, node, [expanded(ctx, v) for v in inputs])

        lower.__name__ = fn.__name__
        lower.__doc__ = fn.__doc__
        return lower

    return wrap


def elementwise_bare(expr_of):
    """The ``bare_fn`` of an element-wise op whose expression is ``expr_of(node, vars)``: each input's letters
    end the result's (torch aligns from the right), none with more axes than the result."""

    def bare_fn(ctx, node, inputs):
        out, rank = node.spec.layout.replace("N", ""), max(v.rank for v in inputs)
        if node.spec.layout[0] != "N" or rank < len(out) or any(not out.endswith(letters(v)) for v in inputs):
            return None
        value = ctx.let(node.name, expr_of(node, [v.var for v in inputs]), node.spec, node.spec.layout)
        return bare(ctx, value, inputs[0].ref, rank)

    return bare_fn
