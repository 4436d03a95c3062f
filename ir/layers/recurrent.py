"""Sequence layers: Embedding, SimpleRNN, LSTM, GRU and Bidirectional.

Recurrent layers take a rank-3 input with axes N, T and C in either order
(``NTC`` batch-first or ``TNC`` sequence-first). With
``return_sequences=True`` the output keeps that layout (C becomes ``units``);
otherwise it is the last step, ``NC``.

Weights use Keras's layout and gate order:
  * SimpleRNN: kernel (F, U), recurrent_kernel (U, U), bias (U)
  * LSTM: kernel (F, 4U), recurrent_kernel (U, 4U), bias (4U); gates i, f, c, o
  * GRU: kernel (F, 3U), recurrent_kernel (U, 3U); gates z, r, h; bias (2, 3U)
    [input bias; recurrent bias] with ``reset_after=True`` (Keras 3 default),
    (3U) with ``reset_after=False`` (reset gate applied before the recurrent matmul).
Initialisers as in Keras: glorot-uniform kernels, orthogonal recurrent kernels,
zero biases (LSTM: forget-gate bias 1).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import ConfigError, LayoutError, show
from ..tensor import TensorSpec
from .base import LAYERS, Layer, WeightSpec, as_bool, as_choice, as_int, config_problem, register


@register
@dataclass(frozen=True)
class Embedding(Layer):
    """Token ids (``NT`` or ``TN``, integer) -> vectors (``NTC`` or ``TNC``).

    Weight ``embeddings (input_dim, output_dim)``, uniform in [-0.05, 0.05].

    >>> Embedding(20000, 50).output_dim
    50
    """

    integer_inputs = True

    input_dim: int
    output_dim: int

    def __post_init__(self):
        super().__post_init__()
        self._set("input_dim", as_int(self, "input_dim", self.input_dim))
        self._set("output_dim", as_int(self, "output_dim", self.output_dim))

    def infer(self, inputs):
        spec = inputs[0]
        if not spec.dtype.startswith("int"):
            raise ConfigError(f"expects integer token ids, got dtype {spec.dtype}", layer=self.label)
        if "C" in spec.layout:
            raise LayoutError(
                f"expects token ids without a channel axis (e.g. 'NT'), got {spec.layout!r}", layer=self.label
            )
        return TensorSpec(spec.shape + (self.output_dim,), spec.layout + "C")

    def weights(self, inputs):
        return {"embeddings": WeightSpec((self.input_dim, self.output_dim), "embedding_uniform")}


def sequence_axes(layer: Layer, spec: TensorSpec) -> None:
    if sorted(spec.layout) != sorted("NTC"):
        raise LayoutError(
            f"expects a sequence with axes N, T, C (e.g. 'NTC' or 'TNC'), got {spec.layout!r}", layer=layer.label
        )


@dataclass(frozen=True)
class _RNN(Layer):
    units: int
    use_bias: bool = True
    return_sequences: bool = False

    gates = 1

    def __post_init__(self):
        super().__post_init__()
        self._set("units", as_int(self, "units", self.units))
        self._set("use_bias", as_bool(self, "use_bias", self.use_bias))
        self._set("return_sequences", as_bool(self, "return_sequences", self.return_sequences))

    def infer(self, inputs):
        spec = inputs[0]
        sequence_axes(self, spec)
        if not self.return_sequences:
            return TensorSpec((None, self.units), "NC")
        shape = list(spec.shape)
        shape[spec.layout.index("C")] = self.units
        return TensorSpec(tuple(shape), spec.layout)

    def bias_spec(self) -> WeightSpec:
        return WeightSpec((self.gates * self.units,), "zeros")

    def weights(self, inputs):
        f, g = inputs[0].dim("C"), self.gates * self.units
        w = {
            "kernel": WeightSpec((f, g), "glorot_uniform"),
            "recurrent_kernel": WeightSpec((self.units, g), "orthogonal"),
        }
        if self.use_bias:
            w["bias"] = self.bias_spec()
        return w


@register
@dataclass(frozen=True)
class SimpleRNN(_RNN):
    """Elman RNN: ``h = activation(x W + h U + b)``, activation tanh or relu."""

    activation: str = "tanh"

    def __post_init__(self):
        super().__post_init__()
        self._set("activation", as_choice(self, "activation", self.activation, ("tanh", "relu")))


@register
@dataclass(frozen=True)
class LSTM(_RNN):
    """LSTM with tanh / sigmoid activations (the only ones torch's LSTM has).

    >>> LSTM(64).units
    64
    """

    gates = 4

    def bias_spec(self):
        return WeightSpec((4 * self.units,), "lstm_bias")


@register
@dataclass(frozen=True)
class GRU(_RNN):
    """GRU; ``reset_after=True`` (Keras 3 and torch) or False (Keras 2 / original paper)."""

    reset_after: bool = True
    gates = 3

    def __post_init__(self):
        super().__post_init__()
        self._set("reset_after", as_bool(self, "reset_after", self.reset_after))

    def bias_spec(self):
        shape = (2, 3 * self.units) if self.reset_after else (3 * self.units,)
        return WeightSpec(shape, "zeros")


@register
@dataclass(frozen=True)
class Bidirectional(Layer):
    """Runs a recurrent layer forwards and backwards and concatenates [forward, backward].

    Weights are the wrapped layer's, prefixed ``forward_`` and ``backward_``.

    >>> Bidirectional(LSTM(8, return_sequences=True)).merge_mode
    'concat'
    """

    layer: _RNN
    merge_mode: str = "concat"

    def __post_init__(self):
        super().__post_init__()
        inner = self.layer
        if isinstance(inner, dict):  # from JSON
            kind = inner.get("kind")
            cls = LAYERS.get(kind) if isinstance(kind, str) else None
            config = inner.get("config")
            if cls is None or not issubclass(cls, _RNN) or not isinstance(config, dict):
                self._fail(f"layer must be a SimpleRNN, LSTM or GRU, got {show(inner)}")
            problem = config_problem(cls, config)
            if problem:
                self._fail(f"bad configuration for the wrapped {kind}: {problem}")
            try:
                inner = cls(**config)
            except ConfigError as e:  # re-raised under this layer's name, which the inner layer lacks
                self._fail(f"wrapped {kind}: {e.bare_message}")
        if not isinstance(inner, _RNN):
            self._fail(f"layer must be a SimpleRNN, LSTM or GRU, got {type(inner).__name__}")
        if inner.name is not None:
            inner = inner.replace(name=None)
        self._set("layer", inner)
        self._set("merge_mode", as_choice(self, "merge_mode", self.merge_mode, ("concat",)))

    def infer(self, inputs):
        sequence_axes(self, inputs[0])  # checked here so that the error names this layer, not the wrapped one
        out = self.layer.infer(inputs)
        shape = list(out.shape)
        shape[out.layout.index("C")] = 2 * self.layer.units
        return TensorSpec(tuple(shape), out.layout)

    def weights(self, inputs):
        inner = self.layer.weights(inputs)
        return {f"{d}_{k}": v for d in ("forward", "backward") for k, v in inner.items()}
