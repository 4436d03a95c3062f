"""Reductions over named axes and softmax / log-softmax, in layouts each backend holds differently."""

import pytest
from layer_check import check_layer, image, sequence

from twinnet.ir import ops as O

SEQ = sequence("NTC")


@pytest.mark.parametrize("fn", sorted(O.REDUCTIONS))
@pytest.mark.parametrize("axes", ["T", "C", "TC"])
def test_reduce_sequence(fn, axes):
    check_layer(O.Reduce(fn, axes), SEQ)


@pytest.mark.parametrize("layout", ["NHWC", "NCHW"])
@pytest.mark.parametrize(
    "op",
    [O.Reduce("mean", "HW"), O.Reduce("max", "C", keepdims=True), O.Reduce("var", "HW", keepdims=True)],
    ids=["mean-hw", "max-c-keep", "var-hw-keep"],
)
def test_reduce_image(op, layout):
    check_layer(op, image(layout))


def test_reduce_var_correction():
    check_layer(O.Reduce("var", "T", correction=1), SEQ)


def test_reduce_time_major_and_symbolic():
    check_layer(O.Reduce("sum", "C"), sequence("TNC", steps=None))


@pytest.mark.parametrize("fn", ["sum", "max"])
def test_reduce_int(fn):
    check_layer(O.Reduce(fn, "T"), {"shape": (6, 4), "layout": "NTC", "dtype": "int32"})


@pytest.mark.parametrize("log", [False, True], ids=["softmax", "log"])
@pytest.mark.parametrize("axis, inputs", [("C", SEQ), ("T", SEQ), ("W", image("NCHW")), ("C", image("NHWC"))])
def test_softmax(axis, inputs, log):
    check_layer(O.Softmax(axis, log=log), inputs)
