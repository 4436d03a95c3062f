"""Conv3D and the convolution variants (depthwise, separable, transposed) in both layouts, every option.

The 'same' + stride 2 cases on the 9x10 image are the ones TensorFlow pads
asymmetrically (even width) and symmetrically (odd height) at once.
"""

import pytest
from gaps import known_gap
from layer_check import check_layer, image, sequence, signal

from twinnet import ir, to_keras
from twinnet.exporters.verify import ALL_PATHS as PATHS  # every path, the exporters' ONNX files too
from twinnet.exporters.verify import verify
from twinnet.ir import layers as L

DEPTHWISE2D = {
    "k3-valid": L.DepthwiseConv2D(3),
    "k3-same-dm2": L.DepthwiseConv2D(3, padding="same", depth_multiplier=2),
    "k3-s2-same-dm2": L.DepthwiseConv2D(3, strides=2, padding="same", depth_multiplier=2),
    "k4-same": L.DepthwiseConv2D(4, padding="same"),
    "k5-s2-same-dm3": L.DepthwiseConv2D(5, strides=2, padding="same", depth_multiplier=3),
    "rect-kernel": L.DepthwiseConv2D((2, 3), strides=(1, 2), padding="same"),
    "dilation2-same": L.DepthwiseConv2D(3, dilation_rate=2, padding="same", depth_multiplier=2),
    "dilation2-s2": L.DepthwiseConv2D(3, strides=2, dilation_rate=2, padding="same"),
    "explicit-pads": L.DepthwiseConv2D(3, padding=((1, 2), (0, 1)), depth_multiplier=2),
    "no-bias-relu": L.DepthwiseConv2D(3, use_bias=False, activation="relu"),
    # unequal strides: TensorFlow's CPU kernel takes equal ones only (Keras: pads, equal-stride step, subsample)
    "s21-valid": L.DepthwiseConv2D(3, strides=(2, 1)),
    "s23-explicit-pads-dm2": L.DepthwiseConv2D(3, strides=(2, 3), padding=((1, 0), (2, 1)), depth_multiplier=2),
    "s12-dilation2-same": L.DepthwiseConv2D(3, strides=(1, 2), dilation_rate=2, padding="same"),
}


@pytest.mark.parametrize("layout", ["NHWC", "NCHW"])
@pytest.mark.parametrize("name", list(DEPTHWISE2D))
def test_depthwise_conv2d(name, layout, tmp_path):
    check_layer(DEPTHWISE2D[name], image(layout), tmp_path=tmp_path)


SEPARABLE2D = {
    "k3-valid": L.SeparableConv2D(4, 3),
    "k3-s2-same-dm2": L.SeparableConv2D(4, 3, strides=2, padding="same", depth_multiplier=2),
    "k4-same": L.SeparableConv2D(5, 4, padding="same"),
    "k2-s2-same": L.SeparableConv2D(4, 2, strides=2, padding="same"),
    "dilation2-same": L.SeparableConv2D(4, 3, dilation_rate=2, padding="same"),
    "dilation2-s2": L.SeparableConv2D(4, 3, strides=2, dilation_rate=(2, 1), padding="same", depth_multiplier=2),
    "explicit-pads": L.SeparableConv2D(4, 3, padding=((0, 1), (2, 1))),
    "no-bias-tanh": L.SeparableConv2D(4, 3, use_bias=False, activation="tanh", depth_multiplier=2),
    "s12-same": L.SeparableConv2D(4, (2, 3), strides=(1, 2), padding="same"),
    "s21-valid-dm2": L.SeparableConv2D(4, 3, strides=(2, 1), depth_multiplier=2),
    "s24-dilation2-same-relu": L.SeparableConv2D(
        4, 3, strides=(2, 4), dilation_rate=2, padding="same", activation="relu"
    ),
    "s31-dilation12-valid": L.SeparableConv2D(4, 2, strides=(3, 1), dilation_rate=(1, 2), use_bias=False),
}


@pytest.mark.parametrize("layout", ["NHWC", "NCHW"])
@pytest.mark.parametrize("name", list(SEPARABLE2D))
def test_separable_conv2d(name, layout, tmp_path):
    check_layer(SEPARABLE2D[name], image(layout), tmp_path=tmp_path)


@pytest.mark.parametrize("layout", ["NHWC", "NCHW"])
def test_one_group_per_channel_unequal_strides(layout, tmp_path):
    """A Conv2D with one group per input channel is Keras's DepthwiseConv2D, so it takes the same route."""
    check_layer(L.Conv2D(6, (3, 2), strides=(1, 3), groups=3, padding="same"), image(layout), tmp_path=tmp_path)


TRANSPOSE2D = {
    "k3-valid": L.Conv2DTranspose(4, 3),
    "k3-same": L.Conv2DTranspose(4, 3, padding="same"),
    "k3-s2-same": L.Conv2DTranspose(4, 3, strides=2, padding="same"),
    "k4-s2-same": L.Conv2DTranspose(4, 4, strides=2, padding="same"),
    "k5-s2-same": L.Conv2DTranspose(4, 5, strides=2, padding="same"),
    "k3-s2-same-op0": L.Conv2DTranspose(4, 3, strides=2, padding="same", output_padding=0),
    "k3-s2-same-op1": L.Conv2DTranspose(4, 3, strides=2, padding="same", output_padding=1),
    "k4-s2-same-op1": L.Conv2DTranspose(4, 4, strides=2, padding="same", output_padding=1),
    "k2-s3-same": L.Conv2DTranspose(4, 2, strides=3, padding="same"),
    "k3-s2-valid": L.Conv2DTranspose(4, 3, strides=2),
    "k3-s2-valid-op1": L.Conv2DTranspose(4, 3, strides=2, output_padding=1),
    "k1-s2-valid": L.Conv2DTranspose(4, 1, strides=2),
    "rect-mixed-op": L.Conv2DTranspose(4, (4, 3), strides=(2, 3), padding="same", output_padding=(1, 0)),
    "dilation2-same": L.Conv2DTranspose(4, 3, dilation_rate=2, padding="same"),
    "dilation2-valid": L.Conv2DTranspose(4, 3, dilation_rate=2),
    "dilation-rect-same": L.Conv2DTranspose(4, (2, 3), dilation_rate=(2, 3), padding="same", use_bias=False),
    "no-bias-sigmoid": L.Conv2DTranspose(4, 3, strides=2, use_bias=False, activation="sigmoid"),
}


@pytest.mark.parametrize("layout", ["NHWC", "NCHW"])
@pytest.mark.parametrize("name", list(TRANSPOSE2D))
def test_conv2d_transpose(name, layout, tmp_path):
    check_layer(TRANSPOSE2D[name], image(layout), tmp_path=tmp_path)


def volume(layout: str = "NDHWC", channels: int = 2, d: int = 4, h: int = 5, w: int = 6) -> dict:
    shape = (d, h, w, channels) if layout == "NDHWC" else (channels, d, h, w)
    return {"shape": shape, "layout": layout}


CONV3D = {
    "k3-valid": L.Conv3D(3, 3),
    "k3-s2-same": L.Conv3D(3, 3, strides=2, padding="same"),
    "k2-same": L.Conv3D(3, 2, padding="same"),
    "rect-kernel": L.Conv3D(3, (1, 3, 2), strides=(1, 2, 2), padding="same"),
    "dilation2-same": L.Conv3D(3, 2, dilation_rate=(1, 2, 2), padding="same"),
    "explicit-pads": L.Conv3D(3, 2, padding=((0, 1), (1, 0), 1)),
    "groups2": L.Conv3D(4, 2, groups=2, padding="same"),
    "no-bias-relu": L.Conv3D(3, 3, use_bias=False, activation="relu"),
}

WITHOUT_ONNX_KERAS = tuple(p for p in PATHS if p != "onnx-keras")


@pytest.mark.parametrize("layout", ["NDHWC", "NCDHW"])
@pytest.mark.parametrize("name", list(CONV3D))
def test_conv3d(name, layout, tmp_path):
    layer = CONV3D[name]
    # grouped convs skip the one path listed as the known gap onnx-keras-grouped-conv
    check_layer(layer, volume(layout), tmp_path=tmp_path, paths=WITHOUT_ONNX_KERAS if layer.groups > 1 else PATHS)


@known_gap("onnx-keras-grouped-conv")
def test_grouped_conv3d_through_keras_onnx():
    check_layer(L.Conv3D(4, 2, groups=2), volume("NDHWC"))


CONV1D_VARIANTS = {
    "depthwise-k3-s2-same-dm2": L.DepthwiseConv1D(3, strides=2, padding="same", depth_multiplier=2),
    "depthwise-explicit": L.DepthwiseConv1D(4, padding=(2, 1), dilation_rate=2),
    "separable-k4-same": L.SeparableConv1D(4, 4, padding="same", depth_multiplier=2),
    "separable-s2-valid": L.SeparableConv1D(4, 3, strides=2, activation="relu"),
    "transpose-k3-s2-same": L.Conv1DTranspose(4, 3, strides=2, padding="same"),
    "transpose-k4-s2-valid-op1": L.Conv1DTranspose(4, 4, strides=2, output_padding=1, use_bias=False),
    "transpose-dilation3-same": L.Conv1DTranspose(4, 3, dilation_rate=3, padding="same"),
    "transpose-dilation2-valid": L.Conv1DTranspose(4, 2, dilation_rate=2, activation="relu"),
}


@pytest.mark.parametrize("layout", ["NWC", "NCW"])
@pytest.mark.parametrize("name", list(CONV1D_VARIANTS))
def test_conv1d_variants(name, layout):
    check_layer(CONV1D_VARIANTS[name], signal(layout))


@pytest.mark.parametrize(
    "layer",
    [
        L.Conv1DTranspose(4, 3, strides=2, padding="same"),
        L.Conv1DTranspose(4, 2, strides=3, output_padding=2),
        L.DepthwiseConv1D(3, padding="same", depth_multiplier=2),
    ],
    ids=["transpose-same", "transpose-valid-op", "depthwise"],
)
def test_symbolic_length(layer):
    """Transposed crops do not depend on the input length, so a symbolic one stays symbolic everywhere."""
    model = check_layer(layer, sequence("NTC", steps=None))
    assert model.outputs[0].shape[1] is None


@pytest.mark.parametrize(
    "layer",
    [
        L.DepthwiseConv1D(5, strides=2, padding="same", depth_multiplier=2),
        L.SeparableConv1D(4, 2, strides=2, padding="same"),
    ],
    ids=["depthwise", "separable"],
)
def test_same_strided_symbolic_length_onnx_ir(layer):
    """Run-time 'same' pads (see test_layers_conv.py) in front of the depthwise step; torch refuses this case."""
    x = ir.Input((None, 3), layout="NTC")
    model = ir.Model(x, layer(x)).randomize(0)
    report = verify(model, paths=("keras", "onnx-ir"), seq_lens=(4, 5, 9, 10))
    assert report.ok, "\n" + report.table()


def test_shape_inference():
    # Keras's deconv_output_length: same -> n*s; valid -> (n-1)*s + k + max(s-k, 0); with op: the exact length
    x = ir.Input((9, 10, 3), layout="NHWC")
    assert L.Conv2DTranspose(4, 3, strides=2, padding="same")(x).shape == (None, 18, 20, 4)
    assert L.Conv2DTranspose(4, 3, strides=2)(x).shape == (None, 19, 21, 4)
    assert L.Conv2DTranspose(4, 1, strides=3)(x).shape == (None, 27, 30, 4)
    assert L.Conv2DTranspose(4, 4, strides=2, padding="same", output_padding=1)(x).shape == (None, 17, 19, 4)
    assert L.DepthwiseConv2D(3, strides=2, padding="same", depth_multiplier=3)(x).shape == (None, 5, 5, 9)
    assert L.SeparableConv2D(7, 3)(x).shape == (None, 7, 8, 7)
    v = ir.Input((2, 4, 5, 6), layout="NCDHW")
    assert L.Conv3D(3, 3, strides=2, padding="same")(v).shape == (None, 3, 2, 3, 3)


def test_weights_follow_keras_names_and_layouts():
    x = ir.Input((9, 10, 3), layout="NHWC")
    specs = ir.Model(x, L.SeparableConv2D(5, 3, depth_multiplier=2, name="sep")(x)).weight_specs()
    assert {k: s.shape for k, s in specs.items()} == {
        "sep/depthwise_kernel": (3, 3, 3, 2),
        "sep/pointwise_kernel": (1, 1, 6, 5),
        "sep/bias": (5,),
    }
    specs = ir.Model(x, L.DepthwiseConv2D(3, depth_multiplier=2, name="dw")(x)).weight_specs()
    assert {k: s.shape for k, s in specs.items()} == {"dw/kernel": (3, 3, 3, 2), "dw/bias": (6,)}  # Keras 3's name
    specs = ir.Model(x, L.Conv2DTranspose(4, (2, 3), name="up")(x)).weight_specs()
    assert {k: s.shape for k, s in specs.items()} == {"up/kernel": (2, 3, 4, 3), "up/bias": (4,)}


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: L.Conv2DTranspose(4, 3, strides=2, output_padding=2), "output_padding"),
        (lambda: L.Conv2DTranspose(4, 3, padding="causal"), "padding"),
        (lambda: L.Conv2DTranspose(4, 3, padding=1), "padding"),
        (lambda: L.DepthwiseConv2D(3, depth_multiplier=0), "depth_multiplier"),
        (lambda: L.SeparableConv2D(4, (3, 3, 3)), "kernel_size"),
        (lambda: L.DepthwiseConv1D(3, padding="causal"), "padding"),
        (lambda: L.Conv3D(4, 3, groups=3), "groups"),
        # TensorFlow rejects these: the output, (n-1)*s long, does not map back to n under 'same'
        (lambda: L.Conv2DTranspose(4, (3, 4), strides=2, padding="same", output_padding=0), "odd"),
        (lambda: L.Conv1DTranspose(4, 2, dilation_rate=3, padding="same", output_padding=0), "odd"),
    ],
    ids=[
        "op-ge-stride",
        "transpose-causal",
        "transpose-explicit",
        "dm0",
        "kernel-rank",
        "causal",
        "groups",
        "same-op0-even-kernel",
        "same-op0-even-dilated",
    ],
)
def test_bad_config_names_the_layer(make, message):
    with pytest.raises(ir.ConfigError, match=message) as info:
        make()
    assert info.value.layer


def test_bad_inputs_name_the_layer():
    with pytest.raises(ir.LayoutError, match="NDHWC"):
        L.Conv3D(4, 3, name="c3")(ir.Input((9, 10, 3), layout="NHWC"))
    with pytest.raises(ir.ShapeError, match="too small"):
        L.DepthwiseConv2D(5, name="dw")(ir.Input((3, 10, 3), layout="NHWC"))


@known_gap("keras-dilated-strided-conv")
def test_transpose_dilated_strided():
    check_layer(L.Conv2DTranspose(4, 3, strides=2, dilation_rate=2), image("NHWC"))


def test_unequal_strides_unknown_width():
    """'valid' pads do not depend on the size, so unequal strides stay exact at any width."""
    check_layer(L.SeparableConv2D(4, 3, strides=(1, 2)), {"shape": (9, None, 3), "layout": "NHWC"})


def test_unequal_strides_same_unknown_width_names_the_layer():
    x = ir.Input((9, None, 3), layout="NHWC")
    model = ir.Model(x, L.DepthwiseConv2D(3, strides=(1, 2), padding="same", name="dw")(x)).initialize(0)
    with pytest.raises(ir.UnsupportedError, match="'dw'.*unequal strides"):
        to_keras(model)


@known_gap("keras-depthwise-unequal-strides-unknown-size")
def test_depthwise_unequal_strides_same_unknown_width():
    x = ir.Input((9, None, 3), layout="NHWC")
    model = ir.Model(x, L.SeparableConv2D(4, 3, strides=(1, 2), padding="same")(x)).randomize(0)
    report = verify(model, paths=("keras", "onnx-ir"), seq_lens=(10, 11))
    assert report.ok, "\n" + report.table()
