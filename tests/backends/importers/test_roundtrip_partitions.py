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


@pytest.fixture(scope="module")
def maxvit():
    torch.manual_seed(0)
    return from_torch(TinyMaxViT().eval(), (torch.randn(2, 3, 8, 8),))


def test_swapaxes_reads_as_a_permute(maxvit):
    """torch.swapaxes is transpose by another name: the Permute layer both read as (the grid of two partitions a
    side keeps both of its swaps; the grid of one keeps the swap back, merged with nothing)."""
    kinds = [n.layer.kind for n in maxvit.layers if "swap" in n.name]
    assert kinds == ["Permute"] * 3


@pytest.mark.parametrize("direction", ["torch"])
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
