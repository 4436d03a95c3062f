"""Symbolic tensors: what flows between layers while a model is being built."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from .errors import ConfigError, ShapeError, show
from .layout import check_layout, default_layout

if TYPE_CHECKING:
    from .graph import Node

DTYPES = ("float32", "int32", "int64", "bool")

#: Largest size of one axis. Bounding every size keeps shape arithmetic on
#: small ints whatever a file declares (sizes could otherwise grow without
#: limit through chains of Concatenate or Flatten).
MAX_DIM = 2**31


@dataclass(frozen=True)
class TensorSpec:
    """Shape, layout and dtype of a tensor.

    ``shape`` has one entry per layout axis, batch included; ``None`` marks a
    symbolic size (always the batch, and any sequence length given as None).
    """

    shape: tuple[int | None, ...]
    layout: str
    dtype: str = "float32"

    def __post_init__(self):
        check_layout(self.layout, len(self.shape))
        if self.dtype not in DTYPES:
            raise ConfigError(f"dtype must be one of {DTYPES}, got {show(self.dtype)}")
        if self.shape[self.layout.index("N")] is not None:
            raise ShapeError("the batch dimension must be symbolic (None)")

    def dim(self, axis: str) -> int | None:
        """Size of the axis with letter ``axis``."""
        return self.shape[self.layout.index(axis)]

    @property
    def rank(self) -> int:
        return len(self.shape)

    def concrete(self, batch: int, seq: int | None = None) -> tuple[int, ...]:
        """A concrete shape: ``batch`` for N, ``seq`` for any other symbolic axis."""
        out = []
        for axis, size in zip(self.layout, self.shape):
            if axis == "N":
                out.append(batch)
            elif size is None:
                if seq is None:
                    raise ShapeError(f"axis {axis!r} of shape {fmt_shape(self)} is symbolic; give a length")
                out.append(seq)
            else:
                out.append(size)
        return tuple(out)

    def __str__(self) -> str:
        return f"{fmt_shape(self)} {self.layout}"


def fmt_shape(spec: TensorSpec) -> str:
    return "(" + ", ".join("?" if s is None else str(s) for s in spec.shape) + ")"


class Tensor:
    """A symbolic tensor in a model under construction.

    Produced by :func:`twinnet.ir.Input` or by calling a layer; carries its spec and
    the node that produced it.
    """

    __slots__ = ("spec", "node", "index")

    def __init__(self, spec: TensorSpec, node: "Node", index: int = 0):
        self.spec = spec
        self.node = node
        self.index = index

    shape = property(lambda self: self.spec.shape)
    layout = property(lambda self: self.spec.layout)
    dtype = property(lambda self: self.spec.dtype)

    @property
    def name(self) -> str:
        return self.node.ref(self.index)

    def __repr__(self) -> str:
        return f"<ir.Tensor {self.name!s} {self.spec}>"


def make_input_spec(shape, layout: str | None, dtype: str, name: str | None) -> TensorSpec:
    """Spec of a model input; ``shape`` lists the non-batch dims in layout order."""
    where = f"Input {name!r}" if name else "Input"
    if isinstance(shape, int) and not isinstance(shape, bool):
        shape = (shape,)
    if not isinstance(shape, (tuple, list)):
        raise ShapeError(f"shape must be a tuple of ints (non-batch dims), got {show(shape, 200)}", layer=where)
    for s in shape:
        if s is not None and (isinstance(s, bool) or not isinstance(s, int) or not 1 <= s <= MAX_DIM):
            raise ShapeError(
                f"shape entries must be positive ints or None (sizes at most {MAX_DIM}), got {show(tuple(shape), 200)}",
                layer=where,
            )
    if dtype not in DTYPES:
        raise ConfigError(f"dtype must be one of {DTYPES}, got {show(dtype)}", layer=where)
    integer = dtype.startswith("int")
    if layout is None:
        layout = default_layout(len(shape) + 1, integer, layer=where)
    check_layout(layout, len(shape) + 1, layer=where)
    full = list(shape)
    full.insert(layout.index("N"), None)
    if "C" in layout and full[layout.index("C")] is None:
        raise ShapeError(f"the channel axis C must have a known size, got shape {tuple(shape)!r}", layer=where)
    return TensorSpec(tuple(full), layout, dtype)
