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
from convert_check import inputs_for, scaled_atol  # noqa: E402

from twinnet import backends  # noqa: E402
from twinnet.exporters import convert  # noqa: E402
from twinnet.exporters.sources import keras_model  # noqa: E402
from twinnet.exporters.verify import ALL_PATHS as PATHS  # noqa: E402  (every path, as before)

_spec = importlib.util.spec_from_file_location(
    "keras_apps", Path(__file__).resolve().parents[2] / "examples" / "keras_apps.py"
)
keras_apps = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(keras_apps)

#: The apps converted; ONNX paths for the first only (see the module docstring).
CONVERTS = [
    "vgg16",
    "vgg19",
    "inception_v3",
    "resnet50",
    "resnet50_v2",
    "densenet121",
    "mobilenet",
    "mobilenet_v2",
    "xception",
    "efficientnet_b0",
    "nasnet_mobile",
]
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
    result = convert(
        keras_model(km), "keras", tmp_path / "keras", atol=scaled_atol(km), batch_sizes=(2,), paths=("torch",)
    )
    assert result.ok, result.report.table()
    assert "source-keras vs emitted-keras" in {r.pair for r in result.report.rows}


@pytest.mark.parametrize("app", ["vgg16"])
def test_app_torch_direction(app, tmp_path):
    """The other direction: the torch module (as a user would hold it) -> from_torch -> emitted Keras."""
    import torch

    km = keras_apps.build(app)
    module = backends.to_torch(backends.from_keras(km), native_io=True)  # NCHW in, as torch users hold images
    example = torch.from_numpy(inputs_for(km, 2).transpose(0, 3, 1, 2).copy())
    result = convert(
        (module, (example,)),
        "keras",
        tmp_path / "keras",
        atol=scaled_atol(km),
        batch_sizes=(1, 2),
        paths=("keras", "torch"),
    )
    assert result.ok, result.report.table()
    assert "source-torch vs emitted-keras" in {r.pair for r in result.report.rows}
    # ... and the Keras model made from the torch module computes what the original Keras app computes.
    x = inputs_for(km, 2, seed=7)
    got = np.asarray(backends.to_keras(result.model)(x.transpose(0, 3, 1, 2).copy()))
    np.testing.assert_allclose(got, np.asarray(km(x, training=False)), atol=scaled_atol(km), rtol=1e-4)


#: app -> (torch block classes, Keras block functions) emitted for the repeated blocks from_keras reads from the
#: layer names. Kinds whose code differs only in integer literals (channel counts) are one class / function with
#: those literals as parameters, and a kind with one instance is marked when it is alike another kind but for
#: its channel counts: ResNet50's Conv2Block2..Conv5Block2 -> ConvBlock(in, width) and conv3..5_block1 (with
#: their strided shortcut) -> Conv3Block1 (4 kinds and 4 inline blocks before); MobileNetV2's blocks -> 3 classes
#: for 16 blocks (4 kinds, 7 inline blocks before); ResNet50V2 (3 kinds before), Xception and VGG16 -> 2 classes
#: (VGG: two-conv and three-conv blocks); DenseNet's one kind takes another in-channel count at each instance
#: (torch wrote it inline before; Keras layers infer it). EfficientNet's blocks differ in their Dropout rate
#: (the drop-connect rate grows with depth, a float), so none repeats.
APP_BLOCKS = {
    "resnet50": (2, 2),
    "mobilenet_v2": (3, 3),
    "resnet50_v2": (2, 2),
    "xception": (2, 2),
    "densenet121": (1, 1),
    "vgg16": (2, 2),
    "efficientnet_b0": (0, 0),
    "inception_v3": (0, 0),
}
#: the apps whose emitted files are also run (both frameworks) against the Keras app -> an instance whose
#: torch state-dict keys nest (``conv3_block3.conv_1.weight``)
APP_BLOCKS_RUN = {"resnet50": "conv3_block3", "mobilenet_v2": "block_8"}


def load_file(path):
    """Import an emitted source file as a module (what ``python <name>.py`` would run)."""
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("app", list(APP_BLOCKS))
def test_app_blocks_are_emitted_once_per_kind(app, tmp_path):
    """from_keras marks the blocks the app's layer names give; marks change no names or weights, and the
    emitted torch and Keras files (one class / function per repeated kind) compute what the app computes."""
    import re

    import torch

    from twinnet.backends.torch.compile import class_name
    from twinnet.backends.torch.helpers_norm import HELPERS as NORM_HELPERS

    km = keras_apps.build(app)
    model, flat = backends.from_keras(km), backends.from_keras(km, blocks=False)
    assert [n.name for n in model.layers] == [n.name for n in flat.layers]
    assert model.weights.keys() == flat.weights.keys()
    assert all(np.array_equal(model.weights[k], v) for k, v in flat.weights.items())
    assert all(n.block is None for n in flat.layers)
    assert all(n.name.startswith(n.block[1] + "_") for n in model.layers if n.block)
    classes, functions = APP_BLOCKS[app]
    run = app in APP_BLOCKS_RUN
    code = {fw: backends.emit(model, fw, out_dir=tmp_path / fw if run else None) for fw in ("torch", "keras")}
    helpers = {cls.__name__ for cls in NORM_HELPERS}  # inlined helper modules (Keras's Normalization) are not blocks
    own = [c for c in re.findall(r"^class (\w+)\(nn\.Module\):", code["torch"], re.M) if c not in helpers]
    assert len(own) == classes + 1  # + the model's own class
    assert len(re.findall(r"^def \w+\(x\w*(, \w+)*, name\):$", code["keras"], re.M)) == functions
    assert "emitted inline" not in code["torch"] + code["keras"]
    if not run:
        return
    folder = tmp_path / "torch"
    tm = load_file(folder / f"{model.name}.py")
    tm = tm.load_weights(getattr(tm, class_name(model.name))(), str(folder / f"{model.name}.safetensors")).eval()
    live = backends.to_torch(model)
    assert tm.state_dict().keys() == live.state_dict().keys()  # nested as the emitted file nests them
    assert any(k.startswith(APP_BLOCKS_RUN[app] + ".") for k in tm.state_dict())
    assert all(torch.equal(v, live.state_dict()[k]) for k, v in tm.state_dict().items())
    kf = load_file(tmp_path / "keras" / f"{model.name}.py").__dict__[f"build_{model.name}"]()
    kf.load_weights(str(tmp_path / "keras" / f"{model.name}.weights.h5"))
    atol = scaled_atol(km)
    for batch in (1, 2):
        x = inputs_for(km, batch, seed=batch)
        want = np.asarray(km(x, training=False))
        with torch.no_grad():
            np.testing.assert_allclose(tm(torch.from_numpy(x)).numpy(), want, atol=atol, rtol=1e-4)
        np.testing.assert_allclose(np.asarray(kf(x, training=False)), want, atol=atol, rtol=1e-4)
