"""torch lowerings of the shape ops (``backends/torch/ops_shape.py``): a Transpose op is written where a later op
needs positions, except one that moves only size-1 axes, which is written as the ``permute`` it is (a view) where
the model has it, so that from_torch reads the Transpose back. A MobileViT block (timm's unfold of a map into
patches regrouped with the batch, attention over them, the fold back) imported from torch comes back from the
module to_torch writes structurally equal, at a map of two patches a side and of one (where the unfold's
transposes move only size-1 axes), and computes what the source does."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from twinnet.backends import from_torch, to_torch
from twinnet.ir.structure import structural_diff


class Attention(nn.Module):
    """timm's fused attention: qkv split by a reshape, permuted, unbound."""

    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, dim * 3)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        b, n, c = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)
        return self.proj(F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(b, n, c))


class MobileViTBlock(nn.Module):
    """timm's MobileVitBlock, small: patches of 2 x 2, the tokens of each patch position a sequence."""

    def __init__(self, channels: int = 4, dim: int = 16, heads: int = 4, patch: int = 2):
        super().__init__()
        self.patch = patch
        self.conv = nn.Conv2d(channels, dim, 1)
        self.norm = nn.LayerNorm(dim)
        self.attn = Attention(dim, heads)
        self.mlp = nn.Sequential(nn.Linear(dim, 2 * dim), nn.SiLU(), nn.Linear(2 * dim, dim))
        self.project = nn.Conv2d(dim, channels, 1)

    def forward(self, x):
        x = self.conv(x)
        b, c, h, w = x.shape
        p, nh, nw = self.patch, h // self.patch, w // self.patch
        x = x.reshape(b * c * nh, p, nw, p).transpose(1, 2)
        x = x.reshape(b, c, nh * nw, p * p).transpose(1, 3).reshape(b * p * p, nh * nw, -1)
        x = x + self.attn(self.norm(x))
        x = x + self.mlp(x)
        x = x.contiguous().view(b, p * p, nh * nw, -1).transpose(1, 3).reshape(b * c * nh, nw, p, p)
        return self.project(x.transpose(1, 2).reshape(b, c, nh * p, nw * p))


@pytest.mark.parametrize("side", [4, 2])
def test_mobilevit_block_round_trips_through_torch(side):
    torch.manual_seed(0)
    net = MobileViTBlock().eval()
    x = torch.randn(2, 4, side, side)
    model = from_torch(net, (x,))
    assert model.capture.method == "torch.export"
    compiled = to_torch(model)
    with torch.no_grad():
        for batch in (2, 3):
            xb = torch.randn(batch, 4, side, side)
            torch.testing.assert_close(compiled(xb), net(xb), atol=1e-5, rtol=1e-4)
    back = from_torch(compiled, (x,), fixed_lengths=True)
    assert structural_diff(model, back, weights=True) == []
    if side == 2:  # one patch a side: the unfold's and fold's transposes move only size-1 axes between reshapes,
        # which the import drops (unit_move_reshape: the same entries in the same order)
        assert "Transpose" not in {n.layer.kind for n in model.layers} and "unit_move_reshape" in model.rewrites
