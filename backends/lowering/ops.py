"""What every backend's op lowerings share: element-wise inputs brought to one held layout, positional inputs
held in declared order.

Ops compute where their inputs already are. An element-wise op keeps the
layout its inputs are held in (no transpose when they agree), and an input
with fewer axes (a mask ``NS`` against scores ``NATS``) is reshaped, not
transposed, to put size-1 axes where it lacks letters. Ops that read
positions (``View``, ``MatMul``) ask for the declared order with the batch
axis first, which is how a region made only of ops is held from its inputs
on: no transposes in any backend.
"""

from __future__ import annotations

from ...ir.errors import UnsupportedError
from ...ir.tensor import TensorSpec
from .code import Value


def batch_first(layout: str) -> str:
    return "N" + layout.replace("N", "")


def declared(ctx, value: Value) -> Value:
    """``value`` in logical feature order, held in declared order with the batch axis first."""
    return ctx.require(ctx.plain(value), batch_first(value.spec.layout))


def elementwise_inputs(ctx, node, inputs: list[Value]) -> tuple[list[Value], str, object]:
    """(``inputs`` held alike with every letter of ``node.spec``, that held layout, their feature order)."""
    spec = node.spec
    full = [v for v in inputs if len(v.spec.layout) == len(spec.layout)]
    if len(full) == len(inputs):
        return ctx.aligned(inputs, spec)
    full, phys, _ = ctx.aligned([ctx.plain(v) for v in full], spec)
    if phys[0] != "N":  # a reshape keeps the batch axis first: hold everything that way
        phys = batch_first(spec.layout)
        full = [ctx.require(v, phys) for v in full]
    out, k = [], 0
    for v in inputs:
        if len(v.spec.layout) == len(spec.layout):
            out.append(full[k])
            k += 1
            continue
        out.append(widened(ctx, v, spec, phys, f"{node.name}_{len(out)}"))
    return out, phys, None


def widened(ctx, value: Value, spec: TensorSpec, phys: str, base: str) -> Value:
    """``value`` with a size-1 axis for each letter of ``spec`` it lacks, held in ``phys`` (a reshape)."""
    x = ctx.require(ctx.plain(value), "".join(a for a in phys if a in value.spec.layout))
    sizes = dict(zip(value.spec.layout, value.spec.shape))
    shape = tuple(-1 if a in sizes and sizes[a] is None else sizes.get(a, 1) for a in phys[1:])
    if shape.count(-1) > 1:
        raise UnsupportedError(
            f"cannot broadcast {value.spec.layout!r} into {spec.layout!r}: it has two axes of unknown size",
            layer=base,
        )
    wide = TensorSpec(tuple(sizes.get(a, 1) for a in spec.layout), spec.layout, value.spec.dtype)
    return ctx.let(base, ctx.reshape_expr(x, shape, phys), wide, phys)


def broadcast_to(ctx, value: Value, spec: TensorSpec, phys: str, base: str) -> Value:
    """``value`` (whose letters are among ``spec``'s) held in ``phys``, with size-1 axes for missing letters."""
    if len(value.spec.layout) == len(spec.layout):
        return ctx.require(ctx.plain(value), phys)
    return widened(ctx, value, spec, phys, base)


def number(value: float, dtype: str = "float32") -> str:
    """A Python literal of ``value`` for a tensor of ``dtype`` (an int for integer tensors), written as ruff
    formats it (``-3.4e38``, not ``-3.4e+38``)."""
    return repr(int(value)) if dtype.startswith("int") else repr(float(value)).replace("e+", "e")
