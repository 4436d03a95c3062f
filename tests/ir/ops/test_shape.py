"""Ops that move entries: Transpose, View, Concat, Narrow."""

import pytest
from layer_check import check_layer, image, sequence

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
    ],
    ids=["split-heads", "flat", "symbolic", "image", "rank8"],
)
def test_view(op, inputs, shape):
    check_layer(op, inputs, expect_shape=shape)


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
