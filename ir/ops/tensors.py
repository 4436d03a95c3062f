"""Tensors the graph makes itself: ``Learned`` (a weight read directly) and ``Positions`` (``arange`` ids).

Every IR tensor has the batch axis, so both take one reference input, read
only for its batch size (and, for ``Positions``, the length of one axis),
and repeat their value over the batch. Backends make that repetition a
view where they can (torch ``expand``, ONNX ``Expand``).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import show
from ..layers.base import WeightSpec, as_choice, as_int
from ..layout import check_layout, free_letters
from ..tensor import TensorSpec
from .base import Op, as_letter, has_letters, register_op

INITS = ("zeros", "ones", "embedding_uniform", "glorot_uniform")


@register_op
@dataclass(frozen=True)
class Learned(Op):
    """A trained tensor the model reads directly (class token, position embedding, layer scale, relative
    position table): weight ``value`` of shape ``shape`` (the axes after ``N``), the same for every sample.

    ``layout`` names the axes, ``N`` first (default ``N`` then free letters);
    ``init`` is its initial value (``zeros``, ``ones``, ``embedding_uniform``, ``glorot_uniform``).
    A size-1 axis broadcasts in element-wise ops: a layer scale is
    ``Learned((1, 64), "NTC", init="ones")`` times ``x``.

    >>> from twinnet import ir
    >>> Learned((1, 16), "NTC")(ir.Input((5, 16))).shape
    (None, 1, 16)
    """

    shape: tuple[int, ...]
    layout: str | None = None
    init: str = "zeros"

    def __post_init__(self):
        super().__post_init__()
        shape = (self.shape,) if isinstance(self.shape, int) and not isinstance(self.shape, bool) else self.shape
        if not isinstance(shape, (list, tuple)) or not shape:
            self._fail(f"shape must be a non-empty tuple of sizes (after the batch axis), got {show(shape)}")
        self._set("shape", tuple(as_int(self, "shape", s) for s in shape))
        layout = self.layout if self.layout is not None else "N" + free_letters("N", len(self.shape))
        check_layout(layout, len(self.shape) + 1, layer=self.label)
        if layout[0] != "N":
            self._fail(f"layout must put N first, got {layout!r}")
        self._set("layout", layout)
        as_choice(self, "init", self.init, INITS)

    def infer(self, inputs):
        return TensorSpec((None, *self.shape), self.layout)

    def weights(self, inputs):
        return {"value": WeightSpec(self.shape, self.init)}


@register_op
@dataclass(frozen=True)
class Positions(Op):
    """``0, 1, ..., n - 1`` along a new axis ``letter`` for every sample, ``n`` the length of the reference
    input's axis ``axis`` (known or symbolic): the position ids of a sequence (``arange``).

    >>> from twinnet import ir
    >>> Positions("T")(ir.Input((None, 8))).layout
    'NT'
    """

    axis: str
    letter: str | None = None
    dtype: str = "int64"

    def __post_init__(self):
        super().__post_init__()
        self._set("axis", as_letter(self, "axis", self.axis))
        self._set("letter", self.axis if self.letter is None else as_letter(self, "letter", self.letter))
        as_choice(self, "dtype", self.dtype, ("int32", "int64", "float32"))

    def infer(self, inputs):
        spec = inputs[0]
        has_letters(self, spec, self.axis)
        return TensorSpec((None, spec.dim(self.axis)), "N" + self.letter, self.dtype)
