"""GroupNorm in both layouts and on sequences; global pooling that keeps its spatial axes."""

import pytest
from layer_check import check_layer, image, sequence, signal

from twinnet.ir import layers as L

GROUP = {
    "g3": L.GroupNorm(3),
    "g1": L.GroupNorm(1, epsilon=1e-5),
    "g6": L.GroupNorm(6),
    "no-center": L.GroupNorm(2, center=False),
    "no-scale": L.GroupNorm(3, scale=False),
    "no-affine": L.GroupNorm(2, center=False, scale=False),
    "axis-W": L.GroupNorm(5, axis="W"),
}


@pytest.mark.parametrize("layout", ["NHWC", "NCHW"])
@pytest.mark.parametrize("name", list(GROUP))
def test_group_norm_image(name, layout):
    # nn.GroupNorm has one affine switch: with only one of center/scale, the other half is an
    # identity parameter (6 channels here), as for BatchNorm.
    extra = 6 if name in ("no-center", "no-scale") else 0
    check_layer(GROUP[name], image(layout, channels=6), torch_extra=extra)


@pytest.mark.parametrize("layout", ["NTC", "TNC"])
def test_group_norm_sequence(layout):
    check_layer(L.GroupNorm(2), sequence(layout))


@pytest.mark.parametrize("layout", ["NWC", "NCW"])
def test_group_norm_signal(layout):
    check_layer(L.GroupNorm(3, epsilon=0.1), signal(layout, channels=6))


@pytest.mark.parametrize("layout", ["NWC", "NCW"])
@pytest.mark.parametrize(
    "layer", [L.GlobalMaxPool1D(keepdims=True), L.GlobalAvgPool1D(keepdims=True)], ids=["max-keep", "avg-keep"]
)
def test_global_pool1d_keepdims(layer, layout):
    check_layer(layer, signal(layout), expect_shape=(None, 1, 3) if layout == "NWC" else (None, 3, 1))


@pytest.mark.parametrize("layout", ["NHWC", "NCHW"])
def test_global_pool2d_keepdims_shape(layout):
    check_layer(
        L.GlobalMaxPool2D(keepdims=True),
        image(layout),
        expect_shape=(None, 1, 1, 3) if layout == "NHWC" else (None, 3, 1, 1),
    )
