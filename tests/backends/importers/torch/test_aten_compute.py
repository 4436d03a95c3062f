"""Reductions, products, functional norms, attention and positions from ATen -> the op tier
(``aten_compute.py``), and functional calls with weights read in forward -> their IR layers.

Each module is imported through ``torch.export`` on batch-2 examples with
seeded random weights, compared with the source at batch 2 and 3
(``to_torch``), and verified Keras vs torch vs ONNX (``verify``).
"""

import torch
import torch.nn.functional as F
from torch import nn
from torch_import_check import check, float_input, randomize


def kinds(model) -> set:
    return {type(node.layer).__name__ for node in model.layers}


class Reductions(nn.Module):
    def forward(self, x):  # (N, 3, 4, 5)
        return (
            x.sum((1, 3)),
            x.mean(-1, keepdim=True) - x.amin(2, keepdim=True),
            x.var(1, unbiased=True),
            x.std((2, 3), correction=0, keepdim=True),
            torch.log_softmax(x, 2) + torch.softmax(x, 1),
        )


def test_reductions_and_softmax_over_any_axes():
    model = check(Reductions(), lambda b, s: (float_input(b, 3, 4, 5, seed=s),))
    assert "Reduce" in kinds(model)  # softmax stays the Activation layer


class Norms(nn.Module):
    """Functional norms with weights read in forward (layers) and computed ones (ops)."""

    def __init__(self):
        super().__init__()
        self.w, self.b = nn.Parameter(torch.randn(6)), nn.Parameter(torch.randn(6))
        self.g = nn.Parameter(torch.randn(6))
        self.lin = nn.Parameter(torch.randn(5, 6))
        self.bias = nn.Parameter(torch.randn(5))
        for name in ("mean", "var", "bw", "bb"):
            self.register_buffer(name, torch.rand(4) + 0.5)

    def forward(self, x, img):  # (N, 3, 6), (N, 4, 2, 2)
        a = F.layer_norm(x, (6,), self.w, self.b, 1e-5)
        b = F.layer_norm(x, (3, 6), eps=1e-6)  # no weights: Normalize over two axes
        c = F.rms_norm(x, (6,), self.g * 2, 1e-6)  # a computed weight: Normalize then Binary
        d = F.linear(x, self.lin, self.bias)
        e = F.batch_norm(img, self.mean, self.var, self.bw, self.bb, False, 0.1, 1e-3)
        return a, b, c, d, e, F.layer_norm(x, (6,), self.w * 0.5, None)


def test_functional_norms_and_linear():
    model = check(randomize(Norms()), lambda b, s: (float_input(b, 3, 6, seed=s), float_input(b, 4, 2, 2, seed=s)))
    assert {"LayerNorm", "Normalize", "Dense", "BatchNorm"} <= kinds(model)


class Attention(nn.Module):
    """``F.scaled_dot_product_attention`` with a causal flag and with an additive mask read in forward."""

    def __init__(self):
        super().__init__()
        self.qkv = nn.Linear(8, 24)
        self.register_buffer("mask", torch.randn(5, 5))

    def forward(self, x):  # (N, 5, 8)
        b, t, _ = x.shape
        q, k, v = self.qkv(x).view(b, t, 3, 2, 4).permute(2, 0, 3, 1, 4)
        causal = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        masked = F.scaled_dot_product_attention(q, k, v, attn_mask=self.mask, scale=0.3)
        default = F.scaled_dot_product_attention(q, k, v, scale=0.5)  # 1 / sqrt(4), the default, written out
        return causal.transpose(1, 2).reshape(b, t, 8), masked, default


def test_scaled_dot_product_attention():
    model = check(randomize(Attention()), lambda b, s: (float_input(b, 5, 8, seed=s),))
    scales = [n.layer.scale for n in model.layers if type(n.layer).__name__ == "ScaledDotProductAttention"]
    assert sorted(scales, key=str) == sorted([None, 0.3, None], key=str)  # the default scale reads as None


class Positions(nn.Module):
    """Position ids from ``arange`` over the input's length."""

    def forward(self, x):  # (N, T, 4)
        ids = torch.arange(x.shape[1])
        return x * (ids.float()[None, :, None] + 1) + torch.arange(4.0)


def test_arange_over_a_length():
    model = check(Positions(), lambda b, s: (float_input(b, 6, 4, seed=s),))
    assert "Positions" in kinds(model)


class FixedPositions(nn.Module):
    """Position ids over a length the module also fixes (a reshape to it): export records ``arange(6)``."""

    def forward(self, x):  # (N, 6, 4)
        ids = torch.arange(x.shape[1])
        return x.reshape(x.shape[0], 6, 2, 2).sum(-1) * (ids.float()[None, :, None] + 1)


class SquarePositions(nn.Module):
    """``arange(4)`` beside an input of two axes of 4: not the positions along either."""

    def forward(self, x):  # (N, 4, 4)
        return x.reshape(x.shape[0], 4, 4) * torch.arange(4).float()


def test_arange_over_a_fixed_length():
    """``arange(n)`` with ``n`` the fixed size of the one sequence axis of the inputs is the positions along it
    (what ``to_torch`` writes as ``torch.arange(x.shape[1])`` reads back so); where two axes have that size it
    stays a value."""
    model = check(FixedPositions(), lambda b, s: (float_input(b, 6, 4, seed=s),))
    assert "Positions" in kinds(model) and model.inputs[0].shape[1] == 6
    model = check(SquarePositions(), lambda b, s: (float_input(b, 4, 4, seed=s),))
    assert "Positions" not in kinds(model)


class Norms2(nn.Module):
    """``F.normalize`` (a vector norm, ``clamp_min``, ``expand_as``, ``div``) and vector norms of several orders."""

    def forward(self, x):  # (N, 3, 4, 5)
        return (
            F.normalize(x, dim=-1),
            F.normalize(x, p=1.0, dim=1),
            torch.linalg.vector_norm(x, dim=(1, 2), keepdim=True),
            torch.linalg.vector_norm(x, ord=3, dim=-1),
            torch.linalg.vector_norm(x, ord=float("inf"), dim=(2, 3)),
            torch.linalg.vector_norm(x, ord=float("-inf"), dim=2, keepdim=True),
        )


def test_vector_norms_and_normalize():
    model = check(Norms2(), lambda b, s: (float_input(b, 3, 4, 5, seed=s),))
    assert "Reduce" in kinds(model)


class CosineAttention(nn.Module):
    """SwinV2's attention in small: cosine scores (``F.normalize``), a clamped learned logit scale, and a
    position bias from an MLP over a stored coordinate table (a module call computed without the inputs,
    run once at import) indexed by a stored index."""

    def __init__(self, heads: int = 2, window: int = 3):
        super().__init__()
        self.cpb_mlp = nn.Sequential(nn.Linear(2, 16), nn.ReLU(inplace=True), nn.Linear(16, heads, bias=False))
        span = torch.arange(-(window - 1), window, dtype=torch.float32)
        table = torch.stack(torch.meshgrid(span, span, indexing="ij")).permute(1, 2, 0).unsqueeze(0)
        self.register_buffer("coords", torch.sign(table) * torch.log2(table.abs() + 1.0) / 3.0)
        self.register_buffer("index", torch.randint(0, (2 * window - 1) ** 2, (window**4,)))
        self.logit_scale = nn.Parameter(torch.log(10 * torch.rand(heads, 1, 1) + 1))
        self.heads, self.t = heads, window * window

    def forward(self, x):  # (N, heads, window², 4)
        bias = self.cpb_mlp(self.coords).view(-1, self.heads)[self.index].view(self.t, self.t, -1)
        bias = 16 * torch.sigmoid(bias.permute(2, 0, 1).contiguous())
        scores = F.normalize(x, dim=-1) @ F.normalize(x, dim=-1).transpose(-2, -1)
        scale = torch.clamp(self.logit_scale, max=torch.log(torch.tensor(1.0 / 0.01))).exp()
        return torch.softmax(scores * scale + bias.unsqueeze(0), -1) @ x


def test_swin_v2_cosine_attention_with_a_position_mlp():
    model = check(randomize(CosineAttention()), lambda b, s: (float_input(b, 2, 9, 4, seed=s),))
    assert model.capture.method == "torch.export"


class KeysReshaped(nn.Module):
    """Tokens regrouped with the batch (MobileViT's patches); q a permute of the heads; k and v reshaped again
    to their own shape after it (how ``to_torch`` writes a relabelling View): the reshapes letter k and v
    afresh, apart from q's heads and length."""

    def forward(self, x):  # (N, 8, 2, 3)
        h = x.reshape(x.shape[0] * 2, 4, 2, 3)
        b = h.shape[0]
        q = h.permute(0, 2, 1, 3)
        k = (h * 2).permute(0, 2, 1, 3).reshape(b, 2, 4, 3)
        v = (h + 1).permute(0, 2, 1, 3).reshape(b, 2, 4, 3)
        return F.scaled_dot_product_attention(q, k, v).reshape(x.shape[0], 2, 2, 4, 3)


def test_attention_of_keys_lettered_apart_from_the_query():
    model = check(KeysReshaped(), lambda b, s: (float_input(b, 8, 2, 3, seed=s),))
    assert model.capture.method == "torch.export" and "ScaledDotProductAttention" in kinds(model)
