"""Expand, Tile, Pad, Roll and Take, on axes each backend holds at different positions."""

import pytest
from layer_check import check_layer, image, sequence

from twinnet.ir import ops as O

SEQ = sequence("NTC")


@pytest.mark.parametrize(
    "op, inputs",
    [(O.Expand("T", (5,)), sequence("NTC", steps=1)), (O.Expand("HW", (3, 4)), image("NCHW", h=1, w=1))],
    ids=["time", "image"],
)
def test_expand(op, inputs):
    check_layer(op, inputs)


@pytest.mark.parametrize(
    "op, inputs", [(O.Tile("T", (3,)), SEQ), (O.Tile("CW", (2, 2)), image("NHWC"))], ids=["time", "image"]
)
def test_tile(op, inputs):
    check_layer(op, inputs)


@pytest.mark.parametrize(
    "op, inputs",
    [
        (O.Pad("T", ((1, 2),)), SEQ),
        (O.Pad("HW", ((1, 0), (2, 3)), value=-1.5), image("NHWC")),
        (O.Pad("C", ((0, 2),)), image("NCHW")),
    ],
    ids=["time", "image-value", "channels"],
)
def test_pad(op, inputs):
    check_layer(op, inputs)


@pytest.mark.parametrize(
    "op, inputs",
    [(O.Roll("T", 2), SEQ), (O.Roll("H", -3), image("NHWC")), (O.Roll("C", 3), image("NCHW"))],
    ids=["time", "height-back", "full-turn"],
)
def test_roll(op, inputs):
    check_layer(op, inputs)


@pytest.mark.parametrize(
    "op, inputs",
    [
        (O.Take("T", (5, 0, 0, 3)), SEQ),
        (O.Take("C", (2, 0), letter="A"), image("NCHW")),
        (O.Take("W", (9, 1, 4)), image("NHWC")),
    ],
    ids=["time-repeats", "channels-new-letter", "width"],
)
def test_take(op, inputs):
    check_layer(op, inputs)


@pytest.mark.parametrize(
    "inputs",
    [
        [sequence("NTC", steps=10), {"shape": (3,), "layout": "NL", "dtype": "int64"}],
        [sequence("TNC", steps=10), {"shape": (None,), "layout": "NS", "dtype": "int32"}],
        [image("NCHW", h=10, w=10), {"shape": (4,), "layout": "NW", "dtype": "int64"}],
        [image("NHWC", channels=12), {"shape": (2,), "layout": "NA", "dtype": "int32"}],
    ],
    ids=["time", "time-major-symbolic", "same-letter", "channels"],
)
def test_gather(inputs):
    axis = {"NL": "T", "NS": "T", "NW": "W", "NA": "C"}[inputs[1]["layout"]]
    check_layer(O.Gather(axis), inputs)
