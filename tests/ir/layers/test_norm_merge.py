"""Normalisation and merge layers, in both layouts, with randomised statistics."""

import pytest
from layer_check import check_layer, image, sequence, signal

from twinnet import ir
from twinnet.ir import layers as L

NORMS = {
    "bn": L.BatchNorm(),
    "bn-eps-momentum": L.BatchNorm(epsilon=1e-5, momentum=0.9),
    "bn-no-center": L.BatchNorm(center=False),
    "bn-no-scale": L.BatchNorm(scale=False),
    "bn-no-affine": L.BatchNorm(center=False, scale=False),
    "ln": L.LayerNorm(),
    "ln-eps": L.LayerNorm(epsilon=1e-6),
    "ln-hwc": L.LayerNorm(axis="HWC"),
    "ln-no-center": L.LayerNorm(center=False),
    "ln-no-scale": L.LayerNorm(scale=False),
}


@pytest.mark.parametrize("layout", ["NHWC", "NCHW"])
@pytest.mark.parametrize("name", list(NORMS))
def test_norm_image(name, layout, tmp_path):
    # torch's BatchNorm has one affine switch: with only one of center/scale, the other half is its identity
    # value, a buffer of HalfAffineBatchNorm where the channels are held second, else a parameter of
    # ChannelLastBatchNorm (3 channels here).
    extra = 3 if name in ("bn-no-center", "bn-no-scale") and layout == "NHWC" else 0
    check_layer(NORMS[name], image(layout), tmp_path=tmp_path, torch_extra=extra)


@pytest.mark.parametrize("layout", ["NTC", "TNC"])
@pytest.mark.parametrize("layer", [L.BatchNorm(), L.LayerNorm()], ids=["bn", "ln"])
def test_norm_sequence(layer, layout):
    check_layer(layer, sequence(layout))


def test_norm_vector():
    check_layer(L.BatchNorm(), {"shape": (5,)})
    check_layer(L.LayerNorm(), {"shape": (5,)})


@pytest.mark.parametrize("layout", ["NHWC", "NCHW"])
@pytest.mark.parametrize(
    "layer",
    [
        L.Add(),
        L.Subtract(),
        L.Multiply(),
        L.Average(),
        L.Maximum(),
        L.Concatenate(),
        L.Concatenate(axis="W"),
        L.Concatenate(axis=1),
    ],
    ids=["add", "sub", "mul", "avg", "max", "cat-C", "cat-W", "cat-1"],
)
def test_merge(layer, layout):
    n = 2 if isinstance(layer, L.Subtract) else 3
    check_layer(layer, [image(layout)] * n)


@pytest.mark.parametrize("layout", ["NHWC", "NCHW"])
@pytest.mark.parametrize("layer", [L.Multiply(), L.Add(), L.Subtract(), L.Maximum()], ids=["mul", "add", "sub", "max"])
def test_merge_broadcasts_size_one_axes(layer, layout):
    """A squeeze-and-excitation gate (EfficientNet's Multiply): size-1 axes stretch, in either order."""
    gate = image(layout, h=1, w=1)
    check_layer(layer, [image(layout), gate], expect_shape=(None, *image(layout)["shape"]))
    check_layer(L.Multiply(), [gate, image(layout)], paths=("keras", "torch"))


def test_merge_refuses_mismatched_sizes():
    with pytest.raises(ir.ShapeError, match="input shapes differ"):
        L.Add()([ir.Input((4, 3)), ir.Input((2, 3))])


def test_merge_after_flatten():
    """Flattened branches keep a permuted feature order in torch; merging must still agree."""
    x = ir.Input((6, 5, 3), name="x")
    a = L.Flatten()(L.Conv2D(2, 3)(x))
    b = L.Flatten()(L.Conv2D(2, 3, activation="tanh")(x))
    y = L.Dense(4)(L.Concatenate()([L.Add()([a, b]), a]))
    from twinnet.exporters import verify

    report = verify(ir.Model(x, [y, a], name="branches").randomize(0), paths="all")
    assert report.ok, report.table()


DOT = {
    # (layer, inputs, expected shape): attention-like products of rank-3 tensors
    "scores": (L.Dot(axes="C"), [sequence("NTC"), sequence("NTC", steps=5)], (None, 6, 5)),
    "values": (L.Dot(axes=(2, 1)), [{"shape": (6, 5), "layout": "NTC"}, sequence("NTC", steps=5)], (None, 6, 4)),
    "tnc-ints": (
        L.Dot(axes=(0, -1), layout="NCT"),
        [sequence("TNC"), {"shape": (3, 6), "layout": "NCT"}],
        (None, 4, 3),
    ),
    "channels-first": (L.Dot(axes="W"), [signal("NCW"), signal("NWC", channels=2)], (None, 3, 2)),
}


@pytest.mark.parametrize("name", list(DOT))
def test_dot(name):
    layer, inputs, shape = DOT[name]
    check_layer(layer, inputs, expect_shape=shape)


DOT_ERRORS = [
    (lambda: L.Dot(axes=(1, 2, 3)), "ConfigError", "Dot: axes must be one axis or a pair"),
    (lambda: L.Dot(axes=2, normalize=True), "ConfigError", "normalize=True (cosine proximity) is not supported"),
    (lambda: L.Dot(axes="N")([ir.Input(**sequence()), ir.Input(**sequence())]), "LayoutError", "batch axis"),
    (lambda: L.Dot(axes="C")([ir.Input(**image()), ir.Input(**image())]), "ShapeError", "two float32 rank-3"),
    (
        lambda: L.Dot(axes="C")([ir.Input(**sequence()), ir.Input(**sequence(features=5))]),
        "ShapeError",
        "contracted sizes differ: 4 vs 5",
    ),
    (lambda: L.Dot(axes="C", layout="NT")([ir.Input(**sequence())] * 2), "LayoutError", "Dot"),
]


@pytest.mark.parametrize("make, kind, text", DOT_ERRORS, ids=[e[2] for e in DOT_ERRORS])
def test_dot_errors(make, kind, text):
    with pytest.raises(ir.IRError) as info:
        make()
    assert type(info.value).__name__ == kind and text in str(info.value)
