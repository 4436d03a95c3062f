"""Functional layer / RMS norm and scaled dot-product attention (causal, bool and additive masks,
grouped-query heads, scale)."""

import pytest
from layer_check import check_layer, image, sequence

from twinnet.ir import ops as O


@pytest.mark.parametrize("rms", [False, True], ids=["layer", "rms"])
@pytest.mark.parametrize(
    "axes, inputs", [("C", sequence("NTC")), ("TC", sequence("TNC")), ("C", image("NCHW")), ("HW", image("NHWC"))]
)
def test_normalize(rms, axes, inputs):
    check_layer(O.Normalize(axes, rms=rms, epsilon=1e-6), inputs)


Q = {"shape": (4, 5, 3), "layout": "NATE"}
K = {"shape": (4, 6, 3), "layout": "NASE"}
V = {"shape": (4, 6, 2), "layout": "NASF"}
GQA_K = {"shape": (2, 6, 3), "layout": "NASE"}
GQA_V = {"shape": (2, 6, 2), "layout": "NASF"}

CASES = {
    "plain": (O.ScaledDotProductAttention(), [Q, K, V]),
    "scale": (O.ScaledDotProductAttention(scale=0.3), [Q, K, V]),
    "causal": (O.ScaledDotProductAttention(causal=True), [Q, K, V]),
    "gqa": (O.ScaledDotProductAttention(), [Q, GQA_K, GQA_V]),
    "gqa-causal": (O.ScaledDotProductAttention(causal=True), [Q, GQA_K, GQA_V]),
    "bool-mask": (O.ScaledDotProductAttention(), [Q, K, V, {"shape": (6,), "layout": "NS", "dtype": "bool"}]),
    "additive-mask": (O.ScaledDotProductAttention(), [Q, K, V, {"shape": (4, 5, 6), "layout": "NATS"}]),
    "self": (O.ScaledDotProductAttention(causal=True), [{"shape": (2, None, 3), "layout": "NATE"}] * 3),
    "batch-not-first": (O.ScaledDotProductAttention(), [{"shape": (4, 5, 3), "layout": "ANTE"}, K, V]),
}


@pytest.mark.parametrize("name", list(CASES))
def test_scaled_dot_product_attention(name):
    op, inputs = CASES[name]
    check_layer(op, inputs)
