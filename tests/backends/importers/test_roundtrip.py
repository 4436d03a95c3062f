"""Round trips are structurally exact: ``from_torch(to_torch(m))`` and ``from_keras(to_keras(m))`` give back
``m`` (``twinnet.ir.structure``: the same layer kinds and arguments, layouts, wiring and weights; names may
differ).

The models and the round trips are ``benchmarks/roundtrip.py``'s. CI runs its ``CI`` cases: the IR models
of ``examples/`` (``mnist_convnet`` -- also what ``demo.py`` and ``mnist_digits_training.py`` build --,
``vgg_block``, ``fasttext_sentiment``, ``lstm_sentiment``), the torch architectures of
``examples/torch_archs.py`` imported with ``from_torch``, the custom Keras layer and torch module of
``examples/custom_layers.py`` imported with their converters, and ``keras.applications`` MobileNetV2,
ResNet50 and VGG16 at 32 px imported with ``from_keras`` (``examples/keras_apps.py``). The other Keras
applications and the reduced zoo's torch models (``EXTENDED``, minutes on two cores) run in the benchmark:
``python benchmarks/roundtrip.py``. The round trips that cannot hold yet are known gaps
(tests/known_gaps.toml), each with its reason.

Cost (2-core machine): ~4 minutes, most of it the three Keras applications through torch.export.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from gaps import GAPS, known_gap
from siblings import benchmark
from torch import nn

from twinnet.backends import from_torch, to_keras, to_torch
from twinnet.ir.structure import structural_diff

rt = benchmark("roundtrip")

TORCH_GAPS: dict[str, str] = {}
KERAS_GAPS: dict[str, str] = {}


def _cases(gaps):
    return [pytest.param(n, marks=known_gap(gaps[n])) if n in gaps else n for n in rt.CI]


def _check(name, direction):
    diffs = rt.diff(name, direction)
    assert not diffs, "\n".join(diffs)


@pytest.mark.parametrize("name", _cases(TORCH_GAPS))
def test_torch_round_trip_is_structurally_exact(name):
    _check(name, "torch")


@pytest.mark.parametrize("name", _cases(KERAS_GAPS))
def test_keras_round_trip_is_structurally_exact(name):
    _check(name, "keras")


def _inputs(model, batch: int) -> tuple:
    """``rt.example``, with a float (N, T) attention mask made of ones then zeros (at least two ones a row)."""
    xs = list(rt.example(model, batch))
    for i, t in enumerate(model.inputs):
        if t.dtype == "float32" and t.layout == "NT":
            n = xs[i].shape[1]
            lengths = torch.randint(2, n + 1, (batch,), generator=torch.Generator().manual_seed(batch))
            xs[i] = (torch.arange(n)[None, :] < lengths[:, None]).float()
    return tuple(xs)


# the round trips the key-padding mask and edge-padded max pool fixes were made for, the seed's convnet, and
# BERT, GPT-2 and Llama through Keras (position ids and attention come back as one op each), and ConvNeXt and Llama
# through torch (a layer scale, RMSNorm weights and rotary tables computed without the batch axis), and ConvNeXt
# through Keras (its layer scales and LayerNorm2d follow the input back to NCHW)
COMPUTES = [
    ("mnist_convnet", "torch"),
    ("transformer", "torch"),
    ("timm:convnext_atto", "torch"),
    ("transformers:llama_gqa", "torch"),
    ("resnet", "keras"),
    ("timm:convnext_atto", "keras"),
    ("transformers:bert", "keras"),
    ("transformers:gpt2", "keras"),
    ("transformers:llama_gqa", "keras"),
]


@pytest.mark.parametrize("name, direction", COMPUTES, ids=[f"{d}-{n}" for n, d in COMPUTES])
def test_round_trip_computes_the_same(name, direction):
    """Structural equality includes the weights; these round trips, run in torch and Keras at two batch
    sizes, show the numbers follow."""
    m = rt.source(name)
    back = rt.THROUGH[direction](m)
    nets = [(to_torch(m), to_torch(back)), (to_keras(m), to_keras(back))]
    for batch in (2, 3):
        xs = _inputs(m, batch)
        with torch.no_grad():
            a, b = nets[0][0](*xs).numpy(), nets[0][1](*xs).numpy()
        np.testing.assert_allclose(b, a, atol=1e-5, rtol=1e-4)
        ks = [x.numpy() for x in xs]
        ka = np.asarray(nets[1][0](ks if len(ks) > 1 else ks[0], training=False))
        kb = np.asarray(nets[1][1](ks if len(ks) > 1 else ks[0], training=False))
        np.testing.assert_allclose(kb, ka, atol=1e-5, rtol=1e-4)


def test_every_extended_miss_is_a_listed_known_gap():
    """The benchmark's extended and full-zoo cases that are not exact name entries of tests/known_gaps.toml."""
    assert set(rt.EXTENDED_GAPS.values()) <= set(GAPS)
    assert {name for name, _ in rt.EXTENDED_GAPS} <= set(rt.EXTENDED) | set(rt.whole_zoo())


class WindowBlock(nn.Module):
    """Swin's block as torchvision writes it, small: windows of ``window`` x ``window`` patches (a rank-6 view and
    permute), shifted by ``shift`` with the mask of the windows that wrap around, and a relative position bias."""

    def __init__(self, dim=8, heads=2, window=2, shift=0, side=4):
        super().__init__()
        self.heads, self.window, self.shift = heads, window, shift
        self.norm = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.table = nn.Parameter(torch.randn((2 * window - 1) ** 2, heads) * 0.1)
        coords = torch.stack(torch.meshgrid(torch.arange(window), torch.arange(window), indexing="ij")).flatten(1)
        rel = (coords[:, :, None] - coords[:, None, :]).permute(1, 2, 0) + window - 1
        self.register_buffer("index", (rel[:, :, 0] * (2 * window - 1) + rel[:, :, 1]).flatten())
        region = torch.zeros(side, side)
        if shift:
            cuts = (slice(0, -window), slice(-window, -shift), slice(-shift, None))
            for i, (h, w) in enumerate((h, w) for h in cuts for w in cuts):
                region[h, w] = i
        parts = region.view(side // window, window, side // window, window).permute(0, 2, 1, 3).reshape(-1, window**2)
        self.register_buffer("mask", (parts[:, None, :] != parts[:, :, None]).float() * -100.0)

    def forward(self, x):
        b, h, w, c = x.shape
        s, n = self.window, self.window**2
        y = self.norm(x)
        if self.shift:
            y = torch.roll(y, shifts=(-self.shift, -self.shift), dims=(1, 2))
        y = y.view(b, h // s, s, w // s, s, c).permute(0, 1, 3, 2, 4, 5).reshape(-1, n, c)
        qkv = self.qkv(y).reshape(y.size(0), n, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        attn = (q * (c // self.heads) ** -0.5) @ k.transpose(-2, -1)
        attn = attn + self.table[self.index].view(n, n, -1).permute(2, 0, 1).contiguous().unsqueeze(0)
        if self.shift:
            windows = self.mask.shape[0]
            attn = attn.view(-1, windows, self.heads, n, n) + self.mask.unsqueeze(1).unsqueeze(0)
            attn = attn.view(-1, self.heads, n, n)
        y = (F.softmax(attn, dim=-1) @ v).transpose(1, 2).reshape(-1, n, c)
        y = self.proj(y).view(b, h // s, w // s, s, s, c).permute(0, 1, 3, 2, 4, 5).reshape(b, h, w, c)
        if self.shift:
            y = torch.roll(y, shifts=(self.shift, self.shift), dims=(1, 2))
        return x + y


class TinySwin(nn.Module):
    def __init__(self):
        super().__init__()
        self.patches = nn.Conv2d(3, 8, 2, stride=2)
        self.blocks = nn.Sequential(WindowBlock(shift=0), WindowBlock(shift=1))
        self.norm = nn.LayerNorm(8)
        self.head = nn.Linear(8, 4)

    def forward(self, x):
        x = self.norm(self.blocks(self.patches(x).permute(0, 2, 3, 1))).permute(0, 3, 1, 2)
        return self.head(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


def _tiny_swin():
    torch.manual_seed(0)
    return from_torch(TinySwin().eval(), (torch.randn(2, 3, 8, 8),))


def test_torch_round_trip_of_window_attention_is_exact():
    """Swin's windows (torchvision's code, small): the emitted module exports (its keys' letters once collided
    with the heads'), and reads back as the source did: the qkv split, the scale before the heads' permute, the
    relative position bias over the windows' batch, the shifted windows' mask and roll, the rank-6 partitions."""
    m = _tiny_swin()
    back = rt.through_torch(m)
    assert back.capture.method == "torch.export"
    assert not structural_diff(m, back, weights=True), "\n".join(structural_diff(m, back, weights=True))
    xs = rt.example(m, 3)
    with torch.no_grad():
        np.testing.assert_allclose(to_torch(back)(*xs).numpy(), to_torch(m)(*xs).numpy(), atol=1e-5, rtol=1e-4)


def _window_letters(model) -> list[str]:
    return [n.spec.layout for n in model.layers if n.spec.rank == 6]


def test_keras_reads_window_partitions_in_torch_letters():
    """to_keras's rank-6 reshapes and Permutes of the windows read back in from_torch's letters (its own, then
    free ones: Keras has no convention past rank 5), and the model computes the same."""
    m = _tiny_swin()
    back = rt.through_keras(m)
    assert _window_letters(back) == _window_letters(m) == ["NHWCAB", "NHCWAB", "NTCABE", "NTACBE"] * 2
    xs = rt.example(m, 3)
    with torch.no_grad():
        np.testing.assert_allclose(to_torch(back)(*xs).numpy(), to_torch(m)(*xs).numpy(), atol=1e-5, rtol=1e-4)


def test_keras_round_trip_of_window_attention_is_exact():
    """The shifted block's attention, written out in steps in m (its mask is added over a view of the windows),
    reads back named by role as the other block's one op is (``steps.attention_steps``): scores ``NHTS``, result
    ``NHTE``; the crop, roll and Permutes around the windows read back as m has them."""
    m = _tiny_swin()
    assert [n.spec.layout for n in m.layers if n.layer.kind == "MatMul"] == ["NHTS", "NHTE"]
    back = rt.through_keras(m)
    assert not structural_diff(m, back, weights=True), "\n".join(structural_diff(m, back, weights=True))


class ShuffleBlock(nn.Module):
    """ShuffleNetV2's stride-1 unit as torchvision writes it, small: the channels chunked in two, one half through
    a 1x1 conv, the halves concatenated and shuffled (``view``, ``transpose``, ``view``)."""

    def __init__(self, channels=8):
        super().__init__()
        half = channels // 2
        self.branch = nn.Sequential(nn.Conv2d(half, half, 1), nn.BatchNorm2d(half), nn.ReLU())

    def forward(self, x):
        a, b = x.chunk(2, dim=1)
        x = torch.cat((a, self.branch(b)), dim=1)
        n, c, h, w = x.shape
        return x.view(n, 2, c // 2, h, w).transpose(1, 2).contiguous().view(n, c, h, w)


def _tiny_shufflenet():
    """Two units on a 4x4 map, one on the 1x1 map a max pool leaves (ShuffleNet's last stage at 32 px), then a
    1x1 conv and the pooled head."""
    torch.manual_seed(0)
    units = [ShuffleBlock(), ShuffleBlock(), nn.MaxPool2d(4), ShuffleBlock()]
    head = [nn.Conv2d(8, 4, 1), nn.AdaptiveAvgPool2d(1), nn.Flatten()]
    net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), *units, *head)
    return from_torch(net.eval(), (torch.randn(2, 3, 4, 4),))


@pytest.mark.parametrize("direction", ["torch", "keras"])
def test_round_trip_of_channel_shuffles_is_exact(direction):
    """to_keras shuffles the channels where Keras holds them, last (a Reshape to (H, W, 2, C/2), the Permute of
    its last two axes, a Reshape back), and from_keras reads that, with the chunks' Slices, back in torch's
    spelling on the NCHW map (``channel_shuffle``, ``cropped_rows``), on a 4x4 map and a 1x1 one; the same numbers."""
    m = _tiny_shufflenet()
    back = rt.THROUGH[direction](m)
    assert not structural_diff(m, back, weights=True), "\n".join(structural_diff(m, back, weights=True))
    xs = rt.example(m, 3)
    with torch.no_grad():
        want = to_torch(m)(*xs).numpy()
        np.testing.assert_allclose(to_torch(back)(*xs).numpy(), want, atol=1e-5, rtol=1e-4)
    np.testing.assert_allclose(np.asarray(to_keras(m)(xs[0].numpy(), training=False)), want, atol=1e-5, rtol=1e-4)


class PatchBlock(nn.Module):
    """MobileViT's block as timm writes it, small, after a stem convolution: a convolution, the unfold into patches
    (views regrouping the batch, a transpose), a transformer layer (qkv attention, residual sums), the fold back, a
    convolution and the fusion with the block's input."""

    def __init__(self, channels=4, dim=8, heads=2, patch=2):
        super().__init__()
        self.heads, self.patch = heads, patch
        self.stem = nn.Conv2d(channels, channels, 3, padding=1)
        self.conv_1x1 = nn.Conv2d(channels, dim, 1)
        self.norm = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.conv_proj = nn.Conv2d(dim, channels, 1)
        self.conv_fusion = nn.Conv2d(2 * channels, channels, 3, padding=1)

    def forward(self, x):
        shortcut, p = self.stem(x), self.patch
        x = self.conv_1x1(shortcut)
        b, c, h, w = x.shape
        nh, nw = h // p, w // p
        x = x.reshape(b * c * nh, p, nw, p).transpose(1, 2)
        x = x.reshape(b, c, nh * nw, p * p).transpose(1, 3).reshape(b * p * p, nh * nw, -1)
        n = nh * nw
        qkv = self.qkv(self.norm(x)).reshape(-1, n, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)
        x = x + self.proj(F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(-1, n, c))
        x = x.contiguous().view(b, p * p, n, -1).transpose(1, 3).reshape(b * c * nh, nw, p, p)
        x = x.transpose(1, 2).reshape(b, c, nh * p, nw * p)
        return self.conv_fusion(torch.cat((shortcut, self.conv_proj(x)), dim=1))


@pytest.mark.parametrize("side", [(4, 4), (2, 2), (4, 2)], ids=["4x4", "one-patch", "one-patch-wide"])
def test_round_trips_of_mobilevit_patches_are_exact(side):
    """The unfold's and fold's reshapes and transposes, the attention over patches, and the convolutions after the
    fold read back as they were both ways (``from_keras``: the fold's convolution channels first, on the reshape
    as it is; a transpose of a size-1 axis, which ``to_keras`` writes as a Keras ``Reshape``, as the move); the
    Keras model computes what the module does."""
    torch.manual_seed(0)
    module = PatchBlock().eval()
    m = from_torch(module, (torch.randn(2, 4, *side),))
    for back in (rt.through_torch(m), rt.through_keras(m)):
        assert not structural_diff(m, back, weights=True), "\n".join(structural_diff(m, back, weights=True))
    x = torch.randn(3, 4, *side)
    with torch.no_grad():
        want = module(x).numpy()
    np.testing.assert_allclose(np.asarray(to_keras(m)(x.numpy(), training=False)), want, atol=1e-5, rtol=1e-4)


class OnePatchViT(nn.Module):
    """torchvision's ViT, small, on an image of one patch: its tokens are ``reshape(n, C, 1).permute(0, 2, 1)``
    of the 1x1 map, a Permute moving only the size-1 token axis (one Keras Reshape to ``(1, C)``)."""

    def __init__(self, dim=8, patch=8):
        super().__init__()
        self.dim = dim
        self.conv_proj = nn.Conv2d(3, dim, patch, stride=patch)
        self.class_token = nn.Parameter(torch.randn(1, 1, dim))
        self.pos_embedding = nn.Parameter(torch.randn(1, 2, dim))
        self.ln_1 = nn.LayerNorm(dim)
        self.attention = nn.MultiheadAttention(dim, 2, batch_first=True)
        self.ln = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, 4)

    def forward(self, x):
        n, _, h, w = x.shape
        x = self.conv_proj(x).reshape(n, self.dim, (h // 8) * (w // 8)).permute(0, 2, 1)
        x = torch.cat([self.class_token.expand(n, -1, -1), x], dim=1) + self.pos_embedding
        y = self.ln_1(x)
        x = x + self.attention(y, y, y, need_weights=False)[0]
        return self.head(self.ln(x)[:, 0])


def test_round_trips_of_one_patch_are_exact():
    """Both importers read the one patch's tokens as one Reshape to ``(1, C)`` lettered ``NTC`` (unit_permute, and
    from_torch naming a reshape of size-1 axes after its input's letters), so both round trips give ``m`` back and
    compute what it does."""
    torch.manual_seed(0)
    m = from_torch(OnePatchViT().eval(), (torch.randn(2, 3, 8, 8),))
    assert "Permute" not in [n.layer.kind for n in m.layers]
    xs = rt.example(m, 3)
    for direction in ("torch", "keras"):
        back = rt.THROUGH[direction](m)
        assert not structural_diff(m, back, weights=True), "\n".join(structural_diff(m, back, weights=True))
        with torch.no_grad():
            np.testing.assert_allclose(to_torch(back)(*xs).numpy(), to_torch(m)(*xs).numpy(), atol=1e-5, rtol=1e-4)


class RelativeBias(nn.Module):
    """T5's relative position bias, small: buckets of key minus query positions (integer arithmetic, a log for the
    far ones, a clamp and a where), looked up per head and given to attention as its mask."""

    def __init__(self, vocab=20, dim=8, heads=2, buckets=8, distance=16):
        super().__init__()
        self.heads, self.buckets, self.distance = heads, buckets, distance
        self.embed = nn.Embedding(vocab, dim)
        self.qkv = nn.Linear(dim, 3 * dim, bias=False)
        self.bias = nn.Embedding(buckets, heads)
        self.out = nn.Linear(dim, 4)

    def forward(self, ids):
        x = self.embed(ids)
        n, t, c = x.shape
        q, k, v = self.qkv(x).view(n, t, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4).unbind(0)
        far = (torch.arange(t)[None, :] - torch.arange(t)[:, None]).abs()
        exact = self.buckets // 2
        big = exact + (torch.log(far.float() / exact) / math.log(self.distance / exact) * (self.buckets - exact)).long()
        bucket = torch.where(far < exact, far, big.clamp(max=self.buckets - 1))
        mask = self.bias(bucket).permute(2, 0, 1).unsqueeze(0)
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        return self.out(y.transpose(1, 2).reshape(n, t, c))


def _relative_bias():
    torch.manual_seed(0)
    return from_torch(RelativeBias().eval(), (torch.randint(0, 20, (2, 7)),))


def test_torch_round_trip_of_relative_position_buckets_is_exact():
    """The buckets, computed from positions alone, stay without the batch axis in to_torch's module through its
    where and clamp too, and from_torch reads its arange over the length the module fixes (export records
    ``arange(7)``) as the positions along it: m's ops come back, not a folded table."""
    m = _relative_bias()
    assert "Positions" in [n.layer.kind for n in m.layers]
    back = rt.through_torch(m)
    assert not structural_diff(m, back, weights=True), "\n".join(structural_diff(m, back, weights=True))
    xs = rt.example(m, 3)
    with torch.no_grad():
        np.testing.assert_allclose(to_torch(back)(*xs).numpy(), to_torch(m)(*xs).numpy(), atol=1e-5, rtol=1e-4)


def test_keras_reads_relative_position_buckets():
    """from_keras reads the Embedding of the rank-3 bucket ids (named NHW, its vectors NHWC) and the model
    computes the same."""
    m = _relative_bias()
    back = rt.through_keras(m)
    xs = rt.example(m, 3)
    with torch.no_grad():
        np.testing.assert_allclose(to_torch(back)(*xs).numpy(), to_torch(m)(*xs).numpy(), atol=1e-5, rtol=1e-4)


def test_keras_round_trip_of_relative_position_buckets_is_exact():
    """Through Keras as through torch: the cap reads back as the Clip (``keras.ops.minimum`` with a number), the
    buckets in the Embedding's NHW through the where, and the attention by role, the relabel before its mask
    (the Embedding's vectors, the heads their C) kept and named as the scores are."""
    m = _relative_bias()
    assert [n.spec.layout for n in m.layers if n.layer.kind == "ScaledDotProductAttention"] == ["NHTE"]
    back = rt.through_keras(m)
    assert not structural_diff(m, back, weights=True), "\n".join(structural_diff(m, back, weights=True))
