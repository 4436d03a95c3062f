"""PyTorch -> IR import of hand-written multi-head attention: timm's ViT ``Attention`` and nanoGPT's
``CausalSelfAttention``, each with the fused ``F.scaled_dot_product_attention`` and written out by hand.

Each module is written as its users write it, inside a pre-norm transformer
block, with randomised weights. The import must be one IR
``MultiHeadAttention`` per attention module; ``to_torch`` and ``to_keras``
of it must equal the source at batch 2 and 3 (float32 tolerances), and
``verify`` must pass on the Keras, torch and ONNX paths. What is not exactly
multi-head attention (another scale, a q/k norm, a non-causal mask) is
refused naming the module.
"""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch_import_check import ATOL, RTOL, check, float_input, problems, randomize

from twinnet.backends import from_torch, to_keras


class VitAttention(nn.Module):
    """timm's ``Attention`` (no q/k norm): packed qkv, heads from reshape + permute + unbind."""

    def __init__(self, dim, num_heads=2, qkv_bias=False, fused=True, scale=None, scale_first=True):
        super().__init__()
        self.scale_first = scale_first
        self.num_heads, self.head_dim = num_heads, dim // num_heads
        self.scale = self.head_dim**-0.5 if scale is None else scale
        self.fused = fused
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        self.attn_drop = nn.Dropout(0.1)
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(0.1)

    def forward(self, x):
        B, N, C = x.shape
        qkv = self.qkv(x).reshape(B, N, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)
        if self.fused:
            x = F.scaled_dot_product_attention(q, k, v, dropout_p=self.attn_drop.p if self.training else 0.0)
        else:
            if self.scale_first:
                q = q * self.scale
                attn = q @ k.transpose(-2, -1)
            else:  # the number on the left, after the product
                attn = self.scale * (q @ k.transpose(-2, -1))
            attn = attn.softmax(dim=-1)
            attn = self.attn_drop(attn)
            x = attn @ v
        x = x.transpose(1, 2).reshape(B, N, C)
        return self.proj_drop(self.proj(x))


class CausalSelfAttention(nn.Module):
    """nanoGPT's ``CausalSelfAttention``: c_attn split into q, k, v; a causal ``bias`` buffer when not fused."""

    def __init__(self, n_embd, n_head=2, block_size=16, flash=True, bias=True):
        super().__init__()
        self.c_attn = nn.Linear(n_embd, 3 * n_embd, bias=bias)
        self.c_proj = nn.Linear(n_embd, n_embd, bias=bias)
        self.attn_dropout, self.resid_dropout = nn.Dropout(0.1), nn.Dropout(0.1)
        self.n_head, self.n_embd, self.dropout = n_head, n_embd, 0.1
        self.flash = flash
        if not flash:
            self.register_buffer(
                "bias", torch.tril(torch.ones(block_size, block_size)).view(1, 1, block_size, block_size)
            )

    def forward(self, x):
        B, T, C = x.size()
        q, k, v = self.c_attn(x).split(self.n_embd, dim=2)
        k = k.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        q = q.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        v = v.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        if self.flash:
            y = F.scaled_dot_product_attention(
                q, k, v, attn_mask=None, dropout_p=self.dropout if self.training else 0, is_causal=True
            )
        else:
            att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(k.size(-1)))
            att = att.masked_fill(self.bias[:, :, :T, :T] == 0, float("-inf"))
            att = F.softmax(att, dim=-1)
            att = self.attn_dropout(att)
            y = att @ v
        y = y.transpose(1, 2).contiguous().view(B, T, C)
        return self.resid_dropout(self.c_proj(y))


class SeparateProjections(nn.Module):
    """Hugging Face style: q, k, v Linears (with bias; the output one without), scores / sqrt(d), flatten(2)."""

    def __init__(self, dim, heads=2):
        super().__init__()
        self.heads, self.head_dim = heads, dim // heads
        self.q_proj, self.k_proj, self.v_proj = nn.Linear(dim, dim), nn.Linear(dim, dim), nn.Linear(dim, dim)
        self.out_proj = nn.Linear(dim, dim, bias=False)

    def forward(self, x):
        b, t, _ = x.shape
        q, k, v = (
            p(x).view(b, t, self.heads, self.head_dim).transpose(1, 2) for p in (self.q_proj, self.k_proj, self.v_proj)
        )
        scores = torch.matmul(q, k.transpose(2, 3)) / math.sqrt(self.head_dim)
        weights = F.dropout(torch.softmax(scores, dim=-1), p=0.1, training=self.training)
        return self.out_proj(torch.matmul(weights, v).transpose(1, 2).flatten(2))


class Block(nn.Module):
    """A pre-norm transformer block around any of the attention modules above."""

    def __init__(self, attn, dim):
        super().__init__()
        self.norm1, self.attn = nn.LayerNorm(dim), attn
        self.norm2, self.mlp = (
            nn.LayerNorm(dim),
            nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim)),
        )

    def forward(self, x):
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class Stack(nn.Module):
    def __init__(self, make, dim=8, depth=2):
        super().__init__()
        self.blocks = nn.Sequential(*(Block(make(dim), dim) for _ in range(depth)))

    def forward(self, x):
        return self.blocks(x)


VARIANTS = {
    "vit_fused": lambda d: VitAttention(d, 2, qkv_bias=True, fused=True),
    "vit_manual": lambda d: VitAttention(d, 4, qkv_bias=False, fused=False),
    "vit_scaled_scores": lambda d: VitAttention(d, 2, qkv_bias=True, fused=False, scale_first=False),
    "gpt_fused": lambda d: CausalSelfAttention(d, 2, flash=True),
    "gpt_manual": lambda d: CausalSelfAttention(d, 4, flash=False, bias=False),
    "separate": SeparateProjections,
}


def make(batch, seed):
    return (float_input(batch, 6, 8, seed=seed),)


@pytest.mark.parametrize("name", list(VARIANTS))
def test_hand_attention_is_multi_head_attention(name):
    net = randomize(Stack(VARIANTS[name]), seed=len(name))
    model = check(net, make)  # to_torch equals the source at batch 2 and 3; verify on keras/torch/onnx
    attn = [n.layer for n in model.layers if type(n.layer).__name__ == "MultiHeadAttention"]
    assert len(attn) == 2 and all(a.use_causal_mask == name.startswith("gpt") for a in attn), attn
    assert model.inputs[0].shape == (None, None, 8)  # the sequence length stays symbolic
    km = to_keras(model)
    for batch in (2, 3):
        x = make(batch, batch + 10)[0]
        with torch.no_grad():
            want = net(x).numpy()
        np.testing.assert_allclose(np.asarray(km(x.numpy())), want, atol=ATOL, rtol=RTOL)


@pytest.mark.parametrize("length", [3, 11])
def test_other_lengths(length):
    """One import serves every length: the causal mask follows it (up to nanoGPT's block_size)."""
    net = randomize(Stack(VARIANTS["gpt_manual"]), seed=3)
    model = from_torch(net, make(2, 0))
    from twinnet.backends import to_torch

    tm = to_torch(model)
    x = float_input(2, length, 8, seed=length)
    with torch.no_grad():
        torch.testing.assert_close(tm(x), net(x), atol=ATOL, rtol=RTOL)


class QKNorm(VitAttention):
    """timm's ``qk_norm=True``: a LayerNorm on q and k per head, which MultiHeadAttention has no place for."""

    def __init__(self, dim):
        super().__init__(dim, 2, fused=False)
        self.q_norm, self.k_norm = nn.LayerNorm(self.head_dim), nn.LayerNorm(self.head_dim)

    def forward(self, x):
        B, N, C = x.shape
        q, k, v = self.qkv(x).reshape(B, N, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4).unbind(0)
        q, k = self.q_norm(q), self.k_norm(k)
        x = (q * self.scale) @ k.transpose(-2, -1)
        x = x.softmax(dim=-1) @ v
        return self.proj(x.transpose(1, 2).reshape(B, N, C))


class Anticausal(CausalSelfAttention):
    """The mask kept where the causal one blocks: not causal attention."""

    def __init__(self, dim):
        super().__init__(dim, 2, flash=False)
        self.register_buffer("bias", torch.triu(torch.ones(16, 16)).view(1, 1, 16, 16))


class AlwaysDropout(SeparateProjections):
    """Dropout on the weights even at inference (``training=True``): not what MultiHeadAttention computes."""

    def forward(self, x):
        b, t, _ = x.shape
        q, k, v = (
            p(x).view(b, t, self.heads, self.head_dim).transpose(1, 2) for p in (self.q_proj, self.k_proj, self.v_proj)
        )
        weights = F.dropout(torch.softmax(q @ k.transpose(2, 3) / math.sqrt(self.head_dim), dim=-1), 0.1, True)
        return self.out_proj((weights @ v).transpose(1, 2).flatten(2))


NOT_MHA = {
    "other_scale": lambda d: VitAttention(d, 2, fused=False, scale=0.25),
    "qk_norm": QKNorm,
}


@pytest.mark.parametrize("name", list(NOT_MHA))
def test_not_multi_head_attention_is_read_op_by_op(name):
    """A module that computes something MultiHeadAttention cannot hold is traced through: its products,
    softmax and masks become ops (or layers) and the whole equals the source."""
    net = randomize(Stack(NOT_MHA[name], depth=1), seed=1)
    model = check(net, make, paths=("keras", "torch"))
    assert "MultiHeadAttention" not in {type(n.layer).__name__ for n in model.layers}


def test_dropout_in_training_is_refused():
    net = randomize(Stack(AlwaysDropout, depth=1), seed=1)
    err, found = problems(net, *make(2, 0))
    assert any("training=True" in p.reason for p in found.values()), str(err)


def test_anticausal_mask_buffer_is_refused():
    """A mask compared in forward from a (1, 1, L, L) buffer: the importer reads the leading 1 as the batch
    (a LearnedConstant), so the comparison's batchless result is refused rather than converted wrongly."""
    err, found = problems(randomize(Stack(Anticausal, depth=1), seed=1), *make(2, 0))
    assert found, str(err)


@pytest.mark.parametrize("name", ["vit_manual", "gpt_fused"])
def test_attention_module_alone(name):
    """The module imported is itself the attention: one MultiHeadAttention on the input."""
    net = randomize(VARIANTS[name](8), seed=2)
    model = check(net, make, paths=("keras", "torch"))
    assert [type(n.layer).__name__ for n in model.layers if not n.is_input] == ["MultiHeadAttention"]
