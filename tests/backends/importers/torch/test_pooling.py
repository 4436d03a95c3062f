"""PyTorch -> IR pooling that needs more than one IR argument: ``ceil_mode=True`` and adaptive pooling to any size.

Each case imports a randomised module, checks the compiled torch module
against it at batch 2 and 3, and runs ``verify`` over Keras, torch and both
ONNX paths (float32 tolerances).
"""

import pytest
import torch.nn.functional as F
from torch import nn
from torch_import_check import check, float_input, problems, randomize


class ConvThen(nn.Module):
    """A convolution (random weights and bias) before the pool, so the pool sees channels in a real layout."""

    def __init__(self, pool, channels=3):
        super().__init__()
        self.conv, self.pool = nn.Conv2d(channels, 4, 3, padding=1), pool

    def forward(self, x):
        return self.pool(self.conv(x))


class Functional(nn.Module):
    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, x):
        return self.fn(x)


def images(h, w, c=3):
    return lambda batch, seed: (float_input(batch, c, h, w, seed=seed),)


CEIL = {
    # (module, input height, width): torch adds a partial window at the end of some axes
    "max_k3_s2_squeezenet": (nn.MaxPool2d(3, 2, ceil_mode=True), 10, 13),
    "max_k2_s2_googlenet": (nn.MaxPool2d(2, 2, ceil_mode=True), 7, 9),
    "max_k3_s2_pad1": (nn.MaxPool2d(3, 2, padding=1, ceil_mode=True), 8, 9),
    "max_exact_no_extra": (nn.MaxPool2d(2, 2, ceil_mode=True), 8, 8),
    "avg_k3_s2": (nn.AvgPool2d(3, 2, ceil_mode=True), 10, 13),
    "avg_pad1_real_count": (nn.AvgPool2d(3, 2, padding=1, ceil_mode=True, count_include_pad=False), 10, 9),
    "avg_pad1_counted_no_extra": (nn.AvgPool2d(3, 2, padding=1, ceil_mode=True), 9, 9),
}


@pytest.mark.parametrize("case", list(CEIL))
def test_ceil_mode_pooling(case):
    pool, h, w = CEIL[case]
    check(randomize(ConvThen(pool)), images(h, w))


def test_ceil_mode_1d():
    net = randomize(nn.Sequential(nn.Conv1d(2, 3, 3, padding=1), nn.MaxPool1d(2, ceil_mode=True)))
    check(net, lambda batch, seed: (float_input(batch, 2, 9, seed=seed),))


def test_ceil_mode_counting_some_pads_is_refused():
    # torch divides that partial window by a count that includes the symmetric pads but not the extra one
    _, found = problems(nn.Sequential(nn.AvgPool2d(3, 2, padding=1, ceil_mode=True)), float_input(2, 3, 10, 10))
    assert list(found) == ["0"] and "count_include_pad=True" in found["0"].reason, found


ADAPTIVE = {
    # (module, input height, width)
    "avg_7_from_14_one_pool": (nn.AdaptiveAvgPool2d((7, 7)), 14, 14),
    "avg_7_from_7_identity": (nn.AdaptiveAvgPool2d(7), 7, 7),
    "avg_7_from_1_repeats": (nn.AdaptiveAvgPool2d((7, 7)), 1, 1),
    "avg_7_from_10_overlapping_bins": (nn.AdaptiveAvgPool2d((7, 7)), 10, 10),
    "avg_3_from_5x14_mixed": (nn.AdaptiveAvgPool2d((3, 7)), 5, 14),
    "avg_none_keeps_axis": (nn.AdaptiveAvgPool2d((None, 3)), 6, 9),
    "max_3x4_from_10x9": (nn.AdaptiveMaxPool2d((3, 4)), 10, 9),
    "max_6_from_4_repeats_and_overlaps": (nn.AdaptiveMaxPool2d(6), 4, 5),
}


@pytest.mark.parametrize("case", list(ADAPTIVE))
def test_adaptive_pooling(case):
    pool, h, w = ADAPTIVE[case]
    check(randomize(ConvThen(pool)), images(h, w))


def test_adaptive_pooling_1d():
    net = randomize(nn.Sequential(nn.Conv1d(2, 3, 3, padding=1), nn.AdaptiveAvgPool1d(4)))
    check(net, lambda batch, seed: (float_input(batch, 2, 10, seed=seed),))


def test_functional_adaptive_pooling():
    net = randomize(ConvThen(Functional(lambda x: F.adaptive_max_pool2d(F.adaptive_avg_pool2d(x, (5, 3)), 2))))
    check(net, images(9, 11))


def test_vgg_head_at_a_small_input():
    # torchvision's VGG: 512 -> 7x7 -> flatten -> linear, here fed a 2x2 map (a 64-pixel image)
    net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.AdaptiveAvgPool2d((7, 7)), nn.Flatten(), nn.Linear(8 * 49, 5))
    check(randomize(net), images(2, 2))


class NegInfPadded(nn.Module):
    """How to_torch writes a max pool with uneven pads: ConstantPad2d(-inf), then the pool."""

    def __init__(self, pads=(0, 1, 1, 0)):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.pad, self.pool = nn.ConstantPad2d(pads, float("-inf")), nn.MaxPool2d(3, 2)

    def forward(self, x):
        return self.pool(self.pad(self.conv(x)))


def test_neg_inf_pad_before_a_max_pool_is_its_pads():
    model = check(randomize(NegInfPadded()), images(9, 8))
    pool = [n.layer for n in model.layers if n.layer.kind == "MaxPool2D"]
    assert [p.padding for p in pool] == [((1, 0), (0, 1))]  # (top, bottom), (left, right)


class NegInfPaddedConv(nn.Module):
    def __init__(self):
        super().__init__()
        self.pad, self.conv = nn.ConstantPad2d(1, float("-inf")), nn.Conv2d(3, 4, 3)

    def forward(self, x):
        return self.conv(self.pad(x))


def test_neg_inf_pad_read_by_anything_but_a_max_pool_is_refused():
    error, _ = problems(NegInfPaddedConv(), float_input(2, 3, 9, 8))
    assert "a -inf pad is read only by a max pooling" in str(error)
