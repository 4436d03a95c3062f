"""from_onnx reads back every file twinnet's own ONNX backend writes (``export_onnx(model, path, via="ir")``).

Each model is exported straight from the IR, read back with ``from_onnx``, and the import must compute
what the original model computes: ``verify`` runs the import through torch and through its own ONNX
file, against the original model's torch module as a reference, at float32 tolerances.

Two forms of the backend were once unreadable: a bidirectional RNN's final state (now written as
torch's exporter writes it: a 0-d Gather per direction, then Concat) and a LayerNorm over axes that
are not the held tensor's trailing ones (ViT tokens held channels first, a norm over time or over the
channels of an NCHW image), which the backend composes from ReduceMean, Sub, Mul, ReduceMean, Add,
Sqrt and Div (read back by the ``twinnet.LayerNorm`` rule, ``backends/importers/onnx/patterns/layer_norm.py``).
A LayerNormalization over C, H, W of an NCHW image (axis=1) takes its letters from the Conv that
reads its result, no longer features last. TorchScript writes the composed form (with ``Pow(d, 2)``)
below opset 17, checked here too.
"""

from __future__ import annotations

import contextlib
import io
import warnings

import numpy as np
import pytest
import torch
from onnx_check import assert_matches_onnxruntime
from torch import nn

from examples import lstm_sentiment, mnist_convnet, torch_archs
from twinnet import ir
from twinnet.backends import from_onnx, from_torch, to_torch
from twinnet.exporters import export_onnx, verify
from twinnet.ir import layers as L

ATOL, RTOL = 1e-5, 1e-4


def _torch_reference(model):
    """The original model's torch module, on declared-layout inputs (its declared layout is the module's)."""
    module = to_torch(model)

    def run(xs):
        with torch.no_grad():
            outs = module(*[torch.from_numpy(x) for x in xs])
        return [o.numpy() for o in (outs if isinstance(outs, tuple) else (outs,))]

    return run


def _kinds(model) -> list[str]:
    """Layer kinds, a Bidirectional named with its cell (``Bidirectional(GRU)``)."""

    def kind(layer):
        return f"{layer.kind}({layer.layer.kind})" if layer.kind == "Bidirectional" else layer.kind

    return sorted(kind(n.layer) for n in model.layers)


def _torch_arch(name):
    return from_torch(torch_archs.build(name), torch_archs.inputs(name, 2, 0))


def _final_state(cell, bidirectional: bool, name: str):
    """Tokens -> Embedding -> an RNN returning its final state (one way or both) -> Dense."""
    x = ir.Input(shape=(None,), dtype="int32", layout="NT", name="tokens")
    h = L.Embedding(30, 6)(x)
    h = (L.Bidirectional(cell) if bidirectional else cell)(h)
    return ir.Model(inputs=x, outputs=L.Dense(3)(h), name=name).initialize(0)


def _norm_not_trailing(layout: str, axis: str, name: str):
    """A LayerNorm over axes that are not the held tensor's trailing ones, which the backend may compose."""
    shape = {"NTC": (7, 6), "NCHW": (4, 5, 6)}[layout]
    x = ir.Input(shape=shape, layout=layout, name="x")
    h = L.LayerNorm(axis=axis, epsilon=1e-5)(x)
    h = L.Dense(3)(h) if layout == "NTC" else L.Conv2D(3, 3)(h)
    return ir.Model(inputs=x, outputs=h, name=name).initialize(0)


class _Windows(nn.Module):
    """Swin in small: the window partition (``View(merge=4)``), attention in each window with a learned bias,
    the reverse (``View(split=4)``)."""

    def __init__(self):
        super().__init__()
        self.qkv, self.bias = nn.Linear(6, 18), nn.Parameter(torch.randn(16, 16))

    def forward(self, x):  # (N, 8, 8, 6)
        b = x.shape[0]
        win = x.view(b, 2, 4, 2, 4, 6).permute(0, 1, 3, 2, 4, 5).reshape(-1, 16, 6)
        q, k, v = self.qkv(win).chunk(3, dim=-1)
        out = torch.softmax(q @ k.transpose(1, 2) + self.bias, -1) @ v
        return out.view(-1, 2, 2, 4, 4, 6).permute(0, 1, 3, 2, 4, 5).reshape(b, 8, 8, 6)


def _windows():
    torch.manual_seed(0)
    return from_torch(_Windows(), (torch.randn(2, 8, 8, 6),))


MODELS = {
    "gru": lambda: _torch_arch("gru"),
    "vit": lambda: _torch_arch("vit"),
    "timm_vit": lambda: _torch_arch("timm_vit"),
    "mnist_convnet": mnist_convnet.build,
    "lstm_sentiment": lstm_sentiment.build,
    "lstm_sentiment_tn": lstm_sentiment.build_sequence_first,
    "gru_one_way": lambda: _final_state(L.GRU(5), False, "gru_one_way"),
    "gru_reset_before_two_ways": lambda: _final_state(L.GRU(5, reset_after=False), True, "gru_two_ways"),
    "lstm_two_ways": lambda: _final_state(L.LSTM(4), True, "lstm_two_ways"),
    "rnn_two_ways": lambda: _final_state(L.SimpleRNN(4), True, "rnn_two_ways"),
    "norm_over_time": lambda: _norm_not_trailing("NTC", "T", "norm_over_time"),
    "norm_over_channels_nchw": lambda: _norm_not_trailing("NCHW", "C", "norm_over_channels"),
    "norm_over_image_nchw": lambda: _norm_not_trailing("NCHW", "CHW", "norm_over_image"),
    "swin_windows": _windows,
}


@pytest.mark.parametrize("name", list(MODELS))
def test_reads_back_the_ir_backends_file(name, tmp_path):
    model = MODELS[name]()
    path = export_onnx(model, tmp_path / f"{name}.onnx", via="ir")
    again = from_onnx(path)
    assert [t.layout for t in again.inputs] == [t.layout for t in model.inputs]
    assert [t.layout for t in again.outputs] == [t.layout for t in model.outputs]
    kinds, original = _kinds(again), _kinds(model)
    # the layers the rules rebuild come back as the same IR kinds, one for one
    for kind in (
        "LayerNorm",
        "GRU",
        "LSTM",
        "SimpleRNN",
        "Bidirectional(GRU)",
        "Bidirectional(LSTM)",
        "Bidirectional(SimpleRNN)",
    ):
        assert kinds.count(kind) == original.count(kind), (kind, kinds, original)
    report = verify(
        again, atol=ATOL, rtol=RTOL, paths=("torch", "onnx-ir"), references={"original": _torch_reference(model)}
    )
    assert report.ok, report.table()
    assert_matches_onnxruntime(path, again)


@pytest.mark.parametrize("bidirectional", [False, True], ids=["one_way", "two_ways"])
def test_final_state_form(bidirectional, tmp_path):
    """The final state as torch's exporter writes it: a Squeeze of Y_h for one direction, a 0-d Gather per
    direction then a Concat on the features for two."""
    import onnx

    model = _final_state(L.GRU(5), bidirectional, "gru")
    path = export_onnx(model, tmp_path / "gru.onnx", via="ir")
    graph = onnx.load(str(path)).graph
    ops = [n.op_type for n in graph.node]
    if bidirectional:
        inits = {i.name: i for i in graph.initializer}
        # the embedding's Gather takes the token ids; the state's take a 0-d stored index each
        picks = [n for n in graph.node if n.op_type == "Gather" and n.input[1] in inits]
        assert [onnx.numpy_helper.to_array(inits[n.input[1]]).tolist() for n in picks] == [0, 1]
        (concat,) = [n for n in graph.node if n.op_type == "Concat"]
        assert list(concat.input) == [n.output[0] for n in picks] and "Reshape" not in ops
    else:
        assert "Squeeze" in ops and "Concat" not in ops


class Norms(nn.Module):
    """LayerNorms as torch users write them: over the features, without affine weights, without a bias,
    and over the last two axes (steps and features)."""

    def __init__(self):
        super().__init__()
        self.features, self.plain = nn.LayerNorm(8), nn.LayerNorm(8, elementwise_affine=False)
        self.no_bias, self.both = nn.LayerNorm(8, bias=False), nn.LayerNorm((6, 8))

    def forward(self, x):
        return self.both(self.no_bias(self.plain(self.features(x))))


def test_torchscript_composed_layer_norm(tmp_path):
    """TorchScript at opset 16 (LayerNormalization is opset 17) writes ReduceMean, Sub, Pow(2), ReduceMean,
    Add eps, Sqrt, Div, Mul gamma, Add beta: each norm imports as one LayerNorm over the same axes."""
    import onnx

    torch.manual_seed(0)
    net = Norms().eval()
    for m in net.modules():  # weights other than ones and zeros, so a lost or misplaced one shows
        if isinstance(m, nn.LayerNorm) and m.weight is not None:
            m.weight.data.normal_()
            if m.bias is not None:
                m.bias.data.normal_()
    example = torch.randn(2, 6, 8)
    path = tmp_path / "norms.onnx"
    with (
        warnings.catch_warnings(),
        contextlib.redirect_stdout(io.StringIO()),
        contextlib.redirect_stderr(io.StringIO()),
    ):
        warnings.simplefilter("ignore")
        torch.onnx.export(
            net,
            (example,),
            str(path),
            dynamo=False,
            opset_version=16,
            input_names=["x"],
            dynamic_axes={"x": {0: "batch"}},
        )
    ops = [n.op_type for n in onnx.load(str(path)).graph.node]
    assert "LayerNormalization" not in ops and "Pow" in ops  # the composed form is what is being tested

    model = from_onnx(path)
    norms = [n.layer for n in model.layers if n.layer.kind == "LayerNorm"]
    assert len(norms) == 4
    assert [(n.scale, n.center) for n in norms] == [(True, True), (False, False), (True, False), (True, True)]
    assert [n.axis for n in norms] == ["C", "C", "C", ("T", "C")]
    assert_matches_onnxruntime(path, model, seqs=(6,))
    with torch.no_grad():
        expected = net(example).numpy()
    got = to_torch(model)(example).detach().numpy()
    np.testing.assert_allclose(got, expected, atol=ATOL, rtol=RTOL)
