"""Errors the ops raise: bad arguments when built, inputs that do not fit when called, files that name an
unknown argument; each names the op (``<Kind> 'n': ...``)."""

import pytest

from twinnet import ir
from twinnet.ir import ops as O

SEQ = dict(shape=(6, 4), layout="NTC")


def seq(**changes):
    return ir.Input(**{**SEQ, **changes})


CONSTRUCTION = [
    (lambda: O.Unary("cube", name="n"), "Unary 'n': fn must be one of"),
    (lambda: O.Binary("add", scalar_first=True, name="n"), "Binary 'n': scalar_first=True needs a scalar"),
    (lambda: O.Reduce("mean", "N", name="n"), "Reduce 'n': axes cannot be the batch axis N"),
    (lambda: O.Reduce("mean", "TT", name="n"), "Reduce 'n': axes repeats an axis letter: 'TT'"),
    (lambda: O.Reduce("sum", "T", correction=1, name="n"), "Reduce 'n': correction applies to var only"),
    (lambda: O.Softmax("t", name="n"), "Softmax 'n': axis must be one axis letter (a capital A-Z), got 't'"),
    (lambda: O.Clip(name="n"), "Clip 'n': needs low, high or both"),
    (lambda: O.Clip(2.0, 1.0, name="n"), "Clip 'n': low must be <= high"),
    (lambda: O.Cast("float16", name="n"), "Cast 'n': dtype must be one of float32, int32, int64, bool"),
    (lambda: O.View((2, -1, -1), name="n"), "View 'n': shape may have one -1"),
    (lambda: O.View((4,), "CN", name="n"), "View 'n': layout must put N first"),
    (lambda: O.Learned((2, 3), "NCCC", name="n"), "Learned 'n': layout 'NCCC' repeats an axis letter"),
    (
        lambda: O.Pad("T", (1, 2), name="n"),
        "Pad 'n': pads must hold one (before, after) pair per axis of 'T', got (1, 2)",
    ),
    (lambda: O.Take("T", (), name="n"), "Take 'n': indices must be a non-empty tuple of ints"),
]


@pytest.mark.parametrize("make, message", CONSTRUCTION)
def test_bad_arguments(make, message):
    with pytest.raises(ir.IRError) as info:  # ConfigError, or LayoutError for a bad layout
        make()
    assert str(info.value).startswith(message), str(info.value)


CALLS = [
    (lambda: O.Unary("sqrt", name="n")(seq(dtype="int32")), "Unary 'n': inputs must be float32, got int32"),
    (lambda: O.Binary("add", name="n")([seq(), seq(dtype="int32")]), "Binary 'n': inputs must share one dtype"),
    (
        lambda: O.Binary("add", name="n")([seq(), ir.Input((6, 4), layout="NAC")]),
        "Binary 'n': inputs' axes must nest: 'NAC' has 'A', which 'NTC' lacks",
    ),
    (
        lambda: O.Binary("add", name="n")([seq(), seq(shape=(5, 4))]),
        "Binary 'n': sizes of axis 'T' differ and neither is 1",
    ),
    (lambda: O.Binary("add", scalar=0.5, name="n")(seq(dtype="int32")), "Binary 'n': scalar must be a whole number"),
    (lambda: O.Where(name="n")([seq(), seq(), seq()]), "Where 'n': the condition must be bool, got float32"),
    (lambda: O.Reduce("mean", "H", name="n")(seq()), "Reduce 'n': axis 'H' is not in the input's layout 'NTC'"),
    (
        lambda: O.MatMul(name="n")([seq(), ir.Input((5, 3), layout="NCA")]),
        "MatMul 'n': contracted sizes differ: 'C' of 4 vs 'C' of 5",
    ),
    (lambda: O.View((5,), name="n")(seq()), "View 'n': cannot view (None, 6, 4) (24 entries) as (5,)"),
    (lambda: O.Transpose("NTA", name="n")(seq()), "Transpose 'n': layout 'NTA' is not a permutation of 'NTC'"),
    (lambda: O.Narrow("T", 4, 9, name="n")(seq()), "Narrow 'n': range [4, 9) does not fit axis 'T' of size 6"),
    (lambda: O.Expand("T", (3,), name="n")(seq()), "Expand 'n': can only expand axes of size 1"),
    (lambda: O.Roll("T", 1, name="n")(seq(shape=(None, 4))), "Roll 'n': needs the size of axis 'T' to be known"),
    (
        lambda: O.ScaledDotProductAttention(name="n")([seq()] * 3),
        "ScaledDotProductAttention 'n': q, k, v must each have 4 axes",
    ),
]


@pytest.mark.parametrize("make, message", CALLS)
def test_inputs_that_do_not_fit(make, message):
    with pytest.raises(ir.IRError) as info:
        make()
    assert str(info.value).startswith(message), str(info.value)


def test_a_file_with_an_unknown_op_argument_names_it():
    x = ir.Input(**SEQ, name="x")
    text = ir.to_json(ir.Model(x, O.Softmax("C", name="s")(x))).replace('"log"', '"logg"')
    with pytest.raises(ir.SchemaError, match="unknown argument"):
        ir.from_json(text)
