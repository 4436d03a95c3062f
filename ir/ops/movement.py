"""Ops that repeat, pad or pick entries along named axes: ``Expand``, ``Tile``, ``Pad``, ``Roll``, ``Take``.

A split is one ``Narrow`` per piece; an ``index_select`` with fixed indices
(a relative position table read through its index buffer) is ``Take``.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import ShapeError, show
from ..layers.base import as_float, as_int
from ..tensor import MAX_DIM, TensorSpec
from .base import Op, as_letter, as_letters, has_letters, register_op


def _sizes(op: Op, field: str, value, n: int, *, minimum: int = 1) -> tuple[int, ...]:
    if isinstance(value, int) and not isinstance(value, bool):
        value = (value,)
    if not isinstance(value, (list, tuple)) or len(value) != n:
        op._fail(f"{field} must be {n} int(s), one per axis, got {show(value)}")
    return tuple(as_int(op, field, v, minimum=minimum) for v in value)


def _known(op: Op, spec: TensorSpec, letter: str) -> int:
    size = spec.dim(letter)
    if size is None:
        raise ShapeError(f"needs the size of axis {letter!r} to be known", layer=op.label)
    return size


@register_op
@dataclass(frozen=True)
class Expand(Op):
    """Size-1 axes ``axes`` repeated to ``sizes`` (torch's ``expand``, a view where the backend has one)."""

    axes: str
    sizes: tuple[int, ...]

    def __post_init__(self):
        super().__post_init__()
        self._set("axes", as_letters(self, "axes", self.axes))
        self._set("sizes", _sizes(self, "sizes", self.sizes, len(self.axes)))

    def infer(self, inputs):
        spec = inputs[0]
        has_letters(self, spec, self.axes)
        new = dict(zip(self.axes, self.sizes))
        for a in self.axes:
            if spec.dim(a) != 1:
                raise ShapeError(f"can only expand axes of size 1; {a!r} has {spec.dim(a)}", layer=self.label)
        return TensorSpec(tuple(new.get(a, s) for a, s in zip(spec.layout, spec.shape)), spec.layout, spec.dtype)


@register_op
@dataclass(frozen=True)
class Tile(Op):
    """Axes ``axes`` repeated whole ``reps`` times (``[a, b] -> [a, b, a, b]``, torch's ``repeat``)."""

    axes: str
    reps: tuple[int, ...]

    def __post_init__(self):
        super().__post_init__()
        self._set("axes", as_letters(self, "axes", self.axes))
        self._set("reps", _sizes(self, "reps", self.reps, len(self.axes)))

    def infer(self, inputs):
        spec = inputs[0]
        has_letters(self, spec, self.axes)
        reps = dict(zip(self.axes, self.reps))
        shape = tuple(s * reps[a] if a in reps and s is not None else s for a, s in zip(spec.layout, spec.shape))
        if any(s is not None and s > MAX_DIM for s in shape):
            raise ShapeError(f"the result {shape} has a size over {MAX_DIM}", layer=self.label)
        return TensorSpec(shape, spec.layout, spec.dtype)


@register_op
@dataclass(frozen=True)
class Pad(Op):
    """``value`` added before and after axes ``axes``: ``pads`` holds one ``(before, after)`` pair per axis."""

    axes: str
    pads: tuple[tuple[int, int], ...]
    value: float = 0.0

    def __post_init__(self):
        super().__post_init__()
        self._set("axes", as_letters(self, "axes", self.axes))
        pads = self.pads
        if not isinstance(pads, (list, tuple)) or len(pads) != len(self.axes):
            self._fail(f"pads must hold one (before, after) pair per axis of {self.axes!r}, got {show(pads)}")
        self._set("pads", tuple(_sizes(self, "pads", p, 2, minimum=0) for p in pads))
        self._set("value", as_float(self, "value", self.value))

    def infer(self, inputs):
        spec = inputs[0]
        self.check_dtypes(inputs, ("float32",))
        has_letters(self, spec, self.axes)
        pads = dict(zip(self.axes, self.pads))
        shape = tuple(s + sum(pads[a]) if a in pads and s is not None else s for a, s in zip(spec.layout, spec.shape))
        return TensorSpec(shape, spec.layout, spec.dtype)


@register_op
@dataclass(frozen=True)
class Roll(Op):
    """Entries of axis ``axis`` shifted by ``shift`` (may be negative), those pushed off the end coming back
    at the start (torch's ``roll``; a shifted-window attention's cyclic shift)."""

    axis: str
    shift: int

    def __post_init__(self):
        super().__post_init__()
        self._set("axis", as_letter(self, "axis", self.axis))
        if isinstance(self.shift, bool) or not isinstance(self.shift, int) or abs(self.shift) > MAX_DIM:
            self._fail(f"shift must be an int, got {show(self.shift)}")

    def amount(self, spec: TensorSpec) -> int:
        """The shift as a number of entries in ``[0, size)``."""
        has_letters(self, spec, self.axis)
        return self.shift % _known(self, spec, self.axis)

    def infer(self, inputs):
        self.amount(inputs[0])
        return inputs[0]


@register_op
@dataclass(frozen=True)
class Take(Op):
    """Entries ``indices`` (fixed, any order, repeats allowed) of axis ``axis``, as a new axis ``letter``
    (default: the same letter): ``index_select`` with a constant index."""

    axis: str
    indices: tuple[int, ...]
    letter: str | None = None

    def __post_init__(self):
        super().__post_init__()
        self._set("axis", as_letter(self, "axis", self.axis))
        if not isinstance(self.indices, (list, tuple)) or not self.indices:
            self._fail(f"indices must be a non-empty tuple of ints, got {show(self.indices)}")
        self._set("indices", tuple(as_int(self, "indices", i, minimum=0) for i in self.indices))
        self._set("letter", self.axis if self.letter is None else as_letter(self, "letter", self.letter))

    def infer(self, inputs):
        spec = inputs[0]
        has_letters(self, spec, self.axis)
        size = _known(self, spec, self.axis)
        if max(self.indices) >= size:
            raise ShapeError(
                f"index {max(self.indices)} is out of range for axis {self.axis!r} of size {size}", layer=self.label
            )
        if self.letter != self.axis and self.letter in spec.layout:
            raise ShapeError(f"letter {self.letter!r} is already in {spec.layout!r}", layer=self.label)
        layout = spec.layout.replace(self.axis, self.letter)
        shape = tuple(len(self.indices) if a == self.axis else s for a, s in zip(spec.layout, spec.shape))
        return TensorSpec(shape, layout, spec.dtype)


@register_op
@dataclass(frozen=True)
class Gather(Op):
    """Per sample, the entries of axis ``axis`` of ``x`` at run-time positions: inputs ``[x, indices]``.

    ``indices`` is an integer tensor ``(N, L)`` (``L`` any letter not in ``x``
    but ``axis``); the result is ``x`` with ``axis`` replaced by ``L``:
    ``out[n, ..., l, ...] = x[n, ..., indices[n, l], ...]`` (torch's ``gather``
    with the index repeated over the other axes). Indices must be in range
    (``0 <= i < size``); negative ones are not supported.

    >>> from twinnet import ir
    >>> x, i = ir.Input((10, 4)), ir.Input((3,), layout="NL", dtype="int64")
    >>> Gather("T")([x, i]).layout
    'NLC'
    """

    axis: str
    arity = 2

    def __post_init__(self):
        super().__post_init__()
        self._set("axis", as_letter(self, "axis", self.axis))

    def infer(self, inputs):
        x, index = inputs
        has_letters(self, x, self.axis)
        self.check_dtypes([index], ("int32", "int64"), "indices")
        if index.rank != 2:
            raise ShapeError(f"indices must be (N, L), got layout {index.layout!r}", layer=self.label)
        (letter,) = index.layout.replace("N", "")
        if letter != self.axis and letter in x.layout:
            raise ShapeError(f"indices' letter {letter!r} is already in {x.layout!r}", layer=self.label)
        layout = x.layout.replace(self.axis, letter)
        shape = tuple(index.dim(letter) if a == self.axis else s for a, s in zip(x.layout, x.shape))
        return TensorSpec(shape, layout, x.dtype)
