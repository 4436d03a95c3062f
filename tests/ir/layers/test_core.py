"""Core layers and activations, each checked completely by check_layer."""

import pytest
from layer_check import check_layer, image, sequence

from twinnet.ir import layers as L

ACTIVATIONS = [
    L.Activation("relu"),
    L.Activation("sigmoid"),
    L.Activation("tanh"),
    L.Activation("softmax"),
    L.Activation("softmax", axis=1),
    L.Activation("softmax", axis="W"),
    L.Activation("log_softmax"),
    L.Activation("gelu"),
    L.Activation("gelu", approximate=True),
    L.Activation("silu"),
    L.Activation("swish"),
    L.Activation("elu"),
    L.Activation("elu", alpha=0.5),
    L.Activation("selu"),
    L.Activation("leaky_relu"),
    L.Activation("leaky_relu", negative_slope=0.1),
    L.Activation("softplus"),
    L.Activation("hard_sigmoid"),
    L.Activation("hard_swish"),
    L.Activation("linear"),
]


@pytest.mark.parametrize("layout", ["NHWC", "NCHW"])
@pytest.mark.parametrize("layer", ACTIVATIONS, ids=lambda layer: f"{layer.activation}-{layer.config()}")
def test_activation(layer, layout, tmp_path):
    check_layer(layer, image(layout), tmp_path=tmp_path)


@pytest.mark.parametrize("activation", ["relu", "softmax", "gelu", "hard_swish", "leaky_relu", "elu", "log_softmax"])
def test_fused_activation(activation):
    check_layer(L.Dense(5, activation=activation), {"shape": (7,)})


@pytest.mark.parametrize(
    "case",
    [
        (L.Dense(5), {"shape": (7,)}, (None, 5)),
        (L.Dense(5, use_bias=False), {"shape": (7,)}, (None, 5)),
        (L.Dense(5), sequence("NTC"), (None, 6, 5)),
        (L.Dense(5), sequence("TNC"), (6, None, 5)),
        (L.Dense(5), image("NHWC"), (None, 9, 10, 5)),
        (L.Dense(5), image("NCHW"), (None, 5, 9, 10)),
    ],
    ids=["vector", "no-bias", "NTC", "TNC", "NHWC", "NCHW"],
)
def test_dense(case, tmp_path):
    layer, inputs, shape = case
    check_layer(layer, inputs, expect_shape=shape, tmp_path=tmp_path)


@pytest.mark.parametrize("layout", ["NHWC", "NCHW"])
def test_flatten(layout):
    check_layer(L.Flatten(), image(layout), expect_shape=(None, 270))


@pytest.mark.parametrize(
    "layer,inputs,shape",
    [
        (L.Dropout(0.5), image("NHWC"), (None, 9, 10, 3)),
        (L.Identity(), image("NCHW"), (None, 3, 9, 10)),
        (L.Reshape((90, 3)), image("NHWC"), (None, 90, 3)),
        (L.Reshape((-1,)), image("NCHW"), (None, 270)),
        (L.Reshape((3, 90), layout="NCT"), image("NCHW"), (None, 3, 90)),
        (L.Reshape((-1, 4), layout="NWC"), sequence("NTC", steps=None), (None, None, 4)),
        (L.Reshape((-1, 2)), sequence("NTC", steps=None), (None, None, 2)),
        (L.Permute((3, 1, 2)), image("NHWC"), (None, 3, 9, 10)),
        (L.Permute("NHWC"), image("NCHW"), (None, 9, 10, 3)),
        (L.Permute((2, 1)), sequence("NTC"), (None, 4, 6)),
    ],
    ids=[
        "dropout",
        "identity",
        "reshape-tokens",
        "reshape-flat-nchw",
        "reshape-layout",
        "reshape-relabel-symbolic",
        "reshape-split-symbolic",
        "permute-to-nchw",
        "permute-to-nhwc",
        "permute-seq",
    ],
)
def test_shape_layers(layer, inputs, shape):
    check_layer(layer, inputs, expect_shape=shape)
