"""Keras models in half precision: the ``float16``/``bfloat16`` dtype policies and their mixed variants.

Each layer's compute dtype (``layer.dtype_policy.compute_dtype``) is read; the model's precision is the
one half precision its layers compute in, or float32 when none does. Layers kept in float32 inside a
half model (the float32 softmax the mixed-precision guide recommends at the output) are imported
at the model's precision, as the IR has one precision per model: their outputs differ from the
source's by the half rounding, which the half tolerances of ``verify`` allow. Layers in two different
half precisions are refused. Weights, whatever their variable dtype, are read as float32 (exactly);
inputs declared ``float16``/``bfloat16`` are declared as the IR's floating dtype.
"""

from __future__ import annotations

from ....ir.precision import HALF, PRECISIONS


def ir_dtype(dtype: str) -> str:
    """The IR dtype of a Keras tensor dtype: half precisions are the IR's floating dtype, float32."""
    return "float32" if dtype in HALF else dtype


def compute_dtype(op) -> str:
    """The dtype a layer computes in (``"float32"`` when it has no policy)."""
    policy = getattr(op, "dtype_policy", None)
    return str(getattr(policy, "compute_dtype", None) or "float32")


def policy_problem(op) -> str | None:
    """Why a layer's dtype policy cannot be imported, or None."""
    dtype = compute_dtype(op)
    if dtype not in PRECISIONS:
        policy = getattr(getattr(op, "dtype_policy", None), "name", dtype)
        return f"dtype policy {policy!r} computes in {dtype}; twinnet takes {', '.join(PRECISIONS)}"
    return None


def model_precision(layers_by_dtype: dict[str, list[str]]) -> tuple[str, str | None]:
    """(the model's precision, a problem or None) from ``{compute dtype: [layer names]}``."""
    halves = [d for d in HALF if layers_by_dtype.get(d)]
    if len(halves) > 1:
        listed = "; ".join(f"{d}: {', '.join(layers_by_dtype[d][:3])}" for d in halves)
        return "float32", f"layers compute in both float16 and bfloat16 ({listed}); a model has one precision"
    return (halves[0] if halves else "float32"), None
