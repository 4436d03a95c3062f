"""PyTorch -> IR import: torch -> IR -> torch reproduces the module; the IR verifies across Keras, torch and ONNX.

Every module here is a real ``nn.Module`` with every parameter and BatchNorm
statistic randomised (variances positive), so a weight that is dropped,
transposed or left at its initial value shows up as a difference.
Refusals are in ``test_import_torch_refusals.py``.
"""

import pytest
import torch
import torch.nn.functional as F
from siblings import sibling
from torch import nn
from torch_import_check import check, float_input, ids, randomize

from twinnet.backends import emit, from_torch
from twinnet.backends.importers.torch.aten import ATEN_TABLE
from twinnet.backends.importers.torch.einsum import EINSUM
from twinnet.backends.importers.torch.hf_table import HF_FUNCTIONS
from twinnet.backends.importers.torch.tables import FUNCTION_TABLE, METHOD_TABLE, MODULE_TABLE

OPS = sibling("backends/importers/torch/test_ops.py").MODELS
MASKED = sibling("backends/importers/torch/test_variants.py").MASKED
VARIANTS = sibling("backends/importers/torch/test_variants.py").MODELS


# -- modules covering the tables ---------------------------------------------------------------


class CNN(nn.Module):
    """Conv + BatchNorm + residual add + pooling + flatten + Linear, all channels-first."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 6, 3, padding=1), nn.BatchNorm2d(6), nn.ReLU(), nn.Dropout2d(0.2))
        self.conv = nn.Conv2d(6, 6, 3, padding="same", dilation=(2, 1), bias=False)
        self.bn = nn.BatchNorm2d(6, eps=1e-3, momentum=0.2)
        self.pool = nn.MaxPool2d(2)
        self.down = nn.Conv2d(6, 4, (3, 2), stride=2, padding=(1, 0))
        self.avg = nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)
        self.fc = nn.Linear(4 * 2 * 2, 5)

    def forward(self, x):
        h = self.stem(x)
        h = h + self.bn(self.conv(h))
        h = self.avg(self.down(self.pool(h)))
        return self.fc(h.view(h.size(0), -1))


class Heads(nn.Module):
    """Global pooling heads: adaptive pools, mean/amax over H and W, softmax over channels."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding="valid")
        self.gap, self.gmp = nn.AdaptiveAvgPool2d(1), nn.AdaptiveMaxPool2d((1, 1))
        self.flat = nn.Flatten()
        self.avg = nn.AvgPool2d(2)

    def forward(self, x):
        h = self.conv(x)
        a = self.flat(self.gap(h))
        b = torch.flatten(self.gmp(h), 1)
        c = torch.mean(h, dim=(2, 3))
        d = torch.amax(h, dim=(-2, -1), keepdim=True).squeeze(-1).squeeze(-1)
        d = d + torch.unsqueeze(h.amax(dim=(2, 3)), 1).flatten(1)
        e = torch.softmax(self.avg(h), dim=1).flatten(1)
        f = F.max_pool2d(h, 3, 1, 1) + F.avg_pool2d(h, kernel_size=3, stride=1, padding=1, count_include_pad=False)
        f = F.max_pool2d(f, 2)
        g = torch.maximum(F.adaptive_avg_pool2d(f, 1), F.adaptive_max_pool2d(f, (1, 1))).flatten(1)
        return torch.cat([a, b, c, d, g], dim=1), e


class Signal(nn.Module):
    """A 1-D conv net over (N, C, L) signals."""

    def __init__(self):
        super().__init__()
        self.c1 = nn.Sequential(nn.Dropout1d(0.1), nn.Conv1d(4, 6, 3, padding=1))
        self.bn = nn.BatchNorm1d(6)
        self.c2 = nn.Conv1d(6, 6, 4, padding="same", dilation=2)
        self.c3 = nn.Conv1d(6, 5, 3, stride=2, bias=False)
        self.pool, self.avg = nn.MaxPool1d(3, stride=1, padding=1), nn.AvgPool1d(2)
        self.gap, self.gmp = nn.AdaptiveAvgPool1d(1), nn.AdaptiveMaxPool1d(1)
        self.fc = nn.Linear(10, 3)
        self.out = nn.LogSoftmax(dim=1)

    def forward(self, x):
        h = F.gelu(self.bn(self.c1(x)))
        h = self.pool(self.c2(h))
        h = self.avg(self.c3(h))
        h = torch.cat([self.gap(h), self.gmp(h)], dim=1).flatten(1)
        g = F.avg_pool1d(F.max_pool1d(x, 3, 1, 1), 11, ceil_mode=True)  # ceil_mode changes nothing here
        g = (F.adaptive_avg_pool1d(g, 1) - F.adaptive_max_pool1d(g, 1)).flatten(1)
        return self.out(self.fc(h)), g


class TextLSTM(nn.Module):
    """Embedding -> 2-layer batch-first LSTM -> last step -> Linear."""

    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(20, 6, padding_idx=0)
        self.lstm = nn.LSTM(6, 5, num_layers=2, batch_first=True)
        self.fc = nn.Linear(5, 2)

    def forward(self, tokens):
        out, _ = self.lstm(self.embed(tokens))
        return self.fc(out[:, -1])


class TextGRU(nn.Module):
    """Embedding -> sequence-first GRU -> h_n[-1] -> Linear -> sigmoid; and the whole sequence."""

    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(20, 6)
        self.gru = nn.GRU(6, 4)
        self.fc = nn.Linear(4, 1)

    def forward(self, tokens):  # (T, N)
        out, h = self.gru(self.embed(tokens))
        return torch.sigmoid(self.fc(h[-1])), out


class BiRNN(nn.Module):
    """Bidirectional LSTM (last output = cat(h_n[-2], h_n[-1])), bidirectional GRU sequence, a ReLU RNN."""

    def __init__(self):
        super().__init__()
        self.proj = nn.Linear(3, 4)
        self.norm = nn.LayerNorm(4)
        self.bilstm = nn.LSTM(4, 3, batch_first=True, bidirectional=True)
        self.bigru = nn.GRU(4, 3, batch_first=True, bidirectional=True, num_layers=2)
        self.rnn = nn.RNN(4, 2, batch_first=True, nonlinearity="relu")

    def forward(self, x):  # (N, T, C)
        h = self.norm(self.proj(x))
        _, (hn, _) = self.bilstm(h)
        last = torch.cat([hn[-2], hn[-1]], dim=1)
        seq, _ = self.bigru(h)
        _, hr = self.rnn(h)
        return last, seq.mean(dim=1), hr.squeeze(0)


class Zoo(nn.Module):
    """Every activation (modules, functions, methods), merges, layouts changes and LayerNorm."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(5, 6)
        self.mods = nn.ModuleList(
            [
                nn.ReLU(),
                nn.Sigmoid(),
                nn.Tanh(),
                nn.GELU(approximate="tanh"),
                nn.SiLU(),
                nn.ELU(alpha=0.7),
                nn.SELU(),
                nn.LeakyReLU(0.05),
                nn.Softplus(),
                nn.Hardsigmoid(),
                nn.Hardswish(),
                nn.Softmax(dim=-1),
                nn.Dropout(0.3),
                nn.Identity(),
            ]
        )
        self.ln = nn.LayerNorm(6, eps=1e-4)
        self.ln2 = nn.LayerNorm((2, 3), elementwise_affine=False)
        self.ln3 = nn.LayerNorm(6, bias=False)
        self.head, self.head2 = nn.Linear(6, 4), nn.Linear(6, 4)
        self.log = nn.LogSoftmax(dim=1)

    def forward(self, x):
        h = self.fc(x)
        outs = [m(h) for m in self.mods]
        funcs = [
            F.relu(h),
            F.gelu(h),
            F.silu(h),
            F.elu(h, alpha=0.5),
            F.selu(h),
            F.leaky_relu(h),
            F.softplus(h),
            F.hardsigmoid(h),
            F.hardswish(h),
            F.softmax(h, dim=1),
            F.log_softmax(h, dim=-1),
            torch.relu(h),
            torch.sigmoid(h),
            torch.tanh(h),
            torch.softmax(h, 1),
            torch.log_softmax(h, 1),
            h.relu(),
            h.sigmoid(),
            h.tanh(),
            h.softmax(dim=1),
            h.log_softmax(1),
            F.dropout(h, 0.2, training=self.training),
        ]
        s = outs[0]
        for o in outs[1:] + funcs:
            s = s + o
        s = torch.add(s, torch.mul(s, torch.sub(s, h))).sub(h).mul(h).add(h) * h - h
        t = self.ln2(self.ln(s).reshape(s.shape[0], 2, 3)).reshape(-1, 6)
        y = self.ln3(t).unsqueeze(1).contiguous()  # (N, 1, 6)
        y = torch.reshape(torch.transpose(y, 1, 2), (y.size(0), 6))  # a transpose of a size-1 axis
        z = torch.concat([self.log(self.head(y)), torch.squeeze(self.head2(s).unsqueeze(2), 2)], dim=-1)
        return z, torch.permute(x.unsqueeze(-1), (0, 2, 1)).permute(0, 1, 2)


class Sequence(nn.Module):
    """A (N, T, C) sequence through Linear and a time-axis permute into Conv1d."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 6)
        self.conv = nn.Conv1d(6, 3, 2)

    def forward(self, x):
        return self.conv(self.fc(x).permute(0, 2, 1)).transpose(1, 2)


class SeqFirst(nn.Module):
    """A float (T, N, C) sequence into a sequence-first LSTM: the whole output and h_n[-1]."""

    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(4, 3)

    def forward(self, x):
        out, (h, _) = self.lstm(x)
        return out, h[-1]


class Relabel(nn.Module):
    """A Linear over the length axis of an (N, C, L) signal: the axis is renamed, no data moves."""

    def __init__(self):
        super().__init__()
        self.bn = nn.BatchNorm1d(4)
        self.fc = nn.Linear(6, 2)

    def forward(self, x):
        return self.fc(self.bn(x))


MODELS = {
    "cnn": (CNN, lambda b, s: (float_input(b, 3, 9, 10, seed=s),)),
    "heads": (Heads, lambda b, s: (float_input(b, 3, 7, 8, seed=s),)),
    "signal": (Signal, lambda b, s: (float_input(b, 4, 11, seed=s),)),
    "text_lstm": (TextLSTM, lambda b, s: (ids(b, 7, seed=s),)),
    "text_gru": (TextGRU, lambda b, s: (ids(6, b, seed=s),)),
    "birnn": (BiRNN, lambda b, s: (float_input(b, 5, 3, seed=s),)),
    "zoo": (Zoo, lambda b, s: (float_input(b, 5, seed=s),)),
    "sequence": (Sequence, lambda b, s: (float_input(b, 5, 4, seed=s),)),
    "seq_first": (SeqFirst, lambda b, s: (float_input(5, b, 4, seed=s),)),
    "relabel": (Relabel, lambda b, s: (float_input(b, 4, 6, seed=s),)),
}


@pytest.mark.parametrize("name", list(MODELS))
def test_import_matches_torch(name):
    cls, make = MODELS[name]
    check(randomize(cls(), seed=len(name)), make)


def test_names_layouts_and_weights_carry_over():
    net = randomize(CNN())
    model = from_torch(net, (float_input(2, 3, 9, 10),))
    assert model.name == "CNN" and model.inputs[0].layout == "NCHW" and model.inputs[0].shape == (None, 3, 9, 10)
    bn = model.node("bn").layer
    assert (bn.epsilon, bn.momentum) == (1e-3, pytest.approx(0.8))  # torch momentum 0.2 = IR (Keras) 0.8
    assert torch.equal(torch.from_numpy(model.weights["bn/moving_variance"]), net.bn.running_var)
    assert model.node("stem_0").layer.padding == "same"  # torch's padding=1, 3x3, stride 1 (the same_padding rewrite)
    assert not net.training  # the import leaves training flags as they were
    net.train()
    from_torch(net, (float_input(2, 3, 9, 10),))
    assert net.training and net.bn.training
    assert from_torch(TextGRU(), (ids(6, 2),)).inputs[0].layout == "TN"
    assert from_torch(TextLSTM(), (ids(2, 7),)).inputs[0].layout == "NT"
    assert from_torch(BiRNN(), (float_input(2, 5, 3),)).inputs[0].layout == "NTC"
    assert from_torch(Signal(), (float_input(2, 4, 11),)).inputs[0].layout == "NCW"
    assert from_torch(SeqFirst(), (float_input(5, 2, 4),)).inputs[0].layout == "TNC"


def test_every_table_entry_is_exercised():
    used_modules, used_functions, used_methods = set(), set(), set()
    for cls, make in [*MODELS.values(), *VARIANTS.values(), *MASKED.values(), *OPS.values()]:
        net = cls()
        used_modules |= {type(m) for m in net.modules()}
        graph = torch.fx.symbolic_trace(net).graph  # the default tracer keeps the same nn leaves
        for node in graph.nodes:
            if node.op == "call_function":
                used_functions.add(node.target)
            elif node.op == "call_method":
                used_methods.add(getattr(torch.Tensor, node.target))
    used_functions |= {getattr}  # x.shape; exercised in test_shape_arithmetic
    missing = [c.__name__ for c in MODULE_TABLE if c not in used_modules]
    # the ATen ops torch.export records are checked by test_aten.py
    # ... the functions the Hugging Face rewrites add by test_hf_capture.py, and einsum's refusal by test_einsum.py
    exercised = used_functions | set(ATEN_TABLE) | set(HF_FUNCTIONS) | set(EINSUM)
    missing += [getattr(f, "__name__", str(f)) for f in FUNCTION_TABLE if f not in exercised]
    missing += [f"Tensor.{m.__name__}" for m in METHOD_TABLE if m not in used_methods]
    assert not missing, f"no import test uses {missing}"


class ShapeArithmetic(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(2, 3, 3)
        self.fc = nn.Linear(3 * 3 * 4, 2)

    def forward(self, x):
        h = self.conv(x)
        n, c, hh, ww = h.shape
        return self.fc(h.reshape(n, c * hh * ww))


def test_shape_arithmetic():
    check(randomize(ShapeArithmetic()), lambda b, s: (float_input(b, 2, 5, 6, seed=s),), paths=("keras", "torch"))


@pytest.mark.parametrize("name", ["cnn", "signal", "text_lstm", "text_gru", "birnn", "seq_first", "relabel"])
def test_converted_torch_has_no_transposes(name):
    cls, make = MODELS[name]
    source = emit(from_torch(randomize(cls()), make(2, 0)), "torch")
    forward = source.split("def forward", 1)[1].split("def load_weights", 1)[0]
    for word in ("permute", "transpose", "movedim", "swapaxes"):
        assert word not in forward, forward


OPTION_CASES = {
    "grouped_strided_conv2d": (
        nn.Sequential(nn.Conv2d(4, 6, 3, stride=2, padding=1, groups=2)),
        (4, 9, 10),
        ("keras", "torch", "onnx-torch"),
    ),  # known gap onnx-keras-grouped-conv
    "rect_conv2d": (
        nn.Sequential(nn.Conv2d(3, 4, (2, 3), stride=(2, 1), padding=(0, 1), bias=False)),
        (3, 9, 10),
        None,
    ),
    "strided_conv1d": (
        nn.Sequential(nn.Conv1d(3, 4, 5, stride=2, padding=2), nn.AvgPool1d(3, 1, 1, count_include_pad=False)),
        (3, 11),
        None,
    ),
    "maxpool_same": (nn.Sequential(nn.MaxPool2d(3, stride=2, padding=1)), (2, 9, 9), None),
    # explicit pads that are not TF 'same' (TF would pad (0, 1) along the even width): -inf pads for max,
    # the padded window (torch's default) or the real count for average
    "pool_explicit_pads": (
        nn.Sequential(
            nn.MaxPool2d(3, stride=2, padding=1), nn.AvgPool2d(3, 1, 1), nn.AvgPool2d(3, 2, 1, count_include_pad=False)
        ),
        (2, 9, 10),
        None,
    ),
    "ceil_mode_harmless": (
        nn.Sequential(nn.MaxPool2d(2, ceil_mode=True), nn.AvgPool2d(2, ceil_mode=True)),
        (2, 8, 8),
        None,
    ),
    "batchnorm_no_affine": (nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4, affine=False), nn.Tanh()), (3,), None),
}


@pytest.mark.parametrize("name", list(OPTION_CASES))
def test_module_options(name):
    net, shape, paths = OPTION_CASES[name]
    check(
        randomize(net),
        lambda b, s: (float_input(b, *shape, seed=s),),
        paths=paths or ("keras", "torch", "onnx-keras", "onnx-torch"),
    )
