"""Errors from the compilers, the emitter, the ONNX exporter and verify: type and whole message.

Real torch, Keras and onnxruntime, kept to a few small models: the point is
what a user is told, and that it names the layer.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import re  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from twinnet import ir  # noqa: E402
from twinnet.backends import emit, to_keras, to_onnx, to_torch  # noqa: E402
from twinnet.exporters import export_onnx, verify  # noqa: E402
from twinnet.ir import layers as L  # noqa: E402
from twinnet.ir.layers.base import Layer  # noqa: E402


def raises(error, message):
    """pytest.raises for ``error`` whose message starts with ``message`` (taken literally)."""
    return pytest.raises(error, match="^" + re.escape(message))


def one_layer(layer, shape=(4,), name="m", **input_kw):
    x = ir.Input(shape, name="x", **input_kw)
    return ir.Model(x, layer(x), name=name).initialize(0)


class Custom(Layer):
    """A layer kind no backend knows (not registered)."""

    def infer(self, inputs):
        return inputs[0]


# -- compiling and emitting ------------------------------------------------------------------------------


def test_emit_names_the_frameworks():
    with raises(ir.ConfigError, "framework must be 'torch' or 'keras', got 'jax'"):
        emit(one_layer(L.Dense(2)), "jax")


@pytest.mark.parametrize(
    "compile_, backend",
    [(to_torch, "torch"), (lambda m: emit(m, "torch"), "torch"), (to_keras, "keras"), (to_onnx, "onnx")],
    ids=["to_torch", "emit", "to_keras", "to_onnx"],
)
def test_compilers_take_only_ir_models(compile_, backend):
    with raises(ir.ConfigError, f"the {backend} backend compiles an ir.Model, got str"):
        compile_("m.json")


def test_a_layer_kind_without_a_lowering_is_named():
    with raises(ir.UnsupportedError, "Custom 'c': the torch backend has no lowering for Custom"):
        to_torch(one_layer(Custom(name="c")))


def test_compiling_without_weights():
    x = ir.Input((4,), name="x")
    with raises(ir.WeightError, "Dense 'd': has no weights yet; call model.initialize(seed) or load them"):
        to_torch(ir.Model(x, L.Dense(2, name="d")(x)))


def test_compiling_weights_edited_by_hand():
    model = one_layer(L.Dense(2, name="d"))
    model.weights["d/kernel"] = model.weights["d/kernel"].T  # set_weights would have refused this
    with raises(ir.WeightError, "Dense 'd': weight 'd/kernel' has shape (2, 4), expected (4, 2)"):
        to_torch(model)


@pytest.mark.parametrize(
    "layer,kind",
    [
        (L.Conv1D(2, 3, strides=2, padding="same", name="n"), "Conv1D"),
        (L.MaxPool1D(3, strides=2, padding="same", name="n"), "MaxPool1D"),
    ],
)
def test_torch_needs_a_known_length_for_strided_same_padding(layer, kind):
    """The TF rule puts the odd pad where the length says; torch fixes pads when the module is built."""
    with raises(
        ir.UnsupportedError,
        f"{kind} 'n': 'same' padding with stride > 1 needs a known input length in torch (got (None, None, 3))",
    ):
        to_torch(one_layer(layer, (None, 3)))


@pytest.mark.parametrize(
    "layer,shape,message",
    [
        (
            L.Conv2D(4, 3, strides=2, dilation_rate=2, name="n"),
            (9, 10, 3),
            "Conv2D 'n': Keras cannot combine strides (2, 2) with dilation_rate (2, 2) (both > 1) in one convolution",
        ),
        (
            L.Activation("log_softmax", axis="N", name="n"),
            (4,),
            "Activation 'n': log_softmax over the batch axis N: Keras's log_softmax acts on the last axis only",
        ),
    ],
    ids=["strided-dilated-conv", "log-softmax-over-batch"],
)
def test_keras_limits_name_the_layer(layer, shape, message):
    """The known gaps keras-dilated-strided-conv and keras-log-softmax-inner-axis, as the user sees them."""
    with raises(ir.UnsupportedError, message):
        to_keras(one_layer(layer, shape))


# -- ONNX export -----------------------------------------------------------------------------------------


def test_export_arguments(tmp_path):
    model = one_layer(L.Dense(2))
    with raises(ir.ConfigError, "via must be one of ('torch', 'keras', 'ir'), got 'tflite'"):
        export_onnx(model, tmp_path / "m.onnx", via="tflite")
    with raises(ir.ConfigError, "the ONNX file name must end in .onnx, got 'm.txt'"):
        export_onnx(model, tmp_path / "m.txt")


def test_a_failing_framework_exporter_becomes_one_unsupported_error(tmp_path):
    """tf2onnx cannot convert a grouped convolution (known gap onnx-keras-grouped-conv)."""
    model = one_layer(L.Conv2D(4, 3, groups=2, name="g"), (5, 6, 4), name="grouped")  # 2 channels per group
    with raises(
        ir.UnsupportedError, "ONNX export via keras failed for model 'grouped': RuntimeError: tf2onnx: Tensorflow op ["
    ) as info:
        export_onnx(model, tmp_path / "g.onnx", via="keras")
    assert "is not supported" in str(info.value) and "\n" not in str(info.value)  # tf2onnx's reason, on one line
    assert list(tmp_path.iterdir()) == []  # no half-written file left behind


# -- verify ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "call,error,message",
    [
        (lambda m: verify("m.json"), ir.ConfigError, "verify expects an ir.Model, got str"),
        (
            lambda m: verify(m, paths=("torch", "tensorflow")),
            ir.ConfigError,
            "paths must be 'all' or one or more of keras, torch, onnx-keras, onnx-torch, onnx-ir, "
            "got ('torch', 'tensorflow')",
        ),
        (
            lambda m: verify(m, paths="torch"),
            ir.ConfigError,
            "paths must be 'all' or one or more of keras, torch, onnx-keras, onnx-torch, onnx-ir, got 'torch'",
        ),
        (lambda m: verify(m, inputs=[]), ir.ShapeError, "verify got 0 input array(s); model 'm' has 1 input(s)"),
        (
            lambda m: verify(m, inputs=[np.zeros((2, 5), np.float32)]),
            ir.ShapeError,
            "Input 'x': verify got an array of shape (2, 5), expected (?, 4) in layout 'NC'",
        ),
        (
            lambda m: verify(m, inputs=[np.zeros(4, np.float32)]),
            ir.ShapeError,
            "Input 'x': verify got an array of shape (4,), expected (?, 4) in layout 'NC'",
        ),
        (
            lambda m: verify(m, inputs=[np.zeros((2, 4))]),
            ir.ConfigError,
            "Input 'x': verify got a float64 array, expected float32",
        ),
        (lambda m: verify(m, atol="1e-5"), ir.ConfigError, "atol must be a non-negative number, got '1e-5'"),
        (lambda m: verify(m, rtol=float("nan")), ir.ConfigError, "rtol must be a non-negative number, got nan"),
        (
            lambda m: verify(m, batch_sizes=(0, 3)),
            ir.ConfigError,
            "batch_sizes must be a non-empty tuple of positive ints, got (0, 3)",
        ),
        (
            lambda m: verify(m, seq_lens="59"),
            ir.ConfigError,
            "seq_lens must be a non-empty tuple of positive ints, got '59'",
        ),
    ],
    ids=[
        "not-a-model",
        "unknown-path",
        "paths-as-string",
        "input-count",
        "input-shape",
        "input-rank",
        "input-dtype",
        "atol",
        "rtol",
        "batch-sizes",
        "seq-lens",
    ],
)
def test_verify_refuses_bad_arguments_before_running_anything(call, error, message):
    with raises(error, message):
        call(one_layer(L.Dense(2)))


def test_verify_takes_one_array_for_a_one_input_model():
    report = verify(one_layer(L.Dense(2)), inputs=np.ones((2, 4), np.float32), paths=("torch", "onnx-torch"))
    assert report.ok, report.table()
