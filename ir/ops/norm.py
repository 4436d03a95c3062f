"""Functional normalisations (no weights: scale and shift are ``Binary`` ops with ``Learned`` tensors):
``Normalize`` (layer norm, RMS norm) and ``ScaledDotProductAttention``."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import LayoutError, ShapeError
from ..layers.base import as_bool, as_float
from ..layout import free_letters
from ..tensor import TensorSpec
from .base import FLOAT, Op, as_letters, has_letters, register_op
from .linalg import batch_first


@register_op
@dataclass(frozen=True)
class Normalize(Op):
    """``(x - mean) / sqrt(var + epsilon)`` over the axes ``axes`` (layer norm), or with ``rms=True``
    ``x / sqrt(mean(x**2) + epsilon)`` (RMS norm): torch's ``layer_norm`` / ``rms_norm`` without weights."""

    axes: str = "C"
    rms: bool = False
    epsilon: float = 1e-5

    def __post_init__(self):
        super().__post_init__()
        self._set("axes", as_letters(self, "axes", self.axes))
        as_bool(self, "rms", self.rms)
        self._set("epsilon", as_float(self, "epsilon", self.epsilon, low=0.0, low_open=True))

    def infer(self, inputs):
        self.check_dtypes(inputs, FLOAT)
        has_letters(self, inputs[0], self.axes)
        return inputs[0]


@register_op
@dataclass(frozen=True)
class ScaledDotProductAttention(Op):
    """``softmax(q @ k^T * scale + mask) @ v`` per head: inputs ``[q, k, v]`` or ``[q, k, v, mask]``.

    Each of ``q``, ``k``, ``v`` is, declared batch first, ``(N, heads, length, features)``:
    ``q`` ``(N, A, T, E)``, ``k`` ``(N, A, S, E)``, ``v`` ``(N, A, S, F)`` with
    the same heads letter; ``k`` and ``v`` may have fewer heads (grouped-query:
    each serves ``A / G`` query heads in a row). ``scale`` defaults to
    ``1 / sqrt(E)``. ``causal``: query ``t`` sees keys ``0..t`` (top-left
    aligned, as torch's ``is_causal``). ``mask`` is bool (True: attend) or float
    (added to the scores); its letters are among the scores' ``N``, heads,
    ``T`` and the keys' length letter (which must then differ from ``T``). A
    masked score becomes float32's lowest value, not -inf, so a query with
    every key masked averages all of them rather than giving NaN. The result
    is ``(N, A, T, F)``, named as ``q`` with ``v``'s feature letter.
    """

    causal: bool = False
    scale: float | None = None
    arity = None

    def __post_init__(self):
        super().__post_init__()
        as_bool(self, "causal", self.causal)
        if self.scale is not None:
            self._set("scale", as_float(self, "scale", self.scale, low=0.0, low_open=True))

    def _check_arity(self, inputs):
        if len(inputs) not in (3, 4):
            raise ShapeError(f"expects [q, k, v] or [q, k, v, mask], got {len(inputs)} inputs", layer=self.label)

    def scores_spec(self, inputs) -> TensorSpec:
        """The scores ``(N, A, T, S)``; S is the keys' length letter, or a free letter if T has it."""
        q, k = (batch_first(s.layout) for s in inputs[:2])
        s = k[2] if k[2] not in q[:3] else free_letters(q + k, 1)
        return TensorSpec((None, inputs[0].dim(q[1]), inputs[0].dim(q[2]), inputs[1].dim(k[2])), q[:3] + s)

    def infer(self, inputs):
        q, k, v = inputs[:3]
        self.check_dtypes(inputs[:3], FLOAT, "q, k, v")
        lq, lk, lv = (batch_first(s.layout) for s in (q, k, v))
        if not len(lq) == len(lk) == len(lv) == 4:
            raise ShapeError(f"q, k, v must each have 4 axes, got {lq!r}, {lk!r}, {lv!r}", layer=self.label)
        if not lq[1] == lk[1] == lv[1] or lk[:3] != lv[:3]:
            raise LayoutError(
                f"q, k, v must share the heads letter and k, v their length letter, got {lq!r}, {lk!r}, {lv!r}",
                layer=self.label,
            )
        heads, groups = q.dim(lq[1]), k.dim(lk[1])
        if heads is None or groups is None or heads % groups or k.dim(lk[1]) != v.dim(lv[1]):
            raise ShapeError(f"k and v heads ({groups}) must divide q's ({heads})", layer=self.label)
        if q.dim(lq[3]) is not None and k.dim(lk[3]) is not None and q.dim(lq[3]) != k.dim(lk[3]):
            raise ShapeError(f"q and k feature sizes differ: {q.dim(lq[3])} vs {k.dim(lk[3])}", layer=self.label)
        if None not in (k.dim(lk[2]), v.dim(lv[2])) and k.dim(lk[2]) != v.dim(lv[2]):
            raise ShapeError("k and v lengths differ", layer=self.label)
        if len(inputs) == 4:
            mask, scores = inputs[3], self.scores_spec(inputs)
            if lq[2] == lk[2]:
                raise LayoutError(
                    "with a mask, the keys' length letter must differ from the queries'", layer=self.label
                )
            if mask.dtype not in ("bool", "float32"):
                raise ShapeError(f"the mask must be bool or float32, got {mask.dtype}", layer=self.label)
            extra = [a for a in mask.layout if a not in scores.layout]
            if extra:
                raise LayoutError(
                    f"mask letters {''.join(extra)!r} are not in the scores' {scores.layout!r}", layer=self.label
                )
        last = lv[3] if lv[3] not in lq[:3] else free_letters(lq + lv, 1)
        return TensorSpec((None, q.dim(lq[1]), q.dim(lq[2]), v.dim(lv[3])), lq[:3] + last)
