"""Real PyTorch architectures, written as a torch user would, with seeded random weights, ready to convert.

Seven small models: a residual CNN (torchvision's ResNet stem and BasicBlock),
an inverted-residual CNN with squeeze-excitation (MobileNetV3's blocks), a
transformer-encoder text classifier with a key-padding mask, a bidirectional
GRU text classifier, a U-Net, a vision transformer (learned class token
and positional embedding) on ``nn.TransformerEncoder``, and one on timm-style
blocks with hand-written attention. Each function returns ``(module,
example_inputs)``, what ``twinnet convert`` and ``exporters.convert`` take for
a torch model; the module is randomised (every parameter and every BatchNorm
statistic, see :func:`randomize`) and in eval mode.

    twinnet convert examples/torch_archs.py:resnet --to keras -o out/

The transformer takes ``(tokens, padding_mask)`` with a *bool* mask (True =
pad), as ``nn.TransformerEncoder`` does. The converted model takes the IR's
mask instead: float32, 1 = attend, i.e. ``(~padding_mask).float()`` (see
:func:`converted_inputs`).

>>> module, example = resnet()
>>> tuple(module(*example).shape)
(2, 5)
>>> [tuple(x.shape) for x in inputs("transformer", batch=3)]
[(3, 7), (3, 7)]
"""

import torch
import torch.nn.functional as F
from torch import nn


def randomize(net: nn.Module, seed: int = 0) -> nn.Module:
    """Every parameter N(0, 0.5²) and every BatchNorm statistic random, from ``seed``; returns ``net`` in eval mode.

    Random statistics (means N(0, 1), variances U(0.5, 2)) make a conversion
    that drops a bias, swaps mean and variance or uses the wrong epsilon show.
    """
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.5)
        for m in net.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=g))
                m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) * 1.5 + 0.5)
    return net.eval()


def float_input(*shape, seed=0) -> torch.Tensor:
    """Seeded N(0, 1) float32 tensor of ``shape``."""
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


def ids(*shape, vocab=20, seed=0) -> torch.Tensor:
    """Seeded int64 token ids in ``[0, vocab)`` of ``shape``."""
    return torch.randint(0, vocab, shape, generator=torch.Generator().manual_seed(seed))


def pad_mask(b, t, seed) -> torch.Tensor:
    """A (b, t) bool key-padding mask, True = pad, at the end of each row; every row keeps at least two tokens."""
    lengths = torch.randint(2, t + 1, (b,), generator=torch.Generator().manual_seed(seed))
    return torch.arange(t)[None, :] >= lengths[:, None]


# -- the architectures ---------------------------------------------------------------


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class ResNet(nn.Module):
    """torchvision's stem (``MaxPool2d(3, 2, padding=1)``: explicit -inf pool pads) and two stages of BasicBlocks."""

    def __init__(self, classes=5):
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(3, 8, 3, 2, 1, bias=False),
            nn.BatchNorm2d(8),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(3, 2, padding=1),
        )
        self.layer1 = nn.Sequential(BasicBlock(8, 8), BasicBlock(8, 8))
        self.layer2 = nn.Sequential(BasicBlock(8, 12, stride=2), BasicBlock(12, 12))
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(12, classes)

    def forward(self, x):
        x = self.layer2(self.layer1(self.stem(x)))
        return self.fc(torch.flatten(self.avgpool(x), 1))


class SqueezeExcitation(nn.Module):
    def __init__(self, channels, squeeze):
        super().__init__()
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc1, self.fc2 = nn.Conv2d(channels, squeeze, 1), nn.Conv2d(squeeze, channels, 1)
        self.activation, self.scale_activation = nn.ReLU(), nn.Hardsigmoid()

    def forward(self, x):
        scale = self.scale_activation(self.fc2(self.activation(self.fc1(self.avgpool(x)))))
        return scale * x


class InvertedResidual(nn.Module):
    def __init__(self, cin, cout, stride, expand, se=True, act=nn.Hardswish):
        super().__init__()
        mid = cin * expand
        self.use_res = stride == 1 and cin == cout
        layers = [
            nn.Conv2d(cin, mid, 1, bias=False),
            nn.BatchNorm2d(mid),
            act(),
            nn.Conv2d(mid, mid, 3, stride, 1, groups=mid, bias=False),
            nn.BatchNorm2d(mid),
            act(),
        ]
        if se:
            layers.append(SqueezeExcitation(mid, max(mid // 4, 2)))
        layers += [nn.Conv2d(mid, cout, 1, bias=False), nn.BatchNorm2d(cout)]
        self.block = nn.Sequential(*layers)

    def forward(self, x):
        return x + self.block(x) if self.use_res else self.block(x)


class MobileNet(nn.Module):
    """MobileNetV3-style: depthwise convs, squeeze-excitation, Hardswish/Hardsigmoid, ReLU6."""

    def __init__(self, classes=4):
        super().__init__()
        self.features = nn.Sequential(
            nn.Sequential(nn.Conv2d(3, 8, 3, 2, 1, bias=False), nn.BatchNorm2d(8), nn.ReLU6(inplace=True)),
            InvertedResidual(8, 8, 1, 2, se=False, act=nn.ReLU6),
            InvertedResidual(8, 12, 2, 3),
            InvertedResidual(12, 12, 1, 3),
        )
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(nn.Linear(12, 16), nn.Hardswish(), nn.Dropout(0.2), nn.Linear(16, classes))

    def forward(self, x):
        return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))


class TransformerClassifier(nn.Module):
    """Embedding, two ``nn.TransformerEncoderLayer``s with a bool key-padding mask (True = pad), mean, Linear."""

    def __init__(self, vocab=30, d=16, classes=3):
        super().__init__()
        self.embed = nn.Embedding(vocab, d, padding_idx=0)
        layer = nn.TransformerEncoderLayer(d, nhead=4, dim_feedforward=32, dropout=0.1, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, num_layers=2)
        self.head = nn.Linear(d, classes)

    def forward(self, tokens, padding_mask):
        h = self.encoder(self.embed(tokens), src_key_padding_mask=padding_mask)
        return self.head(h.mean(dim=1))


class GRUClassifier(nn.Module):
    """Embedding, a bidirectional GRU's two final states concatenated, Linear."""

    def __init__(self, vocab=30, d=8, hidden=6, classes=2):
        super().__init__()
        self.embedding = nn.Embedding(vocab, d)
        self.gru = nn.GRU(d, hidden, batch_first=True, bidirectional=True)
        self.dropout = nn.Dropout(0.3)
        self.fc = nn.Linear(2 * hidden, classes)

    def forward(self, tokens):
        _, h = self.gru(self.embedding(tokens))
        return self.fc(self.dropout(torch.cat([h[-2], h[-1]], dim=1)))


def double_conv(cin, cout):
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, padding=1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
        nn.Conv2d(cout, cout, 3, padding=1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


class UNet(nn.Module):
    """Two down and two up stages: ``ConvTranspose2d`` and bilinear ``Upsample``, ``torch.cat`` skips."""

    def __init__(self, cin=3, classes=2):
        super().__init__()
        self.inc, self.down1, self.down2 = double_conv(cin, 4), double_conv(4, 8), double_conv(8, 12)
        self.pool = nn.MaxPool2d(2)
        self.up1 = nn.ConvTranspose2d(12, 8, kernel_size=2, stride=2)
        self.conv1 = double_conv(16, 8)
        self.up2 = nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False)
        self.conv2 = double_conv(12, 4)
        self.outc = nn.Conv2d(4, classes, 1)

    def forward(self, x):
        x1 = self.inc(x)
        x2 = self.down1(self.pool(x1))
        x3 = self.down2(self.pool(x2))
        y = self.conv1(torch.cat([x2, self.up1(x3)], dim=1))
        y = self.conv2(torch.cat([x1, self.up2(y)], dim=1))
        return self.outc(y)


class ViT(nn.Module):
    """Patches by a strided conv, a learned class token and positional embedding (parameters read in forward:
    IR LearnedConstant), a pre-norm encoder, the class token's output classified."""

    def __init__(self, d=16, patch=4, img=16, classes=3):
        super().__init__()
        self.patch = nn.Conv2d(3, d, patch, patch)
        n = (img // patch) ** 2
        self.cls = nn.Parameter(torch.zeros(1, 1, d))
        self.pos = nn.Parameter(torch.zeros(1, n + 1, d))
        layer = nn.TransformerEncoderLayer(d, 4, 32, dropout=0.1, batch_first=True, norm_first=True)
        # nested tensors (torch's fast path) are never used with norm_first: say so instead of being warned
        self.encoder = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(d)
        self.head = nn.Linear(d, classes)

    def forward(self, x):
        h = self.patch(x).flatten(2).transpose(1, 2)
        h = torch.cat([self.cls.expand(x.shape[0], -1, -1), h], dim=1) + self.pos
        h = self.encoder(h)
        return self.head(self.norm(h[:, 0]))


class Attention(nn.Module):
    """timm's ViT ``Attention``: one packed ``qkv`` Linear, heads by reshape + permute + unbind, fused
    ``F.scaled_dot_product_attention`` or written out (from_torch reads either as MultiHeadAttention)."""

    def __init__(self, dim, num_heads=4, fused=True):
        super().__init__()
        self.num_heads, self.head_dim, self.fused = num_heads, dim // num_heads, fused
        self.scale = self.head_dim**-0.5
        self.qkv = nn.Linear(dim, dim * 3)
        self.attn_drop, self.proj, self.proj_drop = nn.Dropout(0.1), nn.Linear(dim, dim), nn.Dropout(0.1)

    def forward(self, x):
        B, N, C = x.shape
        q, k, v = self.qkv(x).reshape(B, N, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4).unbind(0)
        if self.fused:
            x = F.scaled_dot_product_attention(q, k, v, dropout_p=self.attn_drop.p if self.training else 0.0)
        else:
            attn = ((q * self.scale) @ k.transpose(-2, -1)).softmax(dim=-1)
            x = self.attn_drop(attn) @ v
        return self.proj_drop(self.proj(x.transpose(1, 2).reshape(B, N, C)))


class Block(nn.Module):
    """timm's pre-norm ViT block: x + attn(norm1(x)), then x + mlp(norm2(x))."""

    def __init__(self, dim, fused=True):
        super().__init__()
        self.norm1, self.attn = nn.LayerNorm(dim, eps=1e-6), Attention(dim, fused=fused)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim))

    def forward(self, x):
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class TimmViT(nn.Module):
    """A ViT written with timm-style blocks (hand-written attention, not nn.TransformerEncoder): patch conv,
    class token, positional embedding, two blocks (one with fused attention, one written out), the class token
    classified."""

    def __init__(self, d=16, patch=4, img=16, classes=3):
        super().__init__()
        self.patch_embed = nn.Conv2d(3, d, patch, patch)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, d))
        self.pos_embed = nn.Parameter(torch.zeros(1, (img // patch) ** 2 + 1, d))
        self.blocks = nn.Sequential(Block(d, fused=True), Block(d, fused=False))
        self.norm, self.head = nn.LayerNorm(d, eps=1e-6), nn.Linear(d, classes)

    def forward(self, x):
        h = self.patch_embed(x).flatten(2).transpose(1, 2)
        h = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), h], dim=1) + self.pos_embed
        return self.head(self.norm(self.blocks(h))[:, 0])


#: name -> (module class, function (batch, seed) -> the module's inputs)
ARCHS = {
    "resnet": (ResNet, lambda b, s: (float_input(b, 3, 16, 16, seed=s),)),
    "mobilenet": (MobileNet, lambda b, s: (float_input(b, 3, 16, 16, seed=s),)),
    "transformer": (TransformerClassifier, lambda b, s: (ids(b, 7, vocab=30, seed=s), pad_mask(b, 7, s))),
    "gru": (GRUClassifier, lambda b, s: (ids(b, 9, vocab=30, seed=s),)),
    "unet": (UNet, lambda b, s: (float_input(b, 3, 12, 12, seed=s),)),
    "vit": (ViT, lambda b, s: (float_input(b, 3, 16, 16, seed=s),)),
    "timm_vit": (TimmViT, lambda b, s: (float_input(b, 3, 16, 16, seed=s),)),
}


def build(name: str) -> nn.Module:
    """The architecture ``name`` (a key of :data:`ARCHS`), randomised with seed ``len(name)``, in eval mode."""
    return randomize(ARCHS[name][0](), seed=len(name))


def inputs(name: str, batch: int = 2, seed: int = 0) -> tuple:
    """Seeded inputs for the architecture ``name``, as the torch module takes them."""
    return ARCHS[name][1](batch, seed)


def converted_inputs(xs) -> list:
    """What a converted model takes for the module's inputs ``xs``: a bool key-padding mask (True = pad)
    becomes the IR's mask (float32, 1 = attend); other inputs are unchanged."""
    return [(~x).float() if x.dtype == torch.bool else x for x in xs]


# One function per architecture, so each is a FILE.py:FUNCTION for `twinnet convert`:
# (module, example inputs at batch 2, so the batch axis is not specialised when traced).
def resnet():
    return build("resnet"), inputs("resnet")


def mobilenet():
    return build("mobilenet"), inputs("mobilenet")


def transformer():
    return build("transformer"), inputs("transformer")


def gru():
    return build("gru"), inputs("gru")


def unet():
    return build("unet"), inputs("unet")


def vit():
    return build("vit"), inputs("vit")


def timm_vit():
    return build("timm_vit"), inputs("timm_vit")
