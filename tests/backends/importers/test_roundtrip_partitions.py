"""Round trips of MaxViT's window and grid partitions (torchvision's ``WindowPartition``, ``WindowDepartition``
and ``SwapAxes``, small) are structurally exact, the grid of one partition included: there the partition's
``swapaxes`` moves only a size-1 axis, which the rewrites merge into the reshape before it.

What this guards: ``from_torch`` reads ``torch.swapaxes`` as the ``Permute`` layer it reads ``transpose`` as
(then merged into the reshape before it where it moves a size-1 axis, ``unit_permute``); ``rename_letters``
renames a component through a ``LayerNorm`` over the axes it names (the features named ``W`` after the swap,
``C`` where ``from_torch`` reads the one reshape ``to_torch`` writes); ``free_letters`` names the rank-6
departition after that by its input's letters then free ones, as both importers name a rank-6 reshape.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from siblings import benchmark
from torch import nn

from twinnet.backends import from_torch, to_torch
from twinnet.ir import layers as L
from twinnet.ir.structure import structural_diff

rt = benchmark("roundtrip")


class SwapAxes(nn.Module):
    def forward(self, x):
        return torch.swapaxes(x, -2, -3)


class PartitionBlock(nn.Module):
    """torchvision's ``PartitionAttentionLayer`` without its attention: partition (windows, or a grid: then
    swapped), a LayerNorm and an MLP with its residual, the swap back and the departition."""

    def __init__(self, dim: int, side: int, size: int, grid: bool):
        super().__init__()
        parts = side // size
        self.p, self.grid = (parts, True) if grid else (size, False)
        self.g = side // self.p
        self.swap = SwapAxes() if grid else nn.Identity()
        self.norm = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim))

    def forward(self, x):
        b, c, h, w = x.shape
        p = self.p
        y = x.reshape(b, c, h // p, p, w // p, p).permute(0, 2, 4, 3, 5, 1).reshape(b, (h // p) * (w // p), p * p, c)
        y = self.swap(y)
        y = y + self.mlp(self.norm(y))
        y = self.swap(y)
        y = y.reshape(b, h // p, w // p, p, p, c).permute(0, 5, 1, 3, 2, 4)
        return y.reshape(b, c, h, w)


class TinyMaxViT(nn.Module):
    """A stem, then window and grid partitions of a 4x4 map (two partitions a side) and of a 2x2 map (one)."""

    def __init__(self, dim: int = 8):
        super().__init__()
        self.stem = nn.Conv2d(3, dim, 2, stride=2)
        self.blocks = nn.Sequential(PartitionBlock(dim, 4, 2, False), PartitionBlock(dim, 4, 2, True))
        self.down = nn.Conv2d(dim, dim, 2, stride=2)
        self.last = nn.Sequential(PartitionBlock(dim, 2, 2, False), PartitionBlock(dim, 2, 2, True))
        self.head = nn.Linear(dim, 4)

    def forward(self, x):
        x = self.last(self.down(self.blocks(self.stem(x))))
        return self.head(x.mean(dim=(2, 3)))


def _relative_index(size: int) -> torch.Tensor:
    coords = torch.stack(torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")).flatten(1)
    rel = (coords[:, :, None] - coords[:, None, :]).permute(1, 2, 0) + (size - 1)
    return rel[..., 0] * (2 * size - 1) + rel[..., 1]


class PartitionAttention(nn.Module):
    """torchvision's ``RelativePositionalMultiHeadAttention``: heads over ``(B, G, P, D)``, the partitions ``G``
    an axis of their own (rank-5 heads), written out in einsums with a relative position bias."""

    def __init__(self, dim: int, head_dim: int, size: int):
        super().__init__()
        self.heads, self.head_dim, self.n = dim // head_dim, head_dim, size * size
        self.to_qkv = nn.Linear(dim, 3 * dim)
        self.merge = nn.Linear(dim, dim)
        self.scale = dim**-0.5
        self.table = nn.Parameter(torch.randn((2 * size - 1) ** 2, self.heads) * 0.02)
        self.register_buffer("index", _relative_index(size))

    def forward(self, x):
        b, g, p, d = x.shape
        q, k, v = (
            t.reshape(b, g, p, self.heads, self.head_dim).permute(0, 1, 3, 2, 4)
            for t in torch.chunk(self.to_qkv(x), 3, dim=-1)
        )
        k = k * self.scale
        scores = torch.einsum("B G H I D, B G H J D -> B G H I J", q, k)
        bias = self.table[self.index.view(-1)].view(self.n, self.n, -1).permute(2, 0, 1).contiguous().unsqueeze(0)
        out = torch.einsum("B G H I J, B G H J D -> B G H I D", F.softmax(scores + bias, dim=-1), v)
        return self.merge(out.permute(0, 1, 3, 2, 4).reshape(b, g, p, d))


class AttentionBlock(PartitionBlock):
    """``PartitionBlock`` with torchvision's pre-normalised attention and its residual before the MLP."""

    def __init__(self, dim: int, side: int, size: int, grid: bool):
        super().__init__(dim, side, size, grid)
        self.attn = nn.Sequential(nn.LayerNorm(dim), PartitionAttention(dim, 4, size))

    def forward(self, x):
        b, c, h, w = x.shape
        p = self.p
        y = x.reshape(b, c, h // p, p, w // p, p).permute(0, 2, 4, 3, 5, 1).reshape(b, (h // p) * (w // p), p * p, c)
        y = self.swap(y)
        y = y + self.attn(y)
        y = y + self.mlp(self.norm(y))
        y = self.swap(y)
        y = y.reshape(b, h // p, w // p, p, p, c).permute(0, 5, 1, 3, 2, 4)
        return y.reshape(b, c, h, w)


class MBConv(nn.Module):
    """torchvision MaxViT's MBConv, small: a BatchNorm first (on the map a departition gives back), convolutions,
    and the residual (an average pool and a 1x1 convolution where it strides)."""

    def __init__(self, dim: int, stride: int):
        super().__init__()
        self.layers = nn.Sequential(
            nn.BatchNorm2d(dim),
            nn.Conv2d(dim, 2 * dim, 1),
            nn.GELU(),
            nn.Conv2d(2 * dim, 2 * dim, 3, stride=stride, padding=1, groups=2 * dim),
            nn.Conv2d(2 * dim, dim, 1),
        )
        self.proj = nn.Sequential(nn.AvgPool2d(3, stride, 1), nn.Conv2d(dim, dim, 1)) if stride > 1 else nn.Identity()

    def forward(self, x):
        return self.proj(x) + self.layers(x)


class TinyMaxViTAttention(nn.Module):
    """MaxViT's stages, small: an MBConv, window and grid attention of a 4x4 map (two partitions a side), a
    strided MBConv after the departition, then window and grid attention of the 2x2 map (one partition)."""

    def __init__(self, dim: int = 8):
        super().__init__()
        self.stem = nn.Conv2d(3, dim, 2, stride=2)
        self.first = nn.Sequential(MBConv(dim, 1), AttentionBlock(dim, 4, 2, False), AttentionBlock(dim, 4, 2, True))
        self.second = nn.Sequential(MBConv(dim, 2), AttentionBlock(dim, 2, 2, False), AttentionBlock(dim, 2, 2, True))
        self.head = nn.Linear(dim, 4)

    def forward(self, x):
        return self.head(self.second(self.first(self.stem(x))).mean(dim=(2, 3)))


@pytest.fixture(scope="module")
def maxvit():
    torch.manual_seed(0)
    return from_torch(TinyMaxViT().eval(), (torch.randn(2, 3, 8, 8),))


def test_swapaxes_reads_as_a_permute(maxvit):
    """torch.swapaxes is transpose by another name: the Permute layer both read as (the grid of two partitions a
    side keeps both of its swaps; the grid of one keeps the swap back, merged with nothing)."""
    kinds = [n.layer.kind for n in maxvit.layers if "swap" in n.name]
    assert kinds == ["Permute"] * 3


@pytest.mark.parametrize("direction", ["torch", "keras"])
def test_round_trip_of_partitions_is_exact(maxvit, direction):
    """The grid of one partition reads back as m holds it, and computes the same."""
    back = rt.THROUGH[direction](maxvit)
    diffs = structural_diff(maxvit, back, weights=True)
    assert not diffs, "\n".join(diffs)
    xs = rt.example(maxvit, 3)
    with torch.no_grad():
        np.testing.assert_allclose(to_torch(back)(*xs).numpy(), to_torch(maxvit)(*xs).numpy(), atol=1e-5, rtol=1e-4)


def test_one_partition_grid_is_a_reshape_and_its_swap_back(maxvit):
    """The grid of one partition: the reshape and its swap are one Reshape (the swap moves a size-1 axis), the
    LayerNorm and the MLP follow in its letters without relabels, the swap back stays a Permute."""
    grid = [n for n in maxvit.layers if n.name.startswith("last_1_")]
    assert not any(isinstance(n.layer, L.Reshape) and n.name.endswith("_relabel") for n in grid)


@pytest.fixture(scope="module")
def maxvit_attention():
    torch.manual_seed(0)
    return from_torch(TinyMaxViTAttention().eval(), (torch.randn(2, 3, 8, 8),))


@pytest.mark.parametrize("direction", ["torch", "keras"])
def test_round_trip_of_partition_attention_is_exact(maxvit_attention, direction):
    """MaxViT's blocks through either framework come back as m: the grid's swap where m has it (to_keras permutes
    a tensor held as declared where the model does), the rank-5 attention named by role (its partitions ``P``
    beside the heads), the departition's map channels first before the MBConv's BatchNorm and convolutions,
    the strided MBConv's pooled residual included."""
    back = rt.THROUGH[direction](maxvit_attention)
    diffs = structural_diff(maxvit_attention, back, weights=True)
    assert not diffs, "\n".join(diffs)
    xs = rt.example(maxvit_attention, 3)
    with torch.no_grad():
        got, want = to_torch(back)(*xs).numpy(), to_torch(maxvit_attention)(*xs).numpy()
    np.testing.assert_allclose(got, want, atol=1e-5, rtol=1e-4)


def test_partition_attention_is_named_by_role(maxvit_attention):
    """The attention's scores and result are named by role, the partitions ``P`` before the heads."""
    products = [n.spec.layout for n in maxvit_attention.layers if n.layer.kind == "MatMul"]
    assert products == ["NPHTS", "NPHTE"] * 4
