"""PyTorch -> IR import of the newer IR layers: transposed and 3-D convs, padding, upsampling, capped ReLUs,
GroupNorm, squeeze-excitation broadcasts, MultiheadAttention and the transformer encoder.

Same check as ``test_import_torch.py`` (torch -> IR -> torch equals the
source at batch 2 and 3; ``verify`` on the Keras, torch and ONNX paths), on
randomised modules. Models with a key-padding mask take a bool mask (True =
pad); the converted model takes the IR's mask, float 1 = attend (``(~mask).float()``).
"""

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch_import_check import ATOL, RTOL, check, float_input, randomize

from examples.torch_archs import pad_mask
from twinnet.backends import from_torch, to_torch
from twinnet.exporters import verify


class Decoder(nn.Module):
    """Transposed convs in every padding form, ZeroPad2d / F.pad, Upsample and F.interpolate."""

    def __init__(self):
        super().__init__()
        self.up1 = nn.ConvTranspose2d(3, 4, 4, stride=2, padding=1)  # Keras 'same'
        self.up2 = nn.ConvTranspose2d(4, 3, 3, stride=2, padding=1, output_padding=1)  # 'same' + output_padding
        self.up3 = nn.ConvTranspose2d(3, 2, (3, 2), stride=(1, 2), padding=(2, 0), bias=False)  # Cropping2D
        self.pad = nn.ZeroPad2d((1, 0, 2, 1))
        self.near = nn.Sequential(
            nn.Upsample(scale_factor=2, mode="nearest"),
            nn.ConstantPad2d((0, 1, 1, 0), 0.0),
            nn.UpsamplingNearest2d(scale_factor=(1, 2)),
        )
        self.lin = nn.Upsample(scale_factor=(2, 3), mode="bilinear", align_corners=False)
        self.gn = nn.GroupNorm(2, 4, eps=1e-4)

    def forward(self, x):
        h = self.gn(self.up1(x))
        h = self.up3(self.up2(h))
        h = self.near(self.pad(h))
        a = F.interpolate(F.pad(h, (1, 1)), scale_factor=2, mode="nearest-exact")
        b = self.lin(x)  # on the unit-scale input: bilinear weights of large values cancel near 0
        return a, b, F.interpolate(x, size=(9, 8), mode="bilinear")


class Signal(nn.Module):
    """1-D transposed convs (including one that needs a Cropping), ZeroPad1d, 1-D upsampling, Conv3d."""

    def __init__(self):
        super().__init__()
        self.up = nn.ConvTranspose1d(3, 4, 3, stride=3, padding=1)  # 'valid' + Cropping1D
        self.up2 = nn.ConvTranspose1d(4, 2, 5, stride=2, padding=2, output_padding=1)
        self.pad = nn.Sequential(nn.ZeroPad1d((2, 1)), nn.ConstantPad1d((0, 1), 0))
        self.grow = nn.Upsample(scale_factor=3)

    def forward(self, x):
        return self.grow(self.pad(self.up2(self.up(x))))


class Volume(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv3d(2, 3, (1, 3, 3), stride=(1, 2, 1), padding=(0, 1, 1))
        self.gn = nn.GroupNorm(3, 3, affine=False)

    def forward(self, x):
        return self.gn(self.conv(x))


class SqueezeExcite(nn.Module):
    """ReLU6 / Hardtanh / clamp and two squeeze-excitation gates (keepdim mean and Linear + view)."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.act = nn.ReLU6()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc1, self.fc2 = nn.Conv2d(8, 4, 1), nn.Conv2d(4, 8, 1)
        self.lin1, self.lin2 = nn.Linear(8, 4), nn.Linear(4, 8)
        self.cap = nn.Hardtanh(0.0, 3.0)

    def forward(self, x):
        h = self.act(self.conv(x))
        gate = F.hardsigmoid(self.fc2(F.relu6(self.fc1(self.pool(h)))))
        h = self.cap(h * gate)
        s = h.mean((2, 3), keepdim=True)
        g = torch.sigmoid(self.lin2(torch.clamp(self.lin1(s.flatten(1)), min=0))).view(-1, 8, 1, 1)
        h = h * g
        return (
            torch.clamp(h, 0, 0.5)
            + h.clamp(min=0.0, max=2.0)
            + F.hardtanh(h, 0.0, 1.5)
            + torch.clip(h, 0, 1)
            + h.clip(0, 4)
        )


class Attention(nn.Module):
    """MultiheadAttention: batch-first self-attention with a key-padding mask and a causal buffer."""

    def __init__(self):
        super().__init__()
        self.attn = nn.MultiheadAttention(8, 2, batch_first=True)
        self.attn2 = nn.MultiheadAttention(8, 2, batch_first=True, dropout=0.1)
        self.cross = nn.MultiheadAttention(8, 4, kdim=5, vdim=6, batch_first=True, bias=False)
        self.register_buffer("causal", nn.Transformer.generate_square_subsequent_mask(6))

    def forward(self, x, k, v, pad):
        a, _ = self.attn(x, x, x, key_padding_mask=pad, need_weights=False)
        b = self.attn_causal(x)
        c = self.cross(a, k, v)[0]
        return a + b + c

    def attn_causal(self, x):
        return self.attn2(x, x, x, attn_mask=self.causal, is_causal=True)[0]


class SeqFirstAttention(nn.Module):
    def __init__(self):
        super().__init__()
        self.attn = nn.MultiheadAttention(6, 3)

    def forward(self, x):  # (T, N, E)
        return self.attn(x, x, x)[0]


def _encoder(norm_first, activation, batch_first):
    return nn.TransformerEncoderLayer(
        8, 2, dim_feedforward=12, dropout=0.1, activation=activation, norm_first=norm_first, batch_first=batch_first
    )


class Encoders(nn.Module):
    """Encoder layers: post-/pre-norm, relu/gelu; a 2-layer TransformerEncoder with a final norm and a mask."""

    def __init__(self):
        super().__init__()
        self.post = _encoder(False, "relu", True)
        self.pre = _encoder(True, F.gelu, True)
        self.stack = nn.TransformerEncoder(_encoder(False, "gelu", True), 2, norm=nn.LayerNorm(8))

    def forward(self, x, pad):
        h = self.pre(self.post(x, src_key_padding_mask=pad))
        return self.stack(h, src_key_padding_mask=pad)


class SeqFirstEncoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.stack = nn.TransformerEncoder(_encoder(True, "relu", False), 2, enable_nested_tensor=False)
        self.register_buffer("causal", torch.ones(5, 5, dtype=torch.bool).triu(1))

    def forward(self, x):  # (T, N, E)
        return self.stack(x, mask=self.causal)


class CausalInForward(nn.Module):
    """Causal masks built in forward, as torch users write them."""

    def __init__(self):
        super().__init__()
        self.stack = nn.TransformerEncoder(_encoder(False, "relu", True), 1)
        self.attn = nn.MultiheadAttention(8, 2, batch_first=True)

    def forward(self, x):
        mask = nn.Transformer.generate_square_subsequent_mask(x.size(1))
        h = self.stack(x, mask=mask, is_causal=True)
        t = x.size(1)
        blocked = torch.ones((t, t), dtype=torch.bool).triu(1)
        return self.attn(h, h, h, attn_mask=blocked, need_weights=False)[0]


class CausalPadded(nn.Module):
    """A causal mask and a padding mask together: torch leaves its fast path, padded positions are computed."""

    def __init__(self):
        super().__init__()
        self.stack = nn.TransformerEncoder(_encoder(False, "relu", True), 1)

    def forward(self, x, pad):
        causal = nn.Transformer.generate_square_subsequent_mask(x.size(1))
        return self.stack(x, mask=causal, src_key_padding_mask=pad)


MODELS = {
    "decoder": (Decoder, lambda b, s: (float_input(b, 3, 3, 4, seed=s),)),
    "signal": (Signal, lambda b, s: (float_input(b, 3, 5, seed=s),)),
    "volume": (Volume, lambda b, s: (float_input(b, 2, 3, 5, 4, seed=s),)),
    "squeeze_excite": (SqueezeExcite, lambda b, s: (float_input(b, 3, 6, 5, seed=s),)),
    "seq_first_attention": (SeqFirstAttention, lambda b, s: (float_input(4, b, 6, seed=s),)),
    "seq_first_encoder": (SeqFirstEncoder, lambda b, s: (float_input(5, b, 8, seed=s),)),
    "causal_in_forward": (CausalInForward, lambda b, s: (float_input(b, 5, 8, seed=s),)),
}
MASKED = {
    "attention": (
        Attention,
        lambda b, s: (
            float_input(b, 6, 8, seed=s),
            float_input(b, 6, 5, seed=s + 1),
            float_input(b, 6, 6, seed=s + 2),
            pad_mask(b, 6, s),
        ),
    ),
    "encoders": (Encoders, lambda b, s: (float_input(b, 6, 8, seed=s), pad_mask(b, 6, s))),
    "causal_padded": (CausalPadded, lambda b, s: (float_input(b, 6, 8, seed=s), pad_mask(b, 6, s))),
}


@pytest.mark.parametrize("name", list(MODELS))
def test_import_matches_torch(name):
    cls, make = MODELS[name]
    check(randomize(cls(), seed=len(name)), make)


def as_float(xs):
    return tuple((~x).float() if x.dtype == torch.bool else x for x in xs)


@pytest.mark.parametrize("name", list(MASKED))
def test_import_with_padding_mask(name):
    """The bool mask becomes the IR mask input (float, 1 = attend); the converted model equals the source."""
    cls, make = MASKED[name]
    net = randomize(cls(), seed=len(name))
    model = from_torch(net, make(2, 0))
    assert [(t.layout, t.dtype) for t in model.inputs][-1] == ("NT", "float32")
    tm = to_torch(model)
    for batch in (2, 3):
        xs = make(batch, batch)
        with torch.no_grad():
            torch.testing.assert_close(tm(*as_float(xs)), net(*xs), atol=ATOL, rtol=RTOL)
    report = verify(model, paths=("keras", "torch", "onnx-torch"))
    assert report.ok, "\n" + report.table()
