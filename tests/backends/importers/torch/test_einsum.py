"""``torch.einsum`` lowered onto products and reshapes (``einsum.py``).

Each module is imported through ``torch.export`` on batch-2 examples with
seeded random weights, compared with the source at batch 2 and 3
(``to_torch``), and verified Keras vs torch vs ONNX (``verify``).
"""

import pytest
import torch
from torch import nn
from torch_import_check import check, float_input, problems, randomize


class Products(nn.Module):
    """Batched products with transposes, weights read in forward, sums, broadcast and several operands."""

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.randn(5, 6))
        self.u = nn.Parameter(torch.randn(3, 5, 2))

    def forward(self, q, k):  # (N, 2, 3, 4, 5), (N, 2, 3, 7, 5)
        scores = torch.einsum("B G H I D, B G H J D -> B G H I J", q, k)  # MaxViT's spelling, with spaces
        back = torch.einsum("bghij,bghjd->bghid", scores.softmax(-1), k)
        return (
            scores,
            back,
            torch.einsum("bghid,de->bgie", q, self.w),  # a weight, a letter summed (h)
            torch.einsum("...d,hdc->...hc", q, self.u),  # an ellipsis, the weight's letters spread
            torch.einsum("bghid->bdig", q),  # one operand: a permute and a sum
            torch.einsum("bghid,bghjd,de->bhije", q, k, self.w),  # three operands, left to right
            torch.einsum("bghid,bghid->bgh", q, q),  # two letters contracted at once
        )


def test_einsum_products():
    model = check(
        randomize(Products()), lambda b, s: (float_input(b, 2, 3, 4, 5, seed=s), float_input(b, 2, 3, 7, 5, seed=s + 7))
    )
    assert "MatMul" in {type(node.layer).__name__ for node in model.layers}
    assert model.capture.method == "torch.export"


class EinsumAttention(nn.Module):
    """Attention scores and weighted values by ``torch.einsum``, as torchvision's MaxViT writes them."""

    def forward(self, q, k, v):  # (N, heads, tokens, dim)
        scores = torch.einsum("bhid,bhjd->bhij", q, k).softmax(-1)
        return torch.einsum("bhij,bhjd->bhid", scores, v)


def test_einsum_attention_of_maxvit():
    check(EinsumAttention(), lambda batch, seed: tuple(float_input(batch, 2, 5, 4, seed=seed + i) for i in range(3)))


class RowsFromWeight(nn.Module):
    """The batched operand on the right (moved left), and a product whose rows are the batch axis alone."""

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.randn(6, 4))

    def forward(self, x):  # (N, 4)
        return torch.einsum("ji,bi->bj", self.w, x), torch.einsum("bi,ij->bj", x, self.w.t())


def test_einsum_batch_on_either_side():
    check(RowsFromWeight(), lambda b, s: (float_input(b, 4, seed=s),))


class Diagonal(nn.Module):
    def forward(self, x):  # (N, 4, 4)
        return torch.einsum("bii->bi", x)


def test_einsum_diagonal_refused_with_its_equation():
    err, _ = problems(Diagonal(), torch.randn(2, 4, 4))
    assert "'bii->bi'" in str(err) and "repeats a letter" in str(err)


@pytest.mark.parametrize("equation", ["bij,bjk->bik", "bij,bkj->bik"])
def test_einsum_matches_matmul(equation):
    class Product(nn.Module):
        def forward(self, a, b):
            return torch.einsum(equation, a, b)

    check(Product(), lambda b, s: (float_input(b, 3, 4, seed=s), float_input(b, 4, 4, seed=s + 1)))
