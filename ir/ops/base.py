"""The op base class, the registry of op kinds, and what ops share: axis letters, dtypes, broadcasting.

An op is a layer kind in every way the graph sees (a frozen dataclass in
:data:`twinnet.ir.layers.LAYERS`, saved by its kind name, shown in the
summary, lowered through the same tables), with three differences:

- ops take tensors of any of the IR's dtypes (``float32``, ``int32``,
  ``int64``, ``bool``) and check them themselves;
- ops name axes by layout letter only (never by position), so what an op
  computes does not depend on the order a backend holds its input in;
- ops make and read *free* axis letters (:data:`twinnet.ir.layout.FREE_AXES`),
  which no layer gives a meaning to (docs/ops.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from ..errors import LayoutError, ShapeError, show
from ..layers.base import Layer, register
from ..layout import ALL_AXES, MAX_RANK
from ..tensor import DTYPES, TensorSpec

#: Every op kind by its class name (each is in LAYERS too). Filled by :func:`register_op`.
OPS: dict[str, type["Op"]] = {}

FLOAT, INTEGERS = ("float32",), ("int32", "int64")
NUMERIC = FLOAT + INTEGERS


def register_op(cls):
    """Class decorator: an op kind, registered as a layer kind and listed in :data:`OPS`."""
    register(cls)
    OPS[cls.__name__] = cls
    return cls


@dataclass(frozen=True)
class Op(Layer):
    """Base of all ops (see the module docstring)."""

    integer_inputs = True  # each op checks its dtypes (check_dtypes)

    def check_dtypes(self, inputs: Sequence[TensorSpec], allowed: Sequence[str], what: str = "inputs") -> str:
        """The inputs' one dtype, which must be among ``allowed``."""
        dtypes = {s.dtype for s in inputs}
        if len(dtypes) != 1:
            self._fail(f"{what} must share one dtype, got {', '.join(s.dtype for s in inputs)}", ShapeError)
        (dtype,) = dtypes
        if dtype not in allowed:
            self._fail(f"{what} must be {' or '.join(allowed)}, got {dtype}", ShapeError)
        return dtype


def as_letter(op: Op, field: str, value) -> str:
    """One axis letter (a capital; ``N`` refused: ops never act across samples)."""
    if not isinstance(value, str) or len(value) != 1 or value not in ALL_AXES:
        op._fail(f"{field} must be one axis letter (a capital A-Z), got {show(value)}")
    if value == "N":
        op._fail(f"{field} cannot be the batch axis N (ops act on each sample alone)")
    return value


def as_letters(op: Op, field: str, value, *, empty: bool = False) -> str:
    """Distinct axis letters, given as a string (``"TC"``) or a sequence of letters."""
    if isinstance(value, (list, tuple)):
        value = "".join(as_letter(op, field, v) for v in value)
    if not isinstance(value, str) or (not value and not empty):
        op._fail(f"{field} must be a string of axis letters, got {show(value)}")
    for a in value:
        as_letter(op, field, a)
    if len(set(value)) != len(value):
        op._fail(f"{field} repeats an axis letter: {value!r}")
    return value


def as_dtype(op: Op, field: str, value) -> str:
    if value not in DTYPES:
        op._fail(f"{field} must be one of {', '.join(DTYPES)}, got {show(value)}")
    return value


def has_letters(op: Op, spec: TensorSpec, letters: str) -> None:
    missing = [a for a in letters if a not in spec.layout]
    if missing:
        raise LayoutError(f"axis {''.join(missing)!r} is not in the input's layout {spec.layout!r}", layer=op.label)


def broadcast(op: Op, inputs: Sequence[TensorSpec]) -> tuple[str, tuple]:
    """(layout, shape) of an element-wise result, broadcasting by letter.

    The result has the layout of the input with the most axes (the first such);
    every other input's letters must be among them (a missing letter counts as
    size 1), and sizes agree by letter or one is 1 (never on the batch axis).
    """
    widest = max(inputs, key=lambda s: s.rank)
    layout = widest.layout
    sizes = dict(zip(layout, widest.shape))
    for spec in inputs:
        extra = [a for a in spec.layout if a not in layout]
        if extra:
            raise LayoutError(
                f"inputs' axes must nest: {spec.layout!r} has {''.join(extra)!r}, which {layout!r} lacks",
                layer=op.label,
            )
        for a, s in zip(spec.layout, spec.shape):
            t = sizes[a]
            if a == "N" or s == t:
                continue
            if s == 1 or t == 1:
                sizes[a] = t if s == 1 else s
            elif s is None or t is None:
                sizes[a] = t if s is None else s  # an unknown length meets a known one: the known one
            else:
                raise ShapeError(
                    f"sizes of axis {a!r} differ and neither is 1: "
                    f"{' vs '.join(f'{x.layout} {x.shape}' for x in inputs)}",
                    layer=op.label,
                )
    return layout, tuple(sizes[a] for a in layout)


def checked_rank(op: Op, layout: str) -> str:
    if len(layout) > MAX_RANK:
        raise LayoutError(f"the result would have {len(layout)} axes, more than {MAX_RANK}", layer=op.label)
    return layout
