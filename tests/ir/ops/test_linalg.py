"""MatMul of any rank: letters of the result, broadcasting of size-1 leading axes."""

import pytest
from layer_check import check_layer

from twinnet.ir import ops as O

CASES = {
    "rank3": ([{"shape": (5, 4), "layout": "NTC"}, {"shape": (4, 3), "layout": "NCA"}], (None, 5, 3)),
    "heads": ([{"shape": (2, 5, 4), "layout": "NATC"}, {"shape": (2, 4, 5), "layout": "NACT"}], (None, 2, 5, 5)),
    "broadcast": ([{"shape": (2, 5, 4), "layout": "NATC"}, {"shape": (1, 4, 3), "layout": "NACB"}], (None, 2, 5, 3)),
    "rank6": (
        [{"shape": (2, 1, 3, 5, 4), "layout": "NABETC"}, {"shape": (1, 2, 3, 4, 2), "layout": "NABECF"}],
        (None, 2, 2, 3, 5, 2),
    ),
    "symbolic": ([{"shape": (None, 4), "layout": "NTC"}, {"shape": (4, 6), "layout": "NCA"}], (None, None, 6)),
}


@pytest.mark.parametrize("name", list(CASES))
def test_matmul(name):
    inputs, shape = CASES[name]
    check_layer(O.MatMul(), inputs, expect_shape=shape)


def test_matmul_layout():
    check_layer(O.MatMul(layout="NTE"), [{"shape": (5, 4), "layout": "NTC"}, {"shape": (4, 3), "layout": "NCA"}])
