"""Learned tensors read directly (class token, position embedding, layer scale) and position ids."""

import pytest
from layer_check import check_layer, image, sequence, tokens

from twinnet.ir import ops as O

CASES = {
    "class-token": (O.Learned((1, 4), "NTC"), sequence("NTC"), (None, 1, 4)),
    "position-table": (O.Learned((6, 4), "NTC", init="embedding_uniform"), sequence("TNC"), (None, 6, 4)),
    "layer-scale": (O.Learned((4,), "NC", init="ones"), sequence("NTC"), (None, 4)),
    "free-letters": (O.Learned((3, 2, 5)), image("NCHW"), (None, 3, 2, 5)),
    "int-ref": (O.Learned((2, 3), "NAC"), tokens(), (None, 2, 3)),
}


@pytest.mark.parametrize("name", list(CASES))
def test_learned(name, tmp_path):
    op, inputs, shape = CASES[name]
    check_layer(op, inputs, expect_shape=shape, tmp_path=tmp_path)


@pytest.mark.parametrize(
    "op, inputs",
    [
        (O.Positions("T"), sequence("NTC", steps=None)),
        (O.Positions("T", letter="S", dtype="int32"), sequence("TNC")),
        (O.Positions("W", dtype="float32"), image("NCHW")),
        (O.Positions("T"), tokens(steps=None)),
    ],
    ids=["symbolic", "time-major", "width-float", "tokens"],
)
def test_positions(op, inputs):
    check_layer(op, inputs)
