"""from_onnx on files exported from plain torch modules (not twinnet's), by both torch exporters.

BatchNorm statistics are randomised so folded or dropped statistics show up.
"""

from __future__ import annotations

import contextlib
import io
import warnings

import pytest
import torch
from gaps import known_gap
from onnx_check import assert_matches_onnxruntime
from torch import nn

from twinnet import ir
from twinnet.backends import from_onnx
from twinnet.exporters import verify


class ResidualBlock(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1, self.b1 = nn.Conv2d(3, 8, 3, stride=2, padding=1), nn.BatchNorm2d(8)
        self.c2, self.b2 = nn.Conv2d(8, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8)
        self.pool, self.drop, self.fc = nn.AdaptiveAvgPool2d(1), nn.Dropout(0.2), nn.Linear(8, 4)

    def forward(self, x):
        h = torch.relu(self.b1(self.c1(x)))
        h = torch.relu(h + self.b2(self.c2(h)))
        return torch.softmax(self.fc(self.drop(torch.flatten(self.pool(h), 1))), -1)


class Stem(nn.Module):
    """torchvision's ResNet stem (7x7/2 conv, BN, ReLU, MaxPool2d(3, 2, padding=1)), then an AvgPool2d(3, 2, 1)
    counting its padding zeros (torch's default)."""

    def __init__(self):
        super().__init__()
        self.conv, self.bn = nn.Conv2d(3, 4, 7, stride=2, padding=3, bias=False), nn.BatchNorm2d(4)
        self.max, self.avg = nn.MaxPool2d(3, 2, padding=1), nn.AvgPool2d(3, 2, padding=1)

    def forward(self, x):
        return self.avg(self.max(torch.relu(self.bn(self.conv(x)))))


class LastStep(nn.Module):
    """Embedding -> batch-first LSTM -> ``y[:, -1]`` -> Linear, the usual torch classifier."""

    def __init__(self, bidirectional: bool = False):
        super().__init__()
        self.emb = nn.Embedding(30, 6)
        self.lstm = nn.LSTM(6, 5, batch_first=True, bidirectional=bidirectional)
        self.fc = nn.Linear(10 if bidirectional else 5, 2)

    def forward(self, tokens):
        y, _ = self.lstm(self.emb(tokens))
        return self.fc(y[:, -1])


class Decoder(nn.Module):
    """A torch decoder: the usual 2x transposed conv (padding=1, output_padding=1), group norm, ReLU6,
    nearest and bilinear upsampling and a crop."""

    def __init__(self):
        super().__init__()
        self.up1 = nn.ConvTranspose2d(3, 4, 3, stride=2, padding=1, output_padding=1)
        self.norm = nn.GroupNorm(2, 4)
        self.near = nn.Upsample(scale_factor=2, mode="nearest")
        self.bilinear = nn.Upsample(scale_factor=(1, 2), mode="bilinear", align_corners=False)

    def forward(self, x):
        y = nn.functional.relu6(self.norm(self.up1(x)))
        return self.bilinear(self.near(y))[:, :, 1:-2, 3:]


def _randomised(module: nn.Module) -> nn.Module:
    torch.manual_seed(0)
    for m in module.modules():
        if isinstance(m, nn.GroupNorm):
            m.weight.data.normal_()
            m.bias.data.normal_()
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.normal_()
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.normal_()
            m.bias.data.normal_()
    return module.eval()


def _export(module, example, path, dynamo: bool, dynamic: dict):
    name = next(iter(dynamic))
    with (
        warnings.catch_warnings(),
        contextlib.redirect_stdout(io.StringIO()),
        contextlib.redirect_stderr(io.StringIO()),
    ):
        warnings.simplefilter("ignore")
        if dynamo:
            shapes = {name: {axis: torch.export.Dim.DYNAMIC for axis in dynamic[name]}}
            torch.onnx.export(module, (example,), str(path), dynamo=True, dynamic_shapes=shapes, input_names=[name])
        else:
            axes = {name: {axis: f"{name}_{axis}" for axis in dynamic[name]}}
            torch.onnx.export(
                module, (example,), str(path), dynamo=False, dynamic_axes=axes, input_names=[name], opset_version=17
            )
    return path


@pytest.mark.parametrize("dynamo", [True, False], ids=["dynamo", "torchscript"])
def test_residual_block(dynamo, tmp_path):
    path = _export(_randomised(ResidualBlock()), torch.randn(2, 3, 9, 10), tmp_path / "block.onnx", dynamo, {"x": [0]})
    model = from_onnx(path)
    assert model.inputs[0].layout == "NCHW"
    assert_matches_onnxruntime(path, model)
    report = verify(model)
    assert report.ok, report.table()


def test_lstm_last_step_is_the_last_state(tmp_path):
    path = _export(LastStep().eval(), torch.randint(0, 30, (2, 7)), tmp_path / "seq.onnx", False, {"t": [0, 1]})
    model = from_onnx(path)
    assert [n.layer.kind for n in model.layers if n.layer.kind == "LSTM"] == ["LSTM"]
    assert model.inputs[0].layout == "NT"
    assert_matches_onnxruntime(path, model)


def test_bidirectional_last_step_is_refused(tmp_path):
    """The backward half of y[:, -1] is one step of the backward pass, not its final state: no IR layer says that,
    and the op tier's Take needs the symbolic length to count from its end."""
    path = _export(LastStep(True).eval(), torch.randint(0, 30, (2, 7)), tmp_path / "seq.onnx", False, {"t": [0, 1]})
    with pytest.raises(ir.UnsupportedError, match=r"\(Gather\): takes entries counted from the end .* unknown size"):
        from_onnx(path)


@pytest.mark.parametrize("dynamo", [True, False], ids=["dynamo", "torchscript"])
def test_decoder(dynamo, tmp_path):
    path = _export(_randomised(Decoder()), torch.randn(2, 3, 5, 4), tmp_path / "decoder.onnx", dynamo, {"x": [0]})
    model = from_onnx(path)
    assert model.inputs[0].layout == "NCHW"
    assert_matches_onnxruntime(path, model)
    report = verify(model)
    assert report.ok, report.table()


@pytest.mark.parametrize("dynamo", [True, False], ids=["dynamo", "torchscript"])
def test_zero_padding(dynamo, tmp_path):
    """TorchScript computes the pads from constants (ConstantOfShape, Concat, Slice...): folded, then ZeroPadding."""
    path = _export(nn.ZeroPad2d((1, 0, 2, 1)), torch.randn(2, 3, 5, 4), tmp_path / "pad.onnx", dynamo, {"input": [0]})
    model = from_onnx(path)
    assert [n.layer.kind for n in model.layers] == ["ZeroPadding2D"]
    assert_matches_onnxruntime(path, model)


@pytest.mark.parametrize("dynamo", [True, False], ids=["dynamo", "torchscript"])
def test_resnet_stem_pool_pads(dynamo, tmp_path):
    """MaxPool2d/AvgPool2d(padding=1) import as explicit pool pads (16x18 -> 8x9: along H torch's pads are not
    TensorFlow's 'same' pads) and run the same in Keras, torch and both ONNX files."""
    path = _export(_randomised(Stem()), torch.randn(2, 3, 16, 18), tmp_path / "stem.onnx", dynamo, {"x": [0]})
    model = from_onnx(path)
    pools = [n.layer for n in model.layers if "Pool" in n.layer.kind]
    assert [(p.kind, p.padding) for p in pools] == [("MaxPool2D", ((1, 1), (1, 1))), ("AvgPool2D", ((1, 1), (1, 1)))]
    assert pools[1].count_include_pad
    assert_matches_onnxruntime(path, model)
    report = verify(model)
    assert report.ok, report.table()


class ChunkScores(nn.Module):
    """Attention-style scores: a projection chunked into q and k along the features, then q @ k^T."""

    def __init__(self):
        super().__init__()
        self.proj = nn.Linear(4, 6)

    def forward(self, x):
        q, k = torch.chunk(self.proj(x), 2, dim=-1)
        return torch.softmax(q @ k.transpose(1, 2), dim=-1)


@pytest.mark.parametrize("dynamo", [True, False], ids=["dynamo", "torchscript"])
def test_chunk_and_batched_matmul(dynamo, tmp_path):
    """torch.chunk exports a Split (dynamo) or two Slices whose bounds TorchScript computes from the shape
    (folded): one IR Slice per half; q @ k.transpose(1, 2) a Transpose + MatMul: one Dot contracting both
    inputs' feature axes."""
    path = _export(ChunkScores().eval(), torch.randn(2, 5, 4), tmp_path / "scores.onnx", dynamo, {"x": [0]})
    model = from_onnx(path)
    kinds = [n.layer.kind for n in model.layers]
    assert kinds.count("Slice") == 2 and "Permute" not in kinds
    assert [n.layer.axes for n in model.layers if n.layer.kind == "Dot"] == [(2, 2)]
    assert_matches_onnxruntime(path, model)
    report = verify(model)
    assert report.ok, report.table()


class ChannelAndRowSlice(nn.Module):
    def forward(self, x):
        return x[:, 1:3, 2:5]


@pytest.mark.parametrize("dynamo", [True, False], ids=["dynamo", "torchscript"])
def test_channel_and_spatial_slice(dynamo, tmp_path):
    """x[:, 1:3, 2:5] exports two Slices: the channel one stays an IR Slice, the row one a Cropping (one
    layer cannot do both)."""
    path = _export(ChannelAndRowSlice(), torch.randn(2, 4, 6, 7), tmp_path / "slices.onnx", dynamo, {"x": [0]})
    model = from_onnx(path)
    assert [n.layer.kind for n in model.layers] == ["Slice", "Cropping2D"]
    assert_matches_onnxruntime(path, model)
    report = verify(model)
    assert report.ok, report.table()


class TokenEmbedding(nn.Module):
    """A ViT's input end: conv patches, a learned class token concatenated after ``expand``, a learned positional
    embedding added, LayerNorm, every token classified (``h[:, 0]`` exports as a Gather of one index along an
    axis, which from_onnx does not import yet)."""

    def __init__(self, d=8):
        super().__init__()
        self.patch = nn.Conv2d(3, d, 4, 4)
        self.cls = nn.Parameter(torch.randn(1, 1, d))
        self.pos = nn.Parameter(torch.randn(1, 5, d))
        self.norm, self.head = nn.LayerNorm(d), nn.Linear(5 * d, 3)

    def forward(self, x):
        h = self.patch(x).flatten(2).transpose(1, 2)
        h = torch.cat([self.cls.expand(x.shape[0], -1, -1), h], dim=1) + self.pos
        return self.head(self.norm(h).flatten(1))


@pytest.mark.parametrize(
    "dynamo",
    [True, pytest.param(False, marks=known_gap("onnx-import-torchscript-expand"))],
    ids=["dynamo", "torchscript"],
)
def test_learned_class_token_and_positions(dynamo, tmp_path):
    """The Expand of the stored class token to the batch and the Add of the stored positions: LearnedConstants."""
    path = _export(TokenEmbedding().eval(), torch.randn(2, 3, 8, 8), tmp_path / "tokens.onnx", dynamo, {"x": [0]})
    model = from_onnx(path)
    assert sorted(n.name for n in model.layers if n.layer.kind == "LearnedConstant") == ["cls", "pos"]
    assert_matches_onnxruntime(path, model)
    report = verify(model)
    assert report.ok, report.table()
