"""Per-precision tolerances: chosen from the model's dtype, atol relative to the output's peak for half,
float32 pairs of a half model still held to float32's, and a real mistake still caught in half precision."""

import copy

import numpy as np
import pytest

import twinnet
from twinnet import ir
from twinnet.exporters.report import compare
from twinnet.exporters.targets import TARGETS
from twinnet.exporters.tolerances import TOLERANCES, tolerances
from twinnet.ir import layers as L


def convnet(dtype="float32", epsilon=1e-3):
    x = ir.Input((10, 10, 3), layout="NHWC", name="image")
    y = L.Conv2D(8, 3, padding="same")(x)
    y = L.Activation("relu")(L.BatchNorm(epsilon=epsilon)(y))
    y = L.Dense(6)(L.Flatten()(L.MaxPool2D(2)(y)))
    m = ir.Model(x, y, name="convnet").randomize(0)
    m.dtype = dtype
    return m


def test_each_precision_has_its_tolerances_and_half_ones_scale_with_the_output():
    assert tolerances("float32") == TOLERANCES["float32"] and not tolerances("float32").scaled
    assert tolerances("float16").atol < tolerances("bfloat16").atol
    assert tolerances("float16").scaled and tolerances("bfloat16").scaled
    with pytest.raises(ir.ConfigError):
        tolerances("float64")
    a, b = np.array([100.0, 0.0]), np.array([100.5, 0.4])
    assert not compare(a, b, 1e-2, 1e-2)[2]  # 0.4 > 1e-2 absolute
    assert compare(a, b, 1e-2, 1e-2, scaled=True)[2]  # 0.4 <= 1e-2 x peak 100.5


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_verify_picks_the_model_precision_and_keeps_float32_pairs_strict(dtype):
    report = twinnet.verify(convnet(dtype), paths=("torch", "onnx-ir", "onnx-torch"))
    assert report.ok, report.table()
    assert (report.atol, report.rtol, report.dtype) == (tolerances(dtype).atol, tolerances(dtype).rtol, dtype)
    assert f"dtype={dtype}" in report.table() and "x peak" in report.table()
    floats = [r for r in report.rows if set(r.pair.split(" vs ")) == {"onnx-torch", "onnx-ir"}]
    assert floats and all(r.max_abs <= 1e-5 for r in floats)  # both run the float32 reference
    halves = [r for r in report.rows if r.pair.startswith("torch vs")]
    assert max(r.max_abs for r in halves) > 1e-5  # the half path really ran in half precision


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_a_wrong_epsilon_still_fails_in_half_precision(dtype):
    """A conversion mistake the float32 check catches is far above half-precision rounding too."""
    model = convnet(dtype)
    wrong = convnet(dtype, epsilon=0.5)  # the same weights, one BatchNorm option wrong
    wrong.weights = dict(model.weights)
    wrong.weights.update({k: np.full_like(v, 0.02) for k, v in model.weights.items() if "moving_variance" in k})
    model.weights = copy.deepcopy(wrong.weights)
    wrong_net = TARGETS["torch"].compile(TARGETS["torch"].lower(wrong), wrong)
    report = twinnet.verify(
        model, paths=("torch",), references={"wrong": TARGETS["torch"].runner(wrong_net, wrong)}, localize=False
    )
    assert not report.ok, report.table()


def test_explicit_tolerances_override_the_precision_defaults():
    report = twinnet.verify(convnet("float16"), paths=("torch", "onnx-ir"), atol=0.5, rtol=0.5)
    assert (report.atol, report.rtol) == (0.5, 0.5) and report.ok
