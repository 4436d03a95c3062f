"""Element-wise ATen ops and values read in forward -> the op tier (``aten_elementwise.py``, ``aten_values.py``).

Each module is imported through ``torch.export`` on batch-2 examples with
seeded random weights and statistics, compared with the source at batch 2
and 3 (``to_torch``), and verified Keras vs torch vs ONNX (``verify``).
"""

import torch
import torch.nn.functional as F
from torch import nn
from torch_import_check import check, float_input, randomize


def kinds(model) -> set:
    return {type(node.layer).__name__ for node in model.layers}


def ops_of(model, kind) -> list:
    return [node.layer for node in model.layers if type(node.layer).__name__ == kind]


class Reads(nn.Module):
    """Weights read in forward that torch broadcasts against the batch: (C,), (T, C), a slice dropping the 1."""

    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(torch.ones(4))
        self.pair = nn.Parameter(torch.zeros(3, 4))
        self.tok = nn.Parameter(torch.zeros(1, 1, 4))
        self.register_buffer("shift", torch.arange(4.0).reshape(4, 1, 1))

    def forward(self, x, img):  # (N, 3, 4), (N, 4, 2, 2)
        return x * self.scale, x + self.pair, self.tok.expand(x.shape[0], 3, -1) + x, x + self.tok[0], img - self.shift


def test_values_read_in_forward_broadcast_as_learned_ops():
    net = randomize(Reads())
    model = check(net, lambda b, s: (float_input(b, 3, 4, seed=s), float_input(b, 4, 2, 2, seed=s + 1)))
    assert model.capture.method == "torch.export"
    learned = ops_of(model, "Learned")
    # self.tok[0] (1, 4) and self.shift (4, 1, 1) lose the size-1 axes the data holds (unit_learned: the IR
    # broadcasts by letter), so they are (4,) like self.scale
    assert {tuple(op.shape) for op in learned} == {(4,), (3, 4)}
    assert {op.layout for op in learned if op.shape == (4,)} >= {"NC"}


class Arithmetic(nn.Module):
    """Broadcasting of two activations, division and powers of tensors, unary math, clamps."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x):  # (N, 3, 4)
        y = self.fc(x)
        m = x.mean(1, keepdim=True)  # (N, 1, 4): broadcasts over T
        a = (x - m) / (y.abs() + 1.0)
        b = torch.rsqrt(y * y + 1) * torch.exp(-x.abs()) + torch.log(x.abs() + 1)
        c = torch.erf(x) + torch.sigmoid(y) * torch.tanh(x) - torch.sqrt(x.abs())
        d = torch.maximum(x, y) - torch.minimum(x, m) + torch.clamp(x, -0.5, 0.5) + x.clamp(min=0.1)
        e = x.pow(3) + 2.0**x + 1.0 / (x.abs() + 1) + torch.reciprocal(y.abs() + 1) + torch.floor(x) + torch.ceil(y)
        return a + b, c, d, e, F.gelu(x * m, approximate="tanh"), F.hardswish(x * m), F.silu(x * m)


def test_arithmetic_and_unary_math():
    model = check(randomize(Arithmetic()), lambda b, s: (float_input(b, 3, 4, seed=s),))
    assert {"Binary", "Unary", "Clip"} <= kinds(model)


class Logic(nn.Module):
    """Comparisons, logic, where / masked_fill and casts through integer tensors."""

    def forward(self, x, y):  # (N, 5)
        big = x > 0.2
        both = big & (y <= 0)
        either = torch.logical_or(big, ~(y != x))
        count = big.long() * 3 + both.to(torch.int64) - either.int()  # int arithmetic
        w = torch.where(both, x, y) + torch.where(either, x, 0.0) + x.masked_fill(big, -1.0)
        return w * count.float(), (count >= 1).float() + torch.eq(count, 2).float()


def test_comparisons_logic_where_and_casts():
    model = check(Logic(), lambda b, s: (float_input(b, 5, seed=s), float_input(b, 5, seed=s + 3)))
    assert {"Where", "Cast"} <= kinds(model)
    assert {op.fn for op in ops_of(model, "Binary")} >= {"gt", "le", "and", "or", "ne", "ge", "eq"}


class RoundedDivision(nn.Module):
    """Floor and truncating division of floats and integers, by tensors and by numbers, either side."""

    def forward(self, x, y, i):  # (N, 3, 4) floats, (N, 3, 4) floats away from 0, (N, 3, 4) integers
        j = i * 3 - 20
        return (
            torch.div(x, y, rounding_mode="floor"),
            torch.div(x, y, rounding_mode="trunc"),
            torch.floor_divide(x, 0.3),
            torch.div(2.0, y, rounding_mode="trunc"),
            j // 4,
            torch.div(j, -3, rounding_mode="trunc"),
            torch.div(j, i + 1, rounding_mode="trunc"),
            torch.floor_divide(j, -(i + 1)),
            torch.trunc(x * 3),
        )


def test_floor_and_trunc_division():
    def inputs(b, s):
        g = torch.Generator().manual_seed(s)
        y = (torch.rand(b, 3, 4, generator=g) + 0.5) * torch.where(torch.rand(b, 3, 4, generator=g) < 0.5, -1, 1)
        return float_input(b, 3, 4, seed=s), y, torch.randint(0, 13, (b, 3, 4), generator=g)

    model = check(RoundedDivision(), inputs)
    assert {"floordiv", "div"} <= {op.fn for op in ops_of(model, "Binary")} and ops_of(model, "Unary")


class WindowActivations(nn.Module):
    """Tokens regrouped with the batch (MobileViT's patches: ``(B * 4, T, C)``), then activation functions."""

    def forward(self, x):  # (N, 4, 2, 2)
        b = x.shape[0]
        h = x.permute(0, 2, 3, 1).reshape(b * 4, 1, 4)
        return F.silu(h) + F.gelu(h) - torch.sigmoid(h)


def test_an_activation_of_a_regrouped_batch_is_an_activation():
    """One tensor meets no other value: the Activation layer (as nn.SiLU reads), not the op tier's x * sigmoid."""
    model = check(WindowActivations(), lambda b, s: (float_input(b, 4, 2, 2, seed=s),))
    assert model.capture.method == "torch.export"
    assert sorted(layer.activation for layer in ops_of(model, "Activation")) == ["gelu", "sigmoid", "silu"]
    assert "Unary" not in kinds(model)
