"""Reproducers of the full zoo's misses (``benchmarks/zoo.py``) that are listed known gaps, small enough for CI.

Each case is what makes a zoo model miss, cut down to a few lines: when it
starts converting, the strict expected failure fails until the gap's entry
(and its ``ZOO_GAPS`` line in ``benchmarks/zoo_models.py``) is removed.
"""

import torch
from gaps import known_gap
from torch import nn
from torch_import_check import check, float_input


class EinsumAttention(nn.Module):
    """Attention scores and weighted values by ``torch.einsum``, as torchvision's MaxViT writes them."""

    def forward(self, q, k, v):  # (N, heads, tokens, dim)
        scores = torch.einsum("bhid,bhjd->bhij", q, k).softmax(-1)
        return torch.einsum("bhij,bhjd->bhid", scores, v)


@known_gap("torch-import-aten-einsum")
def test_einsum_attention_of_maxvit():
    check(EinsumAttention(), lambda batch, seed: tuple(float_input(batch, 2, 5, 4, seed=seed + i) for i in range(3)))
