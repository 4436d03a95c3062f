"""Slice along every kind of axis, in both layouts, and the Keras lowering's two shapes (one Cropping, or a
Cropping between Reshapes)."""

import pytest
from layer_check import check_layer, image, sequence

from twinnet import ir
from twinnet.backends import emit
from twinnet.ir import layers as L

CASES = {
    # (layer, input, expected shape)
    "channels-nhwc": (L.Slice("C", 1, 3), image("NHWC", channels=4), (None, 9, 10, 2)),
    "channels-nchw": (L.Slice("C", 1, 3), image("NCHW", channels=4), (None, 2, 9, 10)),
    "rows-nhwc": (L.Slice("H", 2), image("NHWC"), (None, 7, 10, 3)),
    "cols-nchw": (L.Slice("W", 3, 8), image("NCHW"), (None, 3, 9, 5)),
    "int-axis": (L.Slice(-1, 0, 1), image("NCHW"), (None, 3, 9, 1)),
    "features-ntc": (L.Slice("C", 2, 4), sequence("NTC"), (None, 6, 2)),
    "steps-ntc": (L.Slice("T", 5), sequence("NTC"), (None, 1, 4)),
    "steps-tnc": (L.Slice("T", 1, 4), sequence("TNC"), (6 - 3, None, 4)),
    "vector": (L.Slice("C", 3, 5), {"shape": (6,), "layout": "NC"}, (None, 2)),
    "channels-symbolic-rows": (L.Slice("C", 1, 3), image("NHWC", channels=4, h=None), (None, None, 10, 2)),
}


@pytest.mark.parametrize("name", list(CASES))
def test_slice(name):
    layer, inputs, shape = CASES[name]
    check_layer(layer, inputs, expect_shape=shape)


@pytest.mark.parametrize("layout, crops", [("NHWC", 1), ("NCHW", 1), ("NTC", 1)])
def test_keras_lowering_has_no_permute_or_lambda(layout, crops):
    x = ir.Input(**(sequence(layout) if layout == "NTC" else image(layout, channels=4)))
    model = ir.Model([x], L.Slice("C", 1, 3)(x)).randomize(0)
    source = emit(model, "keras")
    assert "Permute" not in source and "Lambda" not in source
    assert source.count("Cropping") == crops


def test_keras_lowering_of_a_symbolic_length_reads_back():
    """Between its Reshapes, the symbolic length is written -1 (Keras infers it), so from_keras reads the
    Reshapes back, and the importers' ``cropped_rows`` rewrite reads the Reshape, Cropping2D and Reshape as
    the Slice they write: the round trip gives the model back."""
    from twinnet.backends import from_keras, to_keras
    from twinnet.ir.structure import structural_diff

    x = ir.Input(**image("NHWC", channels=4, h=None))
    model = ir.Model([x], L.Slice("C", 1, 3)(x)).randomize(0)
    assert "None" not in emit(model, "keras").split("Cropping2D")[-1]
    back = from_keras(to_keras(model))
    assert [n.layer.kind for n in back.layers] == ["Slice"]
    assert structural_diff(model, back, weights=True) == []


ERRORS = [
    (lambda: L.Slice("C", -1), "ConfigError", "Slice: start must be >= 0"),
    (lambda: L.Slice("C", 3, 3), "ConfigError", "Slice: stop must be >= 4"),
    (lambda: L.Slice("Q", 0, 1), "ConfigError", "Slice: axis must be a layout letter"),
    (lambda: L.Slice("N", 0, 1)(ir.Input(**image())), "LayoutError", "cannot slice the batch axis"),
    (lambda: L.Slice("C", 1, 9)(ir.Input(**image())), "ShapeError", "range [1, 9) does not fit axis 'C' of size 3"),
    (lambda: L.Slice("T", 1, 2)(ir.Input(**sequence(steps=None))), "ShapeError", "size of axis 'T' to be known"),
    (lambda: L.Slice("T", 1, 2)(ir.Input(**image())), "LayoutError", "axis 'T' is not in layout 'NHWC'"),
]


@pytest.mark.parametrize("make, kind, text", ERRORS, ids=[e[2] for e in ERRORS])
def test_slice_errors(make, kind, text):
    with pytest.raises(ir.IRError) as info:
        make()
    assert type(info.value).__name__ == kind and text in str(info.value)
