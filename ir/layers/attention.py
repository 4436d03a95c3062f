"""Attention layers: MultiHeadAttention (Keras's, with Keras's arguments and weights).

Called on a list, in Keras's order: ``[query, value]``, ``[query, value, key]``,
and optionally a key-padding mask last (``[query, value, mask]`` or
``[query, value, key, mask]``). Sequences have axes N, T, C in either order
(``NTC`` or ``TNC``); query and value may differ in length and in feature
size. The output has the query's layout and length; its C is
``output_shape`` (default: the query's features).

The mask is an input without a C axis (``NT`` or ``TN``, float32), one
entry per key position: 1 = attend, 0 = ignore (Keras's polarity; torch's
``key_padding_mask`` is the opposite and the torch backend inverts it).
It is the IR form of Keras's ``attention_mask`` of shape ``(B, 1, S)``.
``use_causal_mask=True`` lets query step ``t`` see keys ``0..t`` only.

A query row whose keys are *all* masked has no defined answer: Keras gives
the mean of the values or the output bias alone (depending on its code
path), torch gives NaN or the bias (docs/equivalence.md, section 10). twinnet does not
guarantee that case; keep at least one key per row (e.g. never mask key 0).

Weights, as Keras names and shapes them (E = query features, Ek / Ev = key /
value features, H = ``num_heads``, d = ``key_dim``, dv = ``value_dim``):
``query/kernel (E, H, d)``, ``query/bias (H, d)``; ``key/kernel (Ek, H, d)``,
``key/bias (H, d)``; ``value/kernel (Ev, H, dv)``, ``value/bias (H, dv)``;
``attention_output/kernel (H, dv, E_out)``, ``attention_output/bias (E_out,)``.
Scores are scaled by ``1 / sqrt(key_dim)``.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import LayoutError, ShapeError
from ..tensor import TensorSpec
from .base import Layer, WeightSpec, as_bool, as_float, as_int, register
from .recurrent import sequence_axes


@register
@dataclass(frozen=True)
class MultiHeadAttention(Layer):
    """Multi-head scaled dot-product attention (Keras ``MultiHeadAttention``).

    Args:
        num_heads: number of heads H.
        key_dim: size of each head for query and key.
        value_dim: size of each head for value (default: ``key_dim``).
        dropout: attention dropout; inactive at inference, which is what twinnet compares.
        use_bias: biases on the four projections.
        output_shape: features of the output (default: the query's).
        use_causal_mask: query step t attends to keys 0..t only (Keras's call argument, held here).

    >>> from twinnet import ir
    >>> x = ir.Input((None, 8), layout="NTC")
    >>> MultiHeadAttention(num_heads=2, key_dim=4)([x, x]).shape
    (None, None, 8)
    """

    num_heads: int
    key_dim: int
    value_dim: int | None = None
    dropout: float = 0.0
    use_bias: bool = True
    output_shape: int | None = None
    use_causal_mask: bool = False

    arity = None  # two to four inputs, checked in infer

    def __post_init__(self):
        super().__post_init__()
        self._set("num_heads", as_int(self, "num_heads", self.num_heads))
        self._set("key_dim", as_int(self, "key_dim", self.key_dim))
        if self.value_dim is not None:
            self._set("value_dim", as_int(self, "value_dim", self.value_dim))
        self._set("dropout", as_float(self, "dropout", self.dropout, low=0.0, high=1.0, high_open=True))
        self._set("use_bias", as_bool(self, "use_bias", self.use_bias))
        if self.output_shape is not None:
            self._set("output_shape", as_int(self, "output_shape", self.output_shape))
        self._set("use_causal_mask", as_bool(self, "use_causal_mask", self.use_causal_mask))

    @property
    def head_value_dim(self) -> int:
        return self.key_dim if self.value_dim is None else self.value_dim

    def split(self, inputs) -> tuple[TensorSpec, TensorSpec, TensorSpec, TensorSpec | None]:
        """(query, value, key, mask) from the input list; key is value when not given, mask may be None."""
        if not 2 <= len(inputs) <= 4:
            raise ShapeError(
                f"expects [query, value], [query, value, key], and optionally a mask last; got {len(inputs)} inputs",
                layer=self.label,
            )
        inputs = list(inputs)
        mask = inputs.pop() if "C" not in inputs[-1].layout else None
        if len(inputs) < 2:
            raise ShapeError("expects a query and a value before the mask", layer=self.label)
        if len(inputs) > 3 or any("C" not in s.layout for s in inputs):
            raise LayoutError("only the last input may be a mask (a tensor without a C axis)", layer=self.label)
        query, value = inputs[0], inputs[1]
        key = inputs[2] if len(inputs) == 3 else value
        return query, value, key, mask

    def infer(self, inputs):
        query, value, key, mask = self.split(inputs)
        for spec in (query, value, key):
            sequence_axes(self, spec)
        if not _same(value.dim("T"), key.dim("T")):
            raise ShapeError(
                f"key and value must have the same length, got {key.dim('T')} and {value.dim('T')}", layer=self.label
            )
        if mask is not None:
            if sorted(mask.layout) != sorted("NT"):
                raise LayoutError(
                    f"expects a key-padding mask with axes N, T ('NT' or 'TN'), got {mask.layout!r}", layer=self.label
                )
            if not _same(mask.dim("T"), value.dim("T")):
                raise ShapeError(
                    f"the mask has {mask.dim('T')} key positions but the value has {value.dim('T')}", layer=self.label
                )
        if self.use_causal_mask and not _same(query.dim("T"), value.dim("T")):
            raise ShapeError(
                f"use_causal_mask needs query and value of the same length, got {query.dim('T')} and {value.dim('T')}",
                layer=self.label,
            )
        shape = list(query.shape)
        shape[query.layout.index("C")] = self.output_shape or query.dim("C")
        return TensorSpec(tuple(shape), query.layout)

    def weights(self, inputs):
        query, value, key, _ = self.split(inputs)
        h, d, dv = self.num_heads, self.key_dim, self.head_value_dim
        e_out = self.output_shape or query.dim("C")
        w = {}
        for part, spec, size in (("query", query, d), ("key", key, d), ("value", value, dv)):
            w[f"{part}/kernel"] = WeightSpec((spec.dim("C"), h, size), "glorot_uniform")
            if self.use_bias:
                w[f"{part}/bias"] = WeightSpec((h, size), "zeros")
        w["attention_output/kernel"] = WeightSpec((h, dv, e_out), "glorot_uniform")
        if self.use_bias:
            w["attention_output/bias"] = WeightSpec((e_out,), "zeros")
        return w


def _same(a, b) -> bool:
    """Two sizes that may be equal: a symbolic size (None) matches anything."""
    return a is None or b is None or a == b
