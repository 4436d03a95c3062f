"""from_onnx refuses, with the reason, what the IR's newer layers cannot say exactly.

Each case is one hand-built op whose attributes fall outside an IR layer (a Clip to
other bounds, a Resize that does not repeat or interpolate with half-pixel centres,
a Pad that is not zeros on spatial axes, a strided Slice, a grouped ConvTranspose,
3-D pooling): the UnsupportedError must name why.
"""

from __future__ import annotations

import numpy as np
import pytest
from onnx_check import make, rand
from onnx_check import node as n

from twinnet import ir
from twinnet.backends.importers.onnx.importer import from_onnx

IMG = {"x": ["N", 3, 9, 10]}
VEC = {"x": ["N", 6]}


REFUSED = {
    "resize_cubic": (
        make([n("Resize", ["x", "", "sc"], mode="cubic")], IMG, {"sc": np.array([1, 1, 2, 2], np.float32)}, opset=13),
        "mode='cubic'",
    ),
    "resize_nearest_rounds_up": (
        make(
            [
                n(
                    "Resize",
                    ["x", "", "sc"],
                    mode="nearest",
                    nearest_mode="round_prefer_floor",
                    coordinate_transformation_mode="asymmetric",
                )
            ],
            IMG,
            {"sc": np.array([1, 1, 2, 2], np.float32)},
            opset=13,
        ),
        "does not repeat",
    ),
    "resize_fractional": (
        make(
            [n("Resize", ["x", "", "sc"], mode="nearest")], IMG, {"sc": np.array([1, 1, 1.5, 2], np.float32)}, opset=13
        ),
        "whole factors",
    ),
    "resize_linear_opset10": (
        make([n("Resize", ["x", "sc"], mode="linear")], IMG, {"sc": np.array([1, 1, 2, 2], np.float32)}, opset=10),
        "'asymmetric'",
    ),
    "resize_linear_1d": (
        make(
            [n("Resize", ["x", "", "sc"], mode="linear")],
            {"x": ["N", 3, 11]},
            {"sc": np.array([1, 1, 2], np.float32)},
            opset=13,
        ),
        "'bilinear' .* \\(2-D\\)",
    ),
    "pad_reflect": (
        make([n("Pad", ["x", "p"], mode="reflect")], IMG, {"p": np.array([0, 0, 1, 1, 0, 0, 1, 1], np.int64)}),
        "mode='reflect'",
    ),
    "split_unknown_size": (
        make(
            [n("Split", ["x"], ["a", "b"], axis=1, num_outputs=2), n("Concat", ["b", "a"], axis=1)],
            {"x": ["N", "T", 4]},
            opset=18,
        ),
        "no layer for ONNX's Split",
    ),
    "conv_transpose_grouped": (
        make([n("ConvTranspose", ["x", "w"], group=3)], IMG, {"w": rand(3, 1, 3, 3)}),
        "group=3",
    ),
    "maxpool_3d": (make([n("MaxPool", ["x"], kernel_shape=[2, 2, 2])], {"x": ["N", 2, 4, 5, 6]}), "3-D pooling"),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_refused_with_the_reason(case):
    proto, reason = REFUSED[case]
    with pytest.raises(ir.UnsupportedError, match=reason):
        from_onnx(proto)
