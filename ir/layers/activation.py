"""Activations: one table of names and the parameters each one takes.

Definitions (identical in both backends):
  relu, sigmoid, tanh, selu, softplus, silu (alias swish): the usual ones.
  softmax / log_softmax (axis): default axis is the feature axis C (the last
      axis when there is no C); an int axis indexes the tensor as declared.
  gelu (approximate): exact erf form by default; ``approximate=True`` is the
      tanh form 0.5*x*(1 + tanh(sqrt(2/pi)*(x + 0.044715*x**3))).
  elu (alpha=1.0): x if x > 0 else alpha*(exp(x) - 1).
  leaky_relu (negative_slope=0.2, the ``keras.activations`` default; Keras's
      LeakyReLU *layer* defaults to 0.3 and torch to 0.01, so say it).
  hard_sigmoid: relu6(x + 3) / 6 (Keras 3 and torch; not Keras 2's 0.2x+0.5).
  hard_swish (alias hard_silu): x * hard_sigmoid(x).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from ..errors import show
from ..layout import resolve_axis
from ..tensor import TensorSpec
from .base import Layer, as_axis, as_bool, as_float, register

#: activation name -> the parameters it accepts
ACTIVATIONS: dict[str, tuple[str, ...]] = {
    "linear": (),
    "relu": (),
    "sigmoid": (),
    "tanh": (),
    "softmax": ("axis",),
    "log_softmax": ("axis",),
    "gelu": ("approximate",),
    "silu": (),
    "elu": ("alpha",),
    "selu": (),
    "leaky_relu": ("negative_slope",),
    "softplus": (),
    "hard_sigmoid": (),
    "hard_swish": (),
}
ALIASES = {"swish": "silu", "hard_silu": "hard_swish"}
_DEFAULTS = {"approximate": False, "alpha": 1.0, "negative_slope": 0.2}


def canonical_activation(layer: Layer, value) -> str | None:
    """Normalise an ``activation=`` argument: a known name, or None for linear."""
    if value is None:
        return None
    if not isinstance(value, str):
        layer._fail(f"activation must be a name, got {show(value)}")
    name = ALIASES.get(value, value)
    if name not in ACTIVATIONS:
        layer._fail(f"unknown activation {show(value)}; known: {', '.join(sorted(ACTIVATIONS))}")
    return None if name == "linear" else name


def activation_axis(axis: int | str | None, spec: TensorSpec, layer: str | None = None) -> int:
    """Index (as declared) of the axis softmax/log_softmax act on."""
    if axis is None:
        axis = "C" if "C" in spec.layout else -1
    return resolve_axis(axis, spec.layout, layer=layer)


@register
@dataclass(frozen=True)
class Activation(Layer):
    """An element-wise (or softmax-like) activation.

    >>> Activation("leaky_relu", negative_slope=0.1)
    Activation(name=None, activation='leaky_relu', axis=None, approximate=None, alpha=None, negative_slope=0.1)
    """

    activation: str
    axis: int | str | None = None
    approximate: bool | None = None
    alpha: float | None = None
    negative_slope: float | None = None

    def __post_init__(self):
        super().__post_init__()
        name = canonical_activation(self, self.activation) or "linear"
        self._set("activation", name)
        allowed = ACTIVATIONS[name]
        for param in ("axis", "approximate", "alpha", "negative_slope"):
            value = getattr(self, param)
            if value is not None and param not in allowed:
                self._fail(
                    f"activation {name!r} takes no {param!r} parameter (it takes: {', '.join(allowed) or 'none'})"
                )
            if value is None and param in allowed and param in _DEFAULTS:
                value = _DEFAULTS[param]
            if value is not None:
                if param == "axis":
                    value = as_axis(self, param, value)
                elif param == "approximate":
                    value = as_bool(self, param, value)
                else:
                    value = as_float(self, param, value)
            self._set(param, value)

    def config(self):
        return {k: v for k, v in super().config().items() if v is not None}

    def infer(self, inputs: Sequence[TensorSpec]) -> TensorSpec:
        if self.axis is not None or self.activation in ("softmax", "log_softmax"):
            activation_axis(self.axis, inputs[0], self.label)
        return inputs[0]


@register
@dataclass(frozen=True)
class ReLU(Layer):
    """Keras's ``ReLU`` layer: a rectifier with an optional cap, slope and threshold.

    ``f(x) = min(x, max_value)`` for ``x > threshold``, else ``negative_slope * (x - threshold)``
    (so ``f(threshold) = 0``). All three are >= 0, as Keras requires; ``max_value=6`` is ReLU6.

    >>> ReLU(max_value=6).max_value
    6.0
    """

    max_value: float | None = None
    negative_slope: float = 0.0
    threshold: float = 0.0

    def __post_init__(self):
        super().__post_init__()
        if self.max_value is not None:
            self._set("max_value", as_float(self, "max_value", self.max_value, low=0.0))
        self._set("negative_slope", as_float(self, "negative_slope", self.negative_slope, low=0.0))
        self._set("threshold", as_float(self, "threshold", self.threshold, low=0.0))

    def infer(self, inputs: Sequence[TensorSpec]) -> TensorSpec:
        return inputs[0]
