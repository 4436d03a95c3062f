"""The generated code a backend lowers a model into: :class:`Program`, its definitions and :class:`Value`.

A backend lowers a model into a :class:`Program`: definitions for its layers
(:class:`LayerDef`, torch's :class:`BufferDef`, block instances as
:class:`BlockDef`), body lines for the computation, and the weights in the
framework's own layout. The same program is rendered as readable source
(``emit``) and executed to get a live model (``to_keras`` / ``to_torch``), so
what users read is exactly what runs.

:func:`py`, :func:`call` and :class:`Raw` write the literals and calls of
that code (strings double-quoted, as ruff format writes them).
"""

from __future__ import annotations

import keyword
import re
from dataclasses import dataclass, field
from typing import Union

import numpy as np

from ...ir.tensor import TensorSpec


@dataclass(frozen=True)
class Value:
    """An IR tensor inside generated code."""

    var: str  # variable name in the generated code
    spec: TensorSpec  # declared (logical) spec
    phys: str  # physical layout: the axis letters in the order the framework holds them
    feat: np.ndarray | None = field(default=None, compare=False)
    # a weight expanded over the batch (a view): holding it in another layout costs nothing at run time, so a
    # merge with data adopts the data's layout rather than the constant's
    constant: bool = field(default=False, compare=False)

    def pos(self, axis: str) -> int:
        """Physical index of a layout letter."""
        return self.phys.index(axis)

    def phys_shape(self) -> tuple[int | None, ...]:
        return tuple(self.spec.dim(a) for a in self.phys)


@dataclass(frozen=True)
class LayerDef:
    """A layer (Keras) or submodule (torch): ``<name> = <constructor>``."""

    name: str
    constructor: str


@dataclass(frozen=True)
class BufferDef:
    """A torch buffer that ``load_state_dict`` fills: ``register_buffer(<name>, torch.zeros(<shape>, dtype))``."""

    name: str
    dtype: str  # numpy dtype name: "int64", "float32"
    shape: str  # source of the shape tuple, "(12,)" (a block's parameter name where instances differ)


@dataclass(frozen=True)
class BlockDef:
    """An instance of a block class (torch): ``<name> = <constructor>``, e.g. ``ConvBlock(256, 64)``."""

    name: str
    constructor: str


Def = Union[LayerDef, BufferDef, BlockDef]


@dataclass
class Program:
    """Generated code for one model: layer definitions, body lines, weights."""

    name: str
    inputs: list[tuple[str, TensorSpec, str]] = field(default_factory=list)  # (var, spec, physical layout)
    defs: list[Def] = field(default_factory=list)
    body: list[str] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)
    output_layouts: list[str] = field(default_factory=list)
    native_io: bool = False  # inputs and outputs held as the framework holds them (not in declared order)
    weights: dict[str, object] = field(default_factory=dict)
    helpers: set[str] = field(default_factory=set)  # helper classes the code needs
    transposes: int = 0  # transposes emitted (for tests)
    body_origin: list[str | None] = field(default_factory=list)  # node that emitted each body line
    def_origin: list[str | None] = field(default_factory=list)  # node that emitted each def
    layout_lines: set[int] = field(default_factory=set)  # body lines that only transpose
    blocks: list = field(default_factory=list)  # BlockCode, see block_code.py
    notes: list[str] = field(default_factory=list)  # why a block was emitted inline


def identifier(name: str, reserved=frozenset()) -> str:
    """``name`` as a safe identifier: not a keyword, not one of ``reserved``."""
    name = re.sub(r"\W", "_", name) or "_"
    if name[0].isdigit():  # "1x1" -> "_1x1": a suffix would not make it an identifier
        name = "_" + name
    if keyword.iskeyword(name) or name in reserved:
        name = name + "_"
    return name


def quoted(text: str) -> str:
    """A string literal for ``text`` as ruff format writes it: double quotes unless that needs more escapes."""
    literal = repr(text)
    if literal[0] == "'" and '"' not in text:  # repr chose single quotes and there is no quote inside
        return '"' + literal[1:-1] + '"'
    return literal


def py(value) -> str:
    """A Python literal for a config value."""
    if isinstance(value, str):
        return quoted(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, tuple) and len(value) == 1:
        return f"({py(value[0])},)"
    if isinstance(value, (list, tuple)):
        inner = ", ".join(py(v) for v in value)
        return f"({inner})" if isinstance(value, tuple) else f"[{inner}]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{py(k)}: {py(v)}" for k, v in value.items()) + "}"
    return repr(value)


def call(fn: str, *args, **kwargs) -> str:
    parts = [py(a) if not isinstance(a, Raw) else str(a) for a in args]
    parts += [f"{k}={v if isinstance(v, Raw) else py(v)}" for k, v in kwargs.items()]
    return f"{fn}({', '.join(parts)})"


class Raw(str):
    """A piece of source to insert as is (not as a literal)."""
