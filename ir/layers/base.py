"""The layer base class, the registry of layer kinds, and argument checks.

A layer is a frozen dataclass holding configuration only. Its weights live in
the :class:`twinnet.ir.Model` that contains it (keyed ``"<layer name>/<weight>"``), so
calling one layer object twice makes two layers with separate weights.
Arguments are normalised (``3`` -> ``(3, 3)``) and checked in
``__post_init__``; a bad one raises :class:`twinnet.ir.ConfigError` naming the layer.
"""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import KW_ONLY, dataclass
from typing import Any, ClassVar, Sequence

from ..errors import ConfigError, ResourceLimitError, ShapeError, show
from ..tensor import Tensor, TensorSpec

#: Every layer kind by its class name. Filled by :func:`register`.
LAYERS: dict[str, type["Layer"]] = {}

_ITEMSIZE = {"float32": 4, "int32": 4, "int64": 8}
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}\Z")


def register(cls):
    """Class decorator: add a layer kind to :data:`LAYERS` under its class name."""
    if cls.__name__ in LAYERS:
        raise RuntimeError(f"layer kind {cls.__name__} registered twice")
    LAYERS[cls.__name__] = cls
    return cls


@dataclass(frozen=True)
class WeightSpec:
    """Shape and initialiser of one weight, in twinnet's canonical layout."""

    shape: tuple[int, ...]
    init: str
    dtype: str = "float32"


def check_weight_sizes(specs: dict[str, WeightSpec], limits: dict) -> int:
    """Refuse weights beyond the safety limits before anything allocates them; returns the total bytes.

    Sizes come from layer configs (``Dense(units=10**9)`` on a wide input),
    so a file, or a typo, can declare a model far larger than any machine:
    this turns that into a ResourceLimitError instead of a MemoryError.
    """
    total = 0
    for key, spec in specs.items():
        n = math.prod(spec.shape)
        if n > limits["weight_elements"]:
            raise ResourceLimitError(
                f"weight {key!r} of shape {spec.shape} would have {n:,} elements, more than the "
                f"limit of {limits['weight_elements']:,}",
                layer=key.split("/")[0],
            )
        total += n * _ITEMSIZE.get(spec.dtype, 8)
        if total > limits["weight_bytes"]:
            raise ResourceLimitError(
                f"weights would need more than the limit of {limits['weight_bytes']:,} bytes "
                f"(reached at {key!r}, shape {spec.shape})",
                layer=key.split("/")[0],
            )
    return total


@dataclass(frozen=True)
class Layer:
    """Base of all layers.

    Subclasses implement :meth:`infer` (the shape rule) and, when they own
    weights, :meth:`weights`.
    """

    _: KW_ONLY
    name: str | None = None

    #: number of inputs; None means two or more (merge layers).
    arity: ClassVar[int | None] = 1
    #: whether integer (token id) inputs are accepted; the others take float32 only.
    integer_inputs: ClassVar[bool] = False

    def __post_init__(self):
        if self.name is not None and (not isinstance(self.name, str) or not _NAME.match(self.name)):
            raise ConfigError(
                f"layer name must be an identifier (letters, digits, _; at most 128), got {show(self.name)}",
                layer=type(self).__name__,
            )

    # -- the contract -----------------------------------------------------
    def infer(self, inputs: Sequence[TensorSpec]) -> TensorSpec:
        """Output spec for the given input specs (raise ShapeError/LayoutError if they do not fit)."""
        raise NotImplementedError

    def weights(self, inputs: Sequence[TensorSpec]) -> dict[str, WeightSpec]:
        """Weights this layer owns for the given inputs, by short name."""
        return {}

    # -- building graphs --------------------------------------------------
    def __call__(self, *inputs) -> Tensor:
        from ..graph import call_layer

        if len(inputs) == 1 and isinstance(inputs[0], (list, tuple)):
            inputs = tuple(inputs[0])
        return call_layer(self, inputs)

    @property
    def kind(self) -> str:
        return type(self).__name__

    @property
    def label(self) -> str:
        """How errors refer to this layer."""
        return f"{self.kind} {self.name!r}" if self.name else self.kind

    def config(self) -> dict[str, Any]:
        """Constructor arguments (without ``name``) as JSON-ready values."""
        out = {}
        for f in dataclasses.fields(self):
            if f.name == "name" or f.name.startswith("_"):
                continue
            out[f.name] = _jsonable(getattr(self, f.name))
        return out

    def replace(self, **changes) -> "Layer":
        return dataclasses.replace(self, **changes)

    # -- helpers for subclasses -------------------------------------------
    def _set(self, field: str, value) -> None:
        object.__setattr__(self, field, value)

    def _fail(self, message: str, cls=ConfigError):
        # values quoted in messages may come from a hostile file: keep the message readable
        if len(message) > 500:
            message = message[:500] + "..."
        raise cls(message, layer=self.label)

    def _check_arity(self, inputs: Sequence[TensorSpec]) -> None:
        if self.arity is None:
            if len(inputs) < 2:
                raise ShapeError(f"expects two or more inputs, got {len(inputs)}", layer=self.label)
        elif len(inputs) != self.arity:
            raise ShapeError(f"expects {self.arity} input(s), got {len(inputs)}", layer=self.label)


def _jsonable(value):
    if isinstance(value, Layer):
        return {"kind": value.kind, "config": value.config()}
    if isinstance(value, tuple):
        return [_jsonable(v) for v in value]
    return value


def config_problem(cls: type[Layer], config: dict) -> str | None:
    """What is wrong with the argument names in ``config`` for ``cls`` (None if nothing).

    Checked by name before calling the constructor, so that a file with an
    unknown or missing argument gets a message naming it, rather than a
    TypeError from deep inside a dataclass ``__init__``.
    """
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init and f.name != "name"}
    unknown = [k for k in config if k not in fields]
    if unknown:
        return (
            f"unknown argument(s) {', '.join(repr(k)[:40] for k in unknown[:5])}; "
            f"{cls.__name__} takes {', '.join(fields) or 'none'}"
        )
    missing = [
        k
        for k, f in fields.items()
        if k not in config and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    ]
    if missing:
        return f"missing argument(s) {', '.join(map(repr, missing))}"
    return None


# -- argument normalisers: each returns the clean value or raises ConfigError --


def as_int(layer: Layer, field: str, value, *, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        layer._fail(f"{field} must be an int, got {show(value)}")
    if value < minimum:
        layer._fail(f"{field} must be >= {minimum}, got {show(value)}")
    if value > 2**31:
        layer._fail(f"{field} is out of range (at most 2**31), got {show(value)}")
    return value


def as_ints(layer: Layer, field: str, value, n: int, *, minimum: int = 1) -> tuple[int, ...]:
    """An int or a sequence of ``n`` ints, as an ``n``-tuple."""
    if isinstance(value, (list, tuple)):
        if len(value) != n:
            layer._fail(f"{field} must be an int or {n} ints, got {show(tuple(value))}")
        return tuple(as_int(layer, field, v, minimum=minimum) for v in value)
    return (as_int(layer, field, value, minimum=minimum),) * n


def as_float(
    layer: Layer,
    field: str,
    value,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
) -> float:
    # ints beyond float range (e.g. 10**400 from a file) would overflow in isfinite/float()
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > 2**53:
        layer._fail(f"{field} must be a finite number of modest size, got {show(value)}")
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        layer._fail(f"{field} must be a finite number, got {show(value)}")
    value = float(value)
    if low is not None and (value < low or (low_open and value == low)):
        layer._fail(f"{field} must be {'>' if low_open else '>='} {low}, got {value}")
    if high is not None and (value > high or (high_open and value == high)):
        layer._fail(f"{field} must be {'<' if high_open else '<='} {high}, got {value}")
    return value


def as_bool(layer: Layer, field: str, value) -> bool:
    if not isinstance(value, bool):
        layer._fail(f"{field} must be True or False, got {show(value)}")
    return value


def as_choice(layer: Layer, field: str, value, choices: Sequence[str]) -> str:
    if not isinstance(value, str) or value not in choices:
        layer._fail(f"{field} must be one of {', '.join(map(repr, choices))}, got {show(value)}")
    return value


def as_axis(layer: Layer, field: str, value) -> int | str:
    """A layout letter or an int axis (checked against a layout later)."""
    if isinstance(value, str):
        if len(value) != 1 or value not in "NCTDHW":
            layer._fail(f"{field} must be a layout letter (one of 'NCTDHW') or an int, got {show(value)}")
        return value
    if isinstance(value, bool) or not isinstance(value, int) or abs(value) > 8:
        layer._fail(f"{field} must be a layout letter or an int axis (|axis| <= 8), got {show(value)}")
    return value
