"""Ops that move entries: Transpose, View, Concat, Narrow."""

import pytest
from layer_check import check_layer, image, sequence

from twinnet import ir
from twinnet.ir import ops as O

SEQ = sequence("NTC")


@pytest.mark.parametrize(
    "op, inputs",
    [(O.Transpose("NCT"), SEQ), (O.Transpose("TNC"), SEQ), (O.Transpose("NWHC"), image("NCHW"))],
    ids=["nct", "tnc", "nwhc"],
)
def test_transpose(op, inputs):
    check_layer(op, inputs)


@pytest.mark.parametrize(
    "op, inputs, shape",
    [
        (O.View((6, 2, 2), "NTAC"), SEQ, (None, 6, 2, 2)),
        (O.View((24,)), SEQ, (None, 24)),
        (O.View((-1, 2, 2), "NTAC"), sequence("NTC", steps=None), (None, None, 2, 2)),
        (O.View((30, 9)), image("NCHW"), (None, 30, 9)),
        (O.View((2, 1, 3, 1, 2, 2, 1), "NABEFGIJ"), SEQ, (None, 2, 1, 3, 1, 2, 2, 1)),
        (O.View((1, 2, 4), "NHWC", merge=3), SEQ, (None, 1, 2, 4)),
        (O.View((-1, 4), "NTC", merge=2), SEQ, (None, 3, 4)),
        (O.View((5, 27), "NTC", merge=2), image("NCHW"), (None, 5, 27)),
    ],
    ids=["split-heads", "flat", "symbolic", "image", "rank8", "merge", "merge-infer", "merge-image"],
)
def test_view(op, inputs, shape):
    check_layer(op, inputs, expect_shape=shape)


def _windows(xs):
    """A window partition ``(N, 6, 4) -> (N * 3, 2, 2, 2)``, for the split that undoes it."""
    return O.View((2, 2, 2), "NHWC", merge=3)(xs[0])


@pytest.mark.parametrize(
    "op, shape",
    [(O.View((3, 2, 2, 2), "NAHWC", split=3), (None, 3, 2, 2, 2)), (O.View((6, 4), "NTC", split=3), (None, 6, 4))],
    ids=["windows", "back"],
)
def test_view_split(op, shape):
    # a split needs a batch that is a multiple of its factor: it checks behind the merge that made one
    check_layer(op, SEQ, arrange=_windows, expect_shape=shape)


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: O.View((2, 2), merge=2, split=2), "cannot both differ"),
        (lambda: O.View((2, 2), merge=0), "merge must be >= 1"),
        (lambda: O.View((5, 4), "NTC", merge=2)(ir.Input((6, 4))), "per result sample"),
        (lambda: O.View((7,), merge=5)(ir.Input((6, 4))), "cannot merge 24 entries"),
        (lambda: O.View((-1, 4), "NTC", merge=2)(ir.Input((None, 4))), "needs every size known"),
    ],
    ids=["both", "zero", "sizes", "indivisible", "symbolic"],
)
def test_view_across_batch_refused(make, message):
    with pytest.raises(ir.IRError, match=message):
        make()


@pytest.mark.parametrize(
    "op, inputs",
    [
        (O.Concat("T"), [SEQ, sequence("NTC", steps=3)]),
        (O.Concat("C"), [image("NHWC"), image("NCHW", channels=2)]),
        (O.Concat("W"), [image("NCHW")] * 3),
        (O.Concat("T"), [{"shape": (6, 4), "layout": "NTC", "dtype": "int64"}] * 2),
    ],
    ids=["time", "channels-mixed", "width", "int"],
)
def test_concat(op, inputs):
    check_layer(op, inputs)


@pytest.mark.parametrize(
    "op, inputs",
    [
        (O.Narrow("T", 1, 4), SEQ),
        (O.Narrow("C", 0, 3, step=2), SEQ),
        (O.Narrow("H", 2, step=3), image("NCHW")),
        (O.Narrow("C", 1), image("NHWC")),
    ],
    ids=["time", "step", "height", "channels"],
)
def test_narrow(op, inputs):
    check_layer(op, inputs)


def test_unit_axes_beside_a_symbolic_length_read_back_as_views():
    """An unsqueeze and a squeeze beside a symbolic length (Llama's rotary tables): keras.ops.reshape takes one
    -1 (the batch's), so to_keras writes keras.ops.expand_dims and squeeze, which from_keras reads back as the
    Views they are (not as Reshape layers); both compute what the model does."""
    from twinnet.backends import emit, from_keras, to_keras
    from twinnet.exporters.verify import verify

    x = ir.Input((None, 8), layout="NTC", name="x")
    wide = O.View((1, -1, 8), layout="NATC")(x)
    y = O.View((-1, 8), layout="NTC")(O.Unary("cos")(wide))
    m = ir.Model(x, y, name="unit_axes")
    source = emit(m, "keras")
    assert "keras.ops.expand_dims(x, 1)" in source and "keras.ops.squeeze(" in source
    assert [n.layer.kind for n in from_keras(to_keras(m)).layers] == ["View", "Unary", "View"]
    report = verify(m)
    assert report.ok, "\n" + report.table()
