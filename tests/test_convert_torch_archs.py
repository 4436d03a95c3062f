"""Real PyTorch architectures, written as a torch user would, converted both ways and verified.

Each module (residual CNN, inverted-residual CNN with squeeze-excitation,
transformer-encoder text classifier, bidirectional GRU text classifier,
U-Net, vision transformer with a learned class token and positional
embedding) is randomised (BatchNorm statistics included) and must survive:

1. ``from_torch`` -> ``to_torch``: equals the source (float32 tolerances,
   batch 2 and 3);
2. -> ``to_keras``: equals the source;
3. ``to_keras(model)`` -> ``from_keras`` -> ``to_torch``: equals the source again;
4. ``verify`` of the imported model: Keras, torch and both ONNX exports
   (MobileNet: not through Keras, known gap ``onnx-keras-grouped-conv``); of
   the model read back from Keras: Keras and torch (its ONNX files would
   re-test the exporters on the same layer kinds).

Cost (2-core machine): ~20 s for the first five, ~8 s of it in the first (TensorFlow's start-up).

The ResNet stem is torchvision's (``Conv2d(.., 2, ..)``, BN, ReLU, ``MaxPool2d(3, 2, padding=1)``: explicit
-inf pool pads, rebuilt exactly in Keras by edge replication). Inputs with a key-padding mask are bool (True = pad) for the
source and the IR's mask (float, 1 = attend) for the converted ones (see ``torch_attention.py``).
"""
import numpy as np
import pytest
import torch
from torch import nn

from backends import from_keras, from_torch, to_keras, to_torch
from exporters import verify
from torch_import_check import ATOL, RTOL, float_input, ids, randomize


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
    def __init__(self, classes=5):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, 2, 1, bias=False), nn.BatchNorm2d(8), nn.ReLU(inplace=True),
                                  nn.MaxPool2d(3, 2, padding=1))
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
        layers = [nn.Conv2d(cin, mid, 1, bias=False), nn.BatchNorm2d(mid), act(),
                  nn.Conv2d(mid, mid, 3, stride, 1, groups=mid, bias=False), nn.BatchNorm2d(mid), act()]
        if se:
            layers.append(SqueezeExcitation(mid, max(mid // 4, 2)))
        layers += [nn.Conv2d(mid, cout, 1, bias=False), nn.BatchNorm2d(cout)]
        self.block = nn.Sequential(*layers)

    def forward(self, x):
        return x + self.block(x) if self.use_res else self.block(x)


class MobileNet(nn.Module):
    def __init__(self, classes=4):
        super().__init__()
        self.features = nn.Sequential(
            nn.Sequential(nn.Conv2d(3, 8, 3, 2, 1, bias=False), nn.BatchNorm2d(8), nn.ReLU6(inplace=True)),
            InvertedResidual(8, 8, 1, 2, se=False, act=nn.ReLU6),
            InvertedResidual(8, 12, 2, 3),
            InvertedResidual(12, 12, 1, 3))
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(nn.Linear(12, 16), nn.Hardswish(), nn.Dropout(0.2), nn.Linear(16, classes))

    def forward(self, x):
        return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))


class TransformerClassifier(nn.Module):
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
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
                         nn.Conv2d(cout, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class UNet(nn.Module):
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
        self.encoder = nn.TransformerEncoder(layer, 2)
        self.norm = nn.LayerNorm(d)
        self.head = nn.Linear(d, classes)

    def forward(self, x):
        h = self.patch(x).flatten(2).transpose(1, 2)
        h = torch.cat([self.cls.expand(x.shape[0], -1, -1), h], dim=1) + self.pos
        h = self.encoder(h)
        return self.head(self.norm(h[:, 0]))


def pad_mask(b, t, seed):
    """True = pad, at the end of each row; every row keeps at least two tokens."""
    lengths = torch.randint(2, t + 1, (b,), generator=torch.Generator().manual_seed(seed))
    return torch.arange(t)[None, :] >= lengths[:, None]


ALL = ("keras", "torch", "onnx-keras", "onnx-torch")
ARCHS = {
    "resnet": (ResNet, lambda b, s: (float_input(b, 3, 16, 16, seed=s),), ALL),
    # known gap onnx-keras-grouped-conv: tf2onnx cannot export the depthwise (grouped) convs
    "mobilenet": (MobileNet, lambda b, s: (float_input(b, 3, 16, 16, seed=s),), ("keras", "torch", "onnx-torch")),
    "transformer": (TransformerClassifier, lambda b, s: (ids(b, 7, vocab=30, seed=s), pad_mask(b, 7, s)), ALL),
    "gru": (GRUClassifier, lambda b, s: (ids(b, 9, vocab=30, seed=s),), ALL),
    "unet": (UNet, lambda b, s: (float_input(b, 3, 12, 12, seed=s),), ALL),
    "vit": (ViT, lambda b, s: (float_input(b, 3, 16, 16, seed=s),), ALL),
}


def fed(xs):
    """What a converted model takes: a bool padding mask (True = pad) as the IR's mask (float, 1 = attend)."""
    return [(~x).float() if x.dtype == torch.bool else x for x in xs]


def assert_matches(run, net, make):
    for batch in (2, 3):
        xs = make(batch, batch)
        with torch.no_grad():
            ref = net(*xs)
        out = run(fed(xs))
        torch.testing.assert_close(torch.as_tensor(np.asarray(out)), ref, atol=ATOL, rtol=RTOL)


def run_torch(module):
    def run(xs):
        with torch.no_grad():
            return module(*xs)
    return run


def run_keras(km):
    return lambda xs: km([x.numpy() for x in xs] if len(xs) > 1 else xs[0].numpy(), training=False)


@pytest.mark.parametrize("name", list(ARCHS))
def test_arch_converts_both_ways(name):
    cls, make, paths = ARCHS[name]
    net = randomize(cls(), seed=len(name))
    model = from_torch(net, make(2, 0))
    assert_matches(run_torch(to_torch(model)), net, make)
    km = to_keras(model)
    assert_matches(run_keras(km), net, make)
    back = from_keras(km)
    assert_matches(run_torch(to_torch(back)), net, make)
    for m, checked in ((model, paths), (back, ("keras", "torch"))):
        report = verify(m, paths=checked)
        assert report.ok, "\n" + report.table()
