"""Convolutions and pooling in both layouts, every padding mode and option."""

import pytest
from gaps import known_gap
from layer_check import check_layer, image, signal

from twinnet import ir
from twinnet.exporters.verify import ALL_PATHS as PATHS  # every path, the exporters' ONNX files too
from twinnet.exporters.verify import verify
from twinnet.ir import layers as L

CONV2D = {
    "k3-valid": L.Conv2D(4, 3),
    "k3-same": L.Conv2D(4, 3, padding="same"),
    "k4-same": L.Conv2D(4, 4, padding="same"),
    "k3-s2-same": L.Conv2D(4, 3, strides=2, padding="same"),
    "k5-s2-same": L.Conv2D(4, 5, strides=2, padding="same"),
    "k2-s2-same": L.Conv2D(4, 2, strides=2, padding="same"),
    "k3-s2-valid": L.Conv2D(4, 3, strides=2),
    "rect-kernel": L.Conv2D(4, (2, 3), strides=(1, 2), padding="same"),
    "dilation2-same": L.Conv2D(4, 3, dilation_rate=2, padding="same"),
    "dilation2-valid": L.Conv2D(4, 3, dilation_rate=(2, 1)),
    "groups3": L.Conv2D(6, 3, groups=3, padding="same"),  # one group per input channel: Keras DepthwiseConv2D
    "groups3-s2": L.Conv2D(6, 3, strides=2, groups=3, padding="same"),
    "groups3-m1-pads": L.Conv2D(3, 3, groups=3, padding=((1, 0), (2, 1)), use_bias=False),
    "groups3-s2-dilated": L.Conv2D(3, 3, strides=2, dilation_rate=2, groups=3),  # Keras takes both when depthwise
    "explicit-pads": L.Conv2D(4, 3, padding=((1, 2), (0, 1))),
    "explicit-int": L.Conv2D(4, 3, padding=1),
    "no-bias-relu": L.Conv2D(4, 3, use_bias=False, activation="relu"),
}


WITHOUT_ONNX_KERAS = tuple(p for p in PATHS if p != "onnx-keras")


def paths_for(layer, channels=3):
    """Grouped convs with several input channels per group skip the one path listed as a known gap (the gap
    test below checks it still fails); one group per channel is a Keras DepthwiseConv, which tf2onnx exports."""
    return WITHOUT_ONNX_KERAS if 1 < layer.groups < channels else PATHS


@pytest.mark.parametrize("layout", ["NHWC", "NCHW"])
@pytest.mark.parametrize("name", list(CONV2D))
def test_conv2d(name, layout, tmp_path):
    check_layer(CONV2D[name], image(layout), tmp_path=tmp_path, paths=paths_for(CONV2D[name]))


@pytest.mark.parametrize("layout", ["NHWC", "NCHW"])
def test_grouped_conv_several_channels_per_group(layout):
    check_layer(L.Conv2D(4, 3, groups=2, padding="same"), image(layout, channels=6), paths=WITHOUT_ONNX_KERAS)


@known_gap("onnx-keras-grouped-conv")
def test_grouped_conv_through_keras_onnx():
    check_layer(L.Conv2D(4, 3, groups=2), image("NHWC", channels=6))


CONV1D = {
    "k3-valid": L.Conv1D(4, 3),
    "k3-same": L.Conv1D(4, 3, padding="same"),
    "k4-s2-same": L.Conv1D(4, 4, strides=2, padding="same"),
    "causal": L.Conv1D(4, 3, padding="causal", dilation_rate=2),
    "groups": L.Conv1D(6, 3, groups=3),
    "groups-s2-dilated": L.Conv1D(3, 3, strides=2, dilation_rate=2, groups=3, padding="same"),
    "explicit": L.Conv1D(4, 3, padding=(2, 1)),
}


@pytest.mark.parametrize("layout", ["NWC", "NCW"])
@pytest.mark.parametrize("name", list(CONV1D))
def test_conv1d(name, layout):
    check_layer(CONV1D[name], signal(layout), paths=paths_for(CONV1D[name]))


def test_conv_shape_inference():
    check_layer(L.Conv2D(4, 3, strides=2, padding="same"), image("NHWC", h=16, w=15), expect_shape=(None, 8, 8, 4))
    check_layer(L.Conv2D(4, 3, strides=2, padding="same"), image("NCHW", h=16, w=15), expect_shape=(None, 4, 8, 8))


@pytest.mark.parametrize(
    "layer, spec",
    [
        (L.Conv1D(4, 3, strides=2, padding="same"), {"shape": (None, 3), "layout": "NTC"}),
        (L.Conv1D(4, 4, strides=3, padding="same", activation="relu"), {"shape": (3, None), "layout": "NCW"}),
        (L.Conv2D(4, (4, 3), strides=2, padding="same"), {"shape": (3, None, None), "layout": "NCHW"}),
        (L.Conv2D(4, (3, 2), strides=(2, 1), padding="same"), {"shape": (None, 7, 3), "layout": "NHWC"}),
    ],
    ids=["1d-ntc", "1d-ncw-k4-s3", "2d-both-unknown", "2d-one-unknown"],
)
def test_same_strided_symbolic_length_onnx_ir(layer, spec):
    """'same' with stride > 1 over a length known only at run time: the ONNX file computes TensorFlow's pads
    from the input's shape (torch refuses this case, so only Keras is the reference)."""
    x = ir.Input(**spec)
    model = ir.Model(x, layer(x)).randomize(0)
    report = verify(model, paths=("keras", "onnx-ir"), seq_lens=(4, 5, 9, 10))
    assert report.ok, "\n" + report.table()


@known_gap("keras-dilated-strided-conv")
def test_conv_dilated_strided():
    check_layer(L.Conv2D(4, 3, strides=2, dilation_rate=2), image("NHWC"))


POOL2D = {
    "max-2": L.MaxPool2D(2),
    "max-3-s2-same": L.MaxPool2D(3, strides=2, padding="same"),
    "max-2-same": L.MaxPool2D(2, padding="same"),
    "max-2-s1-same": L.MaxPool2D(2, strides=1, padding="same"),
    "max-3-s1-same": L.MaxPool2D(3, strides=1, padding="same"),
    "max-rect": L.MaxPool2D((2, 3)),
    "avg-2": L.AvgPool2D(2),
    "avg-3-s2-same": L.AvgPool2D(3, strides=2, padding="same"),
    "avg-2-same": L.AvgPool2D(2, padding="same"),
    "avg-2-s1-same": L.AvgPool2D(2, strides=1, padding="same"),
    "avg-3-s1-same": L.AvgPool2D(3, strides=1, padding="same"),
    "avg-3-s2-valid": L.AvgPool2D(3, strides=2),
}


@pytest.mark.parametrize("layout", ["NHWC", "NCHW"])
@pytest.mark.parametrize("name", list(POOL2D))
def test_pool2d(name, layout):
    check_layer(POOL2D[name], image(layout))


POOL1D = {
    "max-2": L.MaxPool1D(2),
    "max-3-s2-same": L.MaxPool1D(3, 2, "same"),
    "avg-2-same": L.AvgPool1D(2, padding="same"),
    "avg-2-s1-same": L.AvgPool1D(2, 1, "same"),
    "avg-3": L.AvgPool1D(3),
}


@pytest.mark.parametrize("layout", ["NWC", "NCW"])
@pytest.mark.parametrize("name", list(POOL1D))
def test_pool1d(name, layout):
    check_layer(POOL1D[name], signal(layout))


@pytest.mark.parametrize("layout", ["NHWC", "NCHW"])
@pytest.mark.parametrize(
    "layer",
    [L.GlobalAvgPool2D(), L.GlobalMaxPool2D(), L.GlobalAvgPool2D(keepdims=True), L.GlobalMaxPool2D(keepdims=True)],
    ids=["avg", "max", "avg-keep", "max-keep"],
)
def test_global_pool2d(layer, layout):
    check_layer(layer, image(layout))


@pytest.mark.parametrize("layout", ["NWC", "NCW"])
@pytest.mark.parametrize(
    "layer",
    [L.GlobalAvgPool1D(), L.GlobalMaxPool1D(), L.GlobalAvgPool1D(keepdims=True)],
    ids=["avg", "max", "avg-keep"],
)
def test_global_pool1d(layer, layout):
    check_layer(layer, signal(layout))
