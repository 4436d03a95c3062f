"""from_onnx of the spatial ops, one op (or pattern) at a time: convolutions, pools, pads, crops, resizes.

Each case is imported, compiled to torch and compared with onnxruntime on the
original graph at two batch sizes; test_ops.py checks that these cases,
the other families' and the op tier's exercise every entry of ONNX_TABLE.
"""

from __future__ import annotations

import numpy as np
import pytest
from onnx_check import assert_matches_onnxruntime, make, rand
from onnx_check import node as n

from twinnet.backends.importers.onnx.importer import from_onnx

IMG = {"x": ["N", 3, 9, 10]}
SEQ = {"x": ["N", "T", 4]}
W3 = rand(4, 3, 3, 3)
INT64_MAX = np.iinfo(np.int64).max


def repeat_indices(sizes, factors):
    """GatherND indices that repeat each position of ``sizes`` ``factors`` times (torch's nearest upsampling)."""
    ranges = [np.arange(n * f) // f for n, f in zip(sizes, factors)]
    return np.stack(np.meshgrid(*ranges, indexing="ij"), -1).astype(np.int64)


CASES = {
    "conv2d_pad_fold": make(
        [n("Pad", ["x", "p"], ["xp"]), n("Conv", ["xp", "w", "b"], strides=[2, 1])],
        IMG,
        {"p": np.array([0, 0, 1, 0, 0, 0, 2, 1], np.int64), "w": W3, "b": rand(4)},
    ),
    "conv1d_same_upper": make(
        [n("Conv", ["x", "w"], auto_pad="SAME_UPPER", strides=[2], dilations=[1], group=3)],
        {"x": ["N", 3, 11]},
        {"w": rand(6, 1, 3)},
    ),
    "maxpool_same_pads": make([n("MaxPool", ["x"], kernel_shape=[3, 3], pads=[1, 1, 1, 1])], IMG),
    "avgpool_valid_ceil": make([n("AveragePool", ["x"], kernel_shape=[3, 2], strides=[3, 2], ceil_mode=1)], IMG),
    "avgpool_same": make([n("AveragePool", ["x"], kernel_shape=[2, 2], strides=[2, 2], auto_pad="SAME_UPPER")], IMG),
    "pools_1d": make(
        [
            n("MaxPool", ["x"], ["m"], kernel_shape=[2], strides=[2]),
            n("AveragePool", ["m"], ["a"], kernel_shape=[3], strides=[1], auto_pad="SAME_UPPER"),
            n("GlobalAveragePool", ["a"]),
        ],
        {"x": ["N", 3, 11]},
    ),
    "maxpool_torch_pads": make([n("MaxPool", ["x"], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])], IMG),
    "maxpool_asym_pads": make([n("MaxPool", ["x"], kernel_shape=[3, 2], strides=[2, 1], pads=[2, 1, 0, 1])], IMG),
    "avgpool_pads_counted": make(
        [n("AveragePool", ["x"], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1], count_include_pad=1)], IMG
    ),
    "avgpool_pads_not_counted": make(
        [n("AveragePool", ["x"], kernel_shape=[3, 3], strides=[2, 1], pads=[2, 0, 0, 1])], IMG
    ),
    "avgpool_same_upper_counted": make(
        [n("AveragePool", ["x"], kernel_shape=[2, 3], strides=[2, 2], auto_pad="SAME_UPPER", count_include_pad=1)], IMG
    ),
    "avgpool_1d_pads": make([n("AveragePool", ["x"], kernel_shape=[3], strides=[2], pads=[1, 2])], {"x": ["N", 3, 11]}),
    "maxpool_pad_fold_minus_inf": make(
        [n("Pad", ["x", "p", "v"], ["xp"]), n("MaxPool", ["xp"], kernel_shape=[3, 3])],
        IMG,
        {"p": np.array([0, 0, 1, 0, 0, 0, 0, 2], np.int64), "v": np.float32(-np.inf)},
    ),
    "avgpool_pad_fold_counted": make(
        [n("Pad", ["x", "p"], ["xp"]), n("AveragePool", ["xp"], kernel_shape=[2, 2], strides=[1, 1])],
        IMG,
        {"p": np.array([0, 0, 1, 1, 0, 0, 0, 0], np.int64)},
    ),
    "conv3d": make(
        [n("Conv", ["x", "w", "b"], pads=[1, 0, 1, 1, 2, 1], strides=[1, 2, 1])],
        {"x": ["N", 2, 4, 5, 6]},
        {"w": rand(3, 2, 3, 3, 3), "b": rand(3, seed=1)},
    ),
    "conv_transpose_same_dilated": make(
        [n("ConvTranspose", ["x", "w", "b"], strides=[2, 1], dilations=[1, 2], pads=[0, 2, 1, 2])],
        IMG,
        {"w": rand(3, 4, 3, 3), "b": rand(4, seed=1)},
    ),
    "conv_transpose_1d_output_padding": make(
        [n("ConvTranspose", ["x", "w"], strides=[3], output_padding=[2])], {"x": ["N", 3, 11]}, {"w": rand(3, 2, 4)}
    ),
    "conv_transpose_then_slices": make(
        [
            n("ConvTranspose", ["x", "w"], ["c"], strides=[2, 2]),
            n("Slice", ["c", "s0", "e0", "a0"], ["h"]),
            n("Slice", ["h", "s0", "e1", "a1"]),
        ],
        IMG,
        {
            "w": rand(3, 2, 3, 3),
            "s0": np.array([0], np.int64),
            "e0": np.array([-1], np.int64),
            "e1": np.array([-1], np.int64),
            "a0": np.array([2], np.int64),
            "a1": np.array([3], np.int64),
        },
    ),
    "conv_transpose_torch_window": make(
        [n("ConvTranspose", ["x", "w", "b"], strides=[2, 2], pads=[1, 1, 1, 1], output_padding=[1, 1])],
        IMG,
        {"w": rand(3, 2, 3, 3), "b": rand(2, seed=1)},
    ),
    "upsample_gather_nd": make(
        [
            n("Transpose", ["x"], ["t"], perm=[2, 3, 0, 1]),
            n("GatherND", ["t", "i"], ["g"]),
            n("Transpose", ["g"], perm=[2, 3, 0, 1]),
        ],
        IMG,
        {"i": repeat_indices((9, 10), (2, 3))},
    ),
    "pad_zero_2d": make(
        [n("Pad", ["x", "p", "v"])], IMG, {"p": np.array([0, 0, 1, 0, 0, 0, 2, 3], np.int64), "v": np.float32(0)}
    ),
    "pad_1d_axes": make(
        [n("Pad", ["x", "p", "", "a"])],
        SEQ,  # NTC: pads T
        {"p": np.array([1, 2], np.int64), "a": np.array([1], np.int64)},
        opset=18,
    ),
    "slice_crop_2d": make(
        [n("Slice", ["x", "s", "e", "a"])],
        IMG,
        {"s": np.array([1, 2], np.int64), "e": np.array([-2, 8], np.int64), "a": np.array([2, -1], np.int64)},
    ),
    "slice_crop_1d_to_end": make(
        [n("Slice", ["x", "s", "e", "a", "st"])],
        {"x": ["N", 11, 3]},  # NTC: crops T
        {
            "s": np.array([2], np.int64),
            "e": np.array([INT64_MAX], np.int64),
            "a": np.array([1], np.int64),
            "st": np.array([1], np.int64),
        },
    ),
    "resize_nearest_asymmetric": make(
        [
            n(
                "Resize",
                ["x", "", "sc"],
                mode="nearest",
                nearest_mode="floor",
                coordinate_transformation_mode="asymmetric",
            )
        ],
        IMG,
        {"sc": np.array([1, 1, 2, 3], np.float32)},
        opset=13,
    ),
    "resize_nearest_half_pixel_1d": make(
        [n("Resize", ["x", "", "sc"], mode="nearest")],
        {"x": ["N", 3, 11]},
        {"sc": np.array([1, 1, 3], np.float32)},
        opset=13,
    ),
    "resize_bilinear_sizes": make(
        [n("Resize", ["x", "", "", "sz"], mode="linear", axes=[2, 3])],
        IMG,
        {"sz": np.array([18, 30], np.int64)},
        opset=18,
    ),
    "upsample_opset9": make(
        [n("Upsample", ["x", "sc"], mode="nearest")], IMG, {"sc": np.array([1, 1, 3, 2], np.float32)}, opset=9
    ),
    "resize_opset10": make(
        [n("Resize", ["x", "sc"], mode="nearest")], IMG, {"sc": np.array([1, 1, 2, 2], np.float32)}, opset=10
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_op_matches_onnxruntime(case):
    proto = CASES[case]
    assert_matches_onnxruntime(proto, from_onnx(proto))
