"""Element-wise ops: every unary and binary function, broadcasting by letter, scalars, where, clip, cast."""

import pytest
from layer_check import check_layer, image, sequence

from twinnet.ir import ops as O

SEQ = sequence("NTC")
INT = {"shape": (6, 4), "layout": "NTC", "dtype": "int32"}
BOOL = {"shape": (6, 4), "layout": "NTC", "dtype": "bool"}
POSITIVE = ("sqrt", "rsqrt", "log")


@pytest.mark.parametrize("fn", sorted(f for f in O.UNARY if f != "not"))
def test_unary_float(fn):
    check_layer(O.Unary(fn), SEQ, positive=fn in POSITIVE)


@pytest.mark.parametrize("fn", ["abs", "neg", "square", "sign", "relu"])
def test_unary_int(fn):
    check_layer(O.Unary(fn), {**INT, "dtype": "int64"} if fn == "neg" else INT)


def test_unary_not():
    check_layer(O.Unary("not"), BOOL)


@pytest.mark.parametrize("fn", ["add", "sub", "mul", "div", "floordiv", "max", "min", "gt", "le"])
def test_binary_broadcast(fn):
    # (N, T, C) with (N, C): the missing T is a size-1 axis, by letter
    check_layer(O.Binary(fn), [SEQ, {"shape": (4,), "layout": "NC"}])


@pytest.mark.parametrize("layouts", [("NHWC", "NHWC"), ("NCHW", "NHWC")], ids=["same", "mixed"])
def test_binary_images(layouts):
    check_layer(O.Binary("mul"), [image(layouts[0]), image(layouts[1])])


def test_binary_size_one():
    check_layer(O.Binary("sub"), [SEQ, sequence("NTC", steps=1)])


def test_binary_pow():
    check_layer(O.Binary("pow"), [SEQ, SEQ], positive=True)


@pytest.mark.parametrize("fn", ["eq", "ne", "lt", "ge", "add", "max"])
def test_binary_int(fn):
    check_layer(O.Binary(fn), [INT, INT])


@pytest.mark.parametrize("fn", ["and", "or", "xor"])
def test_binary_logic(fn):
    check_layer(O.Binary(fn), [BOOL, BOOL])


@pytest.mark.parametrize(
    "op",
    [
        O.Binary("mul", scalar=0.5),
        O.Binary("sub", scalar=1.0, scalar_first=True),
        O.Binary("div", scalar=1.0, scalar_first=True),
        O.Binary("pow", scalar=2.0),
        O.Binary("max", scalar=0.25),
        O.Binary("min", scalar=-0.25),
        O.Binary("gt", scalar=0.0),
        O.Binary("floordiv", scalar=0.3),
        O.Binary("floordiv", scalar=2.0, scalar_first=True),
    ],
    ids=["mul", "rsub", "rdiv", "pow", "max", "min", "gt", "floordiv", "rfloordiv"],
)
def test_binary_scalar(op):
    check_layer(op, SEQ)


def test_binary_int_scalar():
    check_layer(O.Binary("add", scalar=3), INT)


@pytest.mark.parametrize("divisor", [3, -4])
def test_binary_int_floordiv(divisor):
    check_layer(O.Binary("floordiv", scalar=divisor), INT)


@pytest.mark.parametrize(
    "op, inputs",
    [
        (O.Where(), [BOOL, SEQ, SEQ]),
        (O.Where(), [{"shape": (6,), "layout": "NT", "dtype": "bool"}, SEQ, SEQ]),
        (O.Where(y=-1e9), [BOOL, SEQ]),
        (O.Where(x=0.0), [BOOL, SEQ]),
        (O.Where(x=1.0, y=0.0), BOOL),
    ],
    ids=["tensors", "mask-broadcast", "masked-fill", "zero-where", "numbers"],
)
def test_where(op, inputs):
    check_layer(op, inputs)


@pytest.mark.parametrize("op", [O.Clip(-0.5, 0.5), O.Clip(low=0.0), O.Clip(high=0.3)], ids=["both", "low", "high"])
def test_clip(op):
    check_layer(op, SEQ)


def test_clip_int():
    check_layer(O.Clip(2, 6), INT)


@pytest.mark.parametrize(
    "dtype, inputs",
    [("int32", SEQ), ("int64", SEQ), ("float32", INT), ("bool", SEQ), ("float32", BOOL), ("int32", BOOL)],
)
def test_cast(dtype, inputs):
    check_layer(O.Cast(dtype), inputs)
