"""Padding, cropping, upsampling, ReLU, Rescaling and Normalization, every option, in both layouts."""

import pytest
from gaps import known_gap
from layer_check import check_layer, image, sequence, signal

from twinnet.exporters.verify import ALL_PATHS as PATHS  # every path, the exporters' ONNX files too
from twinnet.ir import layers as L

# Keras's Normalization does not survive tf2onnx (listed gap, checked below); every other path runs.
WITHOUT_ONNX_KERAS = tuple(p for p in PATHS if p != "onnx-keras")

SPATIAL2D = {
    "pad-int": (L.ZeroPadding2D(1), (None, 11, 12, 3)),
    "pad-sym-pair": (L.ZeroPadding2D((1, 2)), (None, 11, 14, 3)),
    "pad-per-side": (L.ZeroPadding2D(((1, 2), (3, 0))), (None, 12, 13, 3)),
    "crop-default": (L.Cropping2D(), (None, 9, 10, 3)),
    "crop-int": (L.Cropping2D(2), (None, 5, 6, 3)),
    "crop-sym-pair": (L.Cropping2D((1, 3)), (None, 7, 4, 3)),
    "crop-per-side": (L.Cropping2D(((1, 0), (2, 3))), (None, 8, 5, 3)),
    "up-nearest": (L.UpSampling2D(), (None, 18, 20, 3)),
    "up-nearest-rect": (L.UpSampling2D((2, 3)), (None, 18, 30, 3)),
    "up-nearest-7": (L.UpSampling2D((7, 1)), (None, 63, 10, 3)),
    "up-bilinear": (L.UpSampling2D(2, interpolation="bilinear"), (None, 18, 20, 3)),
    "up-bilinear-rect": (L.UpSampling2D((3, 2), interpolation="bilinear"), (None, 27, 20, 3)),
}


def nhwc_to(layout, shape):
    """An NHWC shape in ``layout``."""
    return shape if layout == "NHWC" else (shape[0], shape[3], shape[1], shape[2])


@pytest.mark.parametrize("layout", ["NHWC", "NCHW"])
@pytest.mark.parametrize("name", list(SPATIAL2D))
def test_spatial2d(name, layout):
    layer, shape = SPATIAL2D[name]
    check_layer(layer, image(layout), expect_shape=nhwc_to(layout, shape))


SPATIAL1D = {
    "pad-int": (L.ZeroPadding1D(2), 15),
    "pad-pair": (L.ZeroPadding1D((0, 3)), 14),
    "crop-default": (L.Cropping1D(), 9),
    "crop-pair": (L.Cropping1D((3, 0)), 8),
    "up-2": (L.UpSampling1D(), 22),
    "up-3": (L.UpSampling1D(3), 33),
    "up-41": (L.UpSampling1D(41), 451),  # torch's legacy 'nearest' misreads this factor (float 1/41 rounds down)
}


@pytest.mark.parametrize("layout", ["NWC", "NCW"])
@pytest.mark.parametrize("name", list(SPATIAL1D))
def test_spatial1d(name, layout):
    layer, n = SPATIAL1D[name]
    check_layer(layer, signal(layout), expect_shape=(None, n, 3) if layout == "NWC" else (None, 3, n))


@pytest.mark.parametrize("layout", ["NTC", "TNC"])
@pytest.mark.parametrize(
    "layer", [L.ZeroPadding1D((1, 2)), L.Cropping1D((2, 1)), L.UpSampling1D(2)], ids=["pad", "crop", "up"]
)
def test_spatial1d_sequence(layer, layout):
    check_layer(layer, sequence(layout))


@pytest.mark.parametrize(
    "layer", [L.ZeroPadding1D((1, 2)), L.Cropping1D((1, 2)), L.UpSampling1D(3)], ids=["pad", "crop", "up"]
)
def test_spatial1d_symbolic_length(layer):
    check_layer(layer, sequence("NTC", steps=None), expect_shape=(None, None, 4))


RELU = {
    "plain": L.ReLU(),
    "relu6": L.ReLU(max_value=6),
    "cap": L.ReLU(max_value=0.7),
    "slope": L.ReLU(negative_slope=0.1),
    "threshold": L.ReLU(threshold=0.5),
    "slope-cap": L.ReLU(max_value=1.0, negative_slope=0.2),
    "all": L.ReLU(max_value=1.2, negative_slope=0.3, threshold=0.4),
    "slope-threshold": L.ReLU(negative_slope=0.25, threshold=0.3),
    "cap-threshold": L.ReLU(max_value=0.9, threshold=0.2),
}


@pytest.mark.parametrize("layout", ["NHWC", "NCHW"])
@pytest.mark.parametrize("name", list(RELU))
def test_relu(name, layout):
    check_layer(RELU[name], image(layout))


SCALING = {
    "scale": L.Rescaling(1 / 255),
    "scale-offset": L.Rescaling(1 / 127.5, offset=-1),
    "per-channel": L.Rescaling([0.5, 2.0, -1.0], offset=[0.1, 0.0, -0.2]),
    "per-channel-scale": L.Rescaling([0.5, 2.0, -1.0], offset=0.3),
    "norm": L.Normalization(mean=[0.5, -0.2, 1.0], variance=[0.25, 2.0, 0.0]),
    "norm-scalar": L.Normalization(mean=0.3, variance=1.7),
    "norm-all": L.Normalization(mean=0.3, variance=1.7, axis=None),
    "norm-invert": L.Normalization(mean=[0.5, -0.2, 1.0], variance=[0.25, 2.0, 3.0], invert=True),
    "norm-width": L.Normalization(mean=[0.1 * i for i in range(10)], variance=[1 + i for i in range(10)], axis="W"),
}


@pytest.mark.parametrize("layout", ["NHWC", "NCHW"])
@pytest.mark.parametrize("name", list(SCALING))
def test_preprocessing(name, layout):
    layer = SCALING[name]
    check_layer(layer, image(layout), paths=WITHOUT_ONNX_KERAS if isinstance(layer, L.Normalization) else PATHS)


@known_gap("onnx-keras-normalization")
def test_normalization_through_keras_onnx():
    check_layer(L.Normalization(mean=[0.5, -0.2, 1.0], variance=[0.25, 2.0, 3.0]), image("NHWC"))


def test_preprocessing_after_flatten():
    """Per-channel constants on features torch holds permuted after a Flatten."""
    from twinnet import ir

    x = ir.Input((2, 3, 2), layout="NCHW", name="x")
    f = L.Flatten()(x)
    y = L.Normalization(mean=[0.1 * i for i in range(12)], variance=[0.5 + i for i in range(12)])(f)
    y = L.Rescaling([1.0 + i for i in range(12)], offset=0.5)(y)
    from twinnet.exporters import verify

    report = verify(ir.Model(x, y, name="flat_pre"), paths=WITHOUT_ONNX_KERAS)
    assert report.ok, report.table()


def _image():
    from twinnet import ir

    return ir.Input((9, 10, 3), name="x")


@pytest.mark.parametrize(
    "make,error,message",
    [
        (lambda: L.ZeroPadding2D(-1), "ConfigError", "ZeroPadding2D: padding must be >= 0, got -1"),
        (lambda: L.ZeroPadding2D((1, 2, 3)), "ConfigError", "padding must be an int, 2 int(s) or 2 (before, after)"),
        (lambda: L.Cropping1D("1"), "ConfigError", "Cropping1D: cropping must be an int"),
        (lambda: L.Cropping2D(((1, 2), (3, 4)))(L.ZeroPadding1D()(_image())), "LayoutError", "expects a rank-3"),
        (lambda: L.Cropping2D(((5, 4), (0, 0)))(_image()), "ShapeError", "Cropping2D: cropping 5 + 4 leaves nothing"),
        (lambda: L.UpSampling2D(0), "ConfigError", "UpSampling2D: size must be >= 1, got 0"),
        (lambda: L.UpSampling2D(2, interpolation="bicubic"), "ConfigError", "interpolation must be one of 'nearest'"),
        (lambda: L.ReLU(max_value=-1), "ConfigError", "ReLU: max_value must be >= 0.0"),
        (lambda: L.ReLU(negative_slope=-0.1), "ConfigError", "negative_slope must be >= 0.0"),
        (lambda: L.ReLU(threshold=float("nan")), "ConfigError", "threshold must be a finite number"),
        (lambda: L.Rescaling([]), "ConfigError", "Rescaling: scale must be a number or a non-empty list"),
        (lambda: L.Rescaling([1.0, 2.0])(_image()), "ShapeError", "scale has 2 entries but axis 'C' has size 3"),
        (lambda: L.Normalization(mean=[1.0, 2.0], variance=[1.0, -2.0]), "ConfigError", "variance must be >= 0.0"),
        (
            lambda: L.Normalization(mean=[1.0, 2.0], variance=1.0, axis=None),
            "ConfigError",
            "axis=None takes one number",
        ),
        (lambda: L.Normalization(mean=[1.0, 2.0], variance=1.0)(_image()), "ShapeError", "mean has 2 entries"),
        (lambda: L.Normalization(axis="T")(_image()), "LayoutError", "axis 'T' is not in layout 'NHWC'"),
        (lambda: L.GroupNorm(0), "ConfigError", "GroupNorm: groups must be >= 1"),
        (lambda: L.GroupNorm(2)(_image()), "ShapeError", "GroupNorm: 2 groups do not divide axis 'C' of size 3"),
    ],
)
def test_bad_arguments(make, error, message):
    from twinnet import ir

    with pytest.raises(getattr(ir, error)) as info:
        make()
    assert message in str(info.value)


@pytest.mark.parametrize("layout", ["NHWC", "NCHW"])
def test_onnx_nearest_resize_is_a_repeat(layout):
    """Straight from the IR, UpSampling's Resize (half_pixel, round_prefer_floor) repeats each element, for
    every factor up to 64 and a few large ones (a source index off by one for any would show as a mismatch)."""
    import numpy as np
    import onnxruntime as ort

    from twinnet import ir
    from twinnet.backends.onnx import to_onnx

    a = np.random.RandomState(0).randn(1, 5, 3, 2).astype("float32")  # NHWC
    for h, w in [(k, 65 - k) for k in range(1, 65)] + [(97, 127), (255, 1)]:
        x = ir.Input((5, 3, 2) if layout == "NHWC" else (2, 5, 3), layout=layout)
        model = ir.Model([x], L.UpSampling2D((h, w))(x))
        session = ort.InferenceSession(to_onnx(model).SerializeToString(), providers=["CPUExecutionProvider"])
        got = session.run(None, {session.get_inputs()[0].name: a if layout == "NHWC" else a.transpose(0, 3, 1, 2)})[0]
        got = got if layout == "NHWC" else got.transpose(0, 2, 3, 1)
        np.testing.assert_array_equal(got, a.repeat(h, axis=1).repeat(w, axis=2), err_msg=f"size {(h, w)}")


def test_cropping_of_a_tensor_held_in_declared_order(tmp_path):
    """Llama's rotate-half on its heads (``NHCW``, the halves of ``W`` cropped): Keras holds the permuted heads
    as declared and crops them there (a ``keras.ops`` slice) rather than channels last, so the permute is the
    one transpose, made where the model makes it; every path computes the same."""
    from twinnet import ir
    from twinnet.backends.keras import lower
    from twinnet.exporters.verify import verify
    from twinnet.ir import ops as O

    x = ir.Input((6, 4, 8), layout="NCHW", name="x")
    h = L.Permute("NHCW")(x)
    back, front = L.Cropping2D(((0, 0), (4, 0)))(h), L.Cropping2D(((0, 0), (0, 4)))(h)
    y = O.Binary("mul")([h, L.Concatenate(axis="W")([L.Rescaling(-1.0)(back), front])])
    model = ir.Model(x, y, name="rotate_half").randomize(0)
    program = lower(model)
    assert program.transposes == 1
    assert "Cropping2D" not in "\n".join(program.body)
    report = verify(model, paths=PATHS)
    assert report.ok, "\n" + report.table()
    # the slice saves as .keras, loads with safe_mode and imports again (a loaded index is a list, not a tuple)
    import keras
    import numpy as np

    from twinnet.backends import from_keras, to_keras

    net = to_keras(model)
    net.save(tmp_path / "rotate_half.keras")
    loaded = keras.saving.load_model(tmp_path / "rotate_half.keras", safe_mode=True)
    x = np.random.default_rng(0).standard_normal((2, 6, 4, 8)).astype(np.float32)
    np.testing.assert_array_equal(np.asarray(loaded(x)), np.asarray(net(x)))
    assert "Slice" in [n.layer.kind for n in from_keras(loaded).layers]
