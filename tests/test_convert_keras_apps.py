"""Real models twinnet did not write: ``keras.applications`` architectures converted and verified.

Each app is built with ``weights=None`` at its smallest input size, without the
classifier (``include_top=False, pooling="avg"``), every non-kernel weight
randomised, BatchNorm statistics included (``examples/keras_apps.py``).

Tolerance: float32's ``atol=1e-5, rtol=1e-4``, with ``atol`` scaled by the
largest output magnitude when that exceeds 1 (``atol * max(1, max|y|)``):
rounding errors accumulated through dozens of layers are relative to the size
of the activations, not absolute. With the randomisation above, outputs stay
below 1, so today the scale is 1 and the tolerances are exactly float32's.

Cost (measured on the 2-core CI machine): VGG16 with all six paths (source,
emitted file, Keras, torch, both ONNX files) ~25 s; the others run source,
emitted file, Keras and torch only (each ONNX export of a 20M-parameter model
costs 10-40 s and checks the exporters, not the conversion, which VGG16
already covers).
"""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import importlib.util  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402

import backends  # noqa: E402
from exporters import convert  # noqa: E402
from exporters.sources import keras_model  # noqa: E402
from exporters.verify import PATHS  # noqa: E402
from convert_check import inputs_for, scaled_atol  # noqa: E402

_spec = importlib.util.spec_from_file_location("keras_apps", Path(__file__).resolve().parents[1] / "examples"
                                               / "keras_apps.py")
keras_apps = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(keras_apps)

#: The apps converted; ONNX paths for the first only (see the module docstring).
CONVERTS = ["vgg16", "vgg19", "inception_v3", "resnet50", "resnet50_v2", "densenet121", "mobilenet", "mobilenet_v2",
            "xception", "efficientnet_b0", "nasnet_mobile"]
WITH_ONNX = {"vgg16"}


@pytest.fixture(autouse=True)
def fresh_keras_names():
    """Keras numbers auto-named layers per process ('add', 'add_1', ...); start the next test afresh,
    as some tests elsewhere name layers by Keras's defaults."""
    yield
    import keras

    keras.backend.clear_session()


@pytest.mark.parametrize("app", CONVERTS)
def test_app_converts_to_torch_and_back_through_keras(app, tmp_path):
    km = keras_apps.build(app)
    source = keras_model(km)
    atol = scaled_atol(km)
    paths = PATHS if app in WITH_ONNX else ("keras", "torch")
    result = convert(source, "torch", tmp_path / "torch", atol=atol, batch_sizes=(1, 2), paths=paths)
    assert result.ok, result.report.table()
    assert "source-keras vs emitted-torch" in {r.pair for r in result.report.rows}
    # Keras counts a Normalization's mean, variance and sample count as weights; the IR keeps the
    # statistics as the layer's configuration, so they are not parameters there.
    import keras

    stats = sum(layer.count_params() for layer in km.layers if isinstance(layer, keras.layers.Normalization))
    assert source.model.count_params() == km.count_params() - stats

    # Back through Keras: IR -> keras.Model -> from_keras -> IR -> torch still computes what the app computes.
    again = backends.from_keras(backends.to_keras(source.model))
    assert again.weights.keys() == source.model.weights.keys()
    assert all(np.array_equal(again.weights[k], v) for k, v in source.model.weights.items())
    import torch

    x = inputs_for(km, 2, seed=5)
    want = np.asarray(km(x, training=False))
    with torch.no_grad():
        got = backends.to_torch(again)(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(got, want, atol=atol, rtol=1e-4)


@pytest.mark.parametrize("app", ["vgg19"])
def test_app_converts_to_keras(app, tmp_path):
    """Keras -> IR -> emitted Keras source: the written file rebuilds the app with the same numbers."""
    km = keras_apps.build(app)
    result = convert(keras_model(km), "keras", tmp_path / "keras", atol=scaled_atol(km), batch_sizes=(2,),
                     paths=("torch",))
    assert result.ok, result.report.table()
    assert "source-keras vs emitted-keras" in {r.pair for r in result.report.rows}


@pytest.mark.parametrize("app", ["vgg16"])
def test_app_torch_direction(app, tmp_path):
    """The other direction: the torch module (as a user would hold it) -> from_torch -> emitted Keras."""
    import torch

    km = keras_apps.build(app)
    module = backends.to_torch(backends.from_keras(km), native_io=True)  # NCHW in, as torch users hold images
    example = torch.from_numpy(inputs_for(km, 2).transpose(0, 3, 1, 2).copy())
    result = convert((module, (example,)), "keras", tmp_path / "keras", atol=scaled_atol(km), batch_sizes=(1, 2),
                     paths=("keras", "torch"))
    assert result.ok, result.report.table()
    assert "source-torch vs emitted-keras" in {r.pair for r in result.report.rows}
    # ... and the Keras model made from the torch module computes what the original Keras app computes.
    x = inputs_for(km, 2, seed=7)
    got = np.asarray(backends.to_keras(result.model)(x.transpose(0, 3, 1, 2).copy()))
    np.testing.assert_allclose(got, np.asarray(km(x, training=False)), atol=scaled_atol(km), rtol=1e-4)
