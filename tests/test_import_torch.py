"""PyTorch -> IR import: torch -> IR -> torch reproduces the module; the IR verifies across Keras, torch and ONNX.

Every module here is a real ``nn.Module`` with every parameter and BatchNorm
statistic randomised (variances positive), so a weight that is dropped,
transposed or left at its initial value shows up as a difference.
"""
import operator

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import ir
from backends import emit, from_torch, to_torch
from backends.importers.torch_modules import MODULE_TABLE
from backends.importers.torch_ops import FUNCTION_TABLE, METHOD_TABLE
from exporters import verify

ATOL, RTOL = 1e-5, 1e-4


def randomize(net: nn.Module, seed: int = 0) -> nn.Module:
    """Every parameter and BatchNorm statistic random; returns the module in eval mode."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in net.named_parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.5)
        for m in net.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=g))
                m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) * 1.5 + 0.5)
    return net.eval()


def float_input(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


def ids(*shape, vocab=20, seed=0):
    return torch.randint(0, vocab, shape, generator=torch.Generator().manual_seed(seed))


def check(net, make_inputs, paths=("keras", "torch", "onnx-keras", "onnx-torch")) -> ir.Model:
    """Import ``net`` on batch-2 examples; to_torch must match ``net`` at batch 2 and 3; verify must pass."""
    model = from_torch(net, make_inputs(2, 0))
    tm = to_torch(model)
    worst = 0.0
    for batch in (2, 3):
        xs = make_inputs(batch, batch)
        with torch.no_grad():
            ref, out = net(*xs), tm(*xs)
        refs = ref if isinstance(ref, tuple) else (ref,)
        outs = out if isinstance(out, tuple) else (out,)
        assert len(refs) == len(outs)
        for r, o in zip(refs, outs):
            assert o.shape == r.shape
            torch.testing.assert_close(o, r, atol=ATOL, rtol=RTOL)
            worst = max(worst, float((o.double() - r.double()).abs().max()))
    report = verify(model, paths=paths)
    assert report.ok, "\n" + report.table()
    print(f"{type(net).__name__}: max|diff| torch -> IR -> torch vs the source: {worst:.2e}")
    return model


# -- modules covering the tables ---------------------------------------------------------------

class CNN(nn.Module):
    """Conv + BatchNorm + residual add + pooling + flatten + Linear, all channels-first."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 6, 3, padding=1), nn.BatchNorm2d(6), nn.ReLU())
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
        d = h.amax(dim=(-2, -1), keepdim=True).squeeze(-1).squeeze(-1)
        e = torch.softmax(self.avg(h), dim=1).flatten(1)
        return torch.cat([a, b, c, d], dim=1), e


class Signal(nn.Module):
    """A 1-D conv net over (N, C, L) signals."""

    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv1d(4, 6, 3, padding=1)
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
        return self.out(self.fc(h))


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
        self.mods = nn.ModuleList([nn.ReLU(), nn.Sigmoid(), nn.Tanh(), nn.GELU(approximate="tanh"), nn.SiLU(),
                                   nn.ELU(alpha=0.7), nn.SELU(), nn.LeakyReLU(0.05), nn.Softplus(),
                                   nn.Hardsigmoid(), nn.Hardswish(), nn.Softmax(dim=-1), nn.Dropout(0.3),
                                   nn.Identity()])
        self.ln = nn.LayerNorm(6, eps=1e-4)
        self.ln2 = nn.LayerNorm((2, 3), elementwise_affine=False)
        self.ln3 = nn.LayerNorm(6, bias=False)
        self.head, self.head2 = nn.Linear(6, 4), nn.Linear(6, 4)
        self.log = nn.LogSoftmax(dim=1)

    def forward(self, x):
        h = self.fc(x)
        outs = [m(h) for m in self.mods]
        funcs = [F.relu(h), F.gelu(h), F.silu(h), F.elu(h, alpha=0.5), F.selu(h), F.leaky_relu(h),
                 F.softplus(h), F.hardsigmoid(h), F.hardswish(h), F.softmax(h, dim=1), F.log_softmax(h, dim=-1),
                 torch.relu(h), torch.sigmoid(h), torch.tanh(h), torch.softmax(h, 1), torch.log_softmax(h, 1),
                 h.relu(), h.sigmoid(), h.tanh(), h.softmax(dim=1), h.log_softmax(1),
                 F.dropout(h, 0.2, training=self.training)]
        s = outs[0]
        for o in outs[1:] + funcs:
            s = s + o
        s = torch.add(s, torch.mul(s, torch.sub(s, h))).sub(h).mul(h).add(h) * h - h
        t = self.ln2(self.ln(s).reshape(s.shape[0], 2, 3)).reshape(-1, 6)
        y = self.ln3(t).unsqueeze(1).contiguous()                       # (N, 1, 6)
        y = torch.reshape(torch.transpose(y, 1, 2), (y.size(0), 6))    # a transpose of a size-1 axis
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


MODELS = {
    "cnn": (CNN, lambda b, s: (float_input(b, 3, 9, 10, seed=s),)),
    "heads": (Heads, lambda b, s: (float_input(b, 3, 7, 8, seed=s),)),
    "signal": (Signal, lambda b, s: (float_input(b, 4, 11, seed=s),)),
    "text_lstm": (TextLSTM, lambda b, s: (ids(b, 7, seed=s),)),
    "text_gru": (TextGRU, lambda b, s: (ids(6, b, seed=s),)),
    "birnn": (BiRNN, lambda b, s: (float_input(b, 5, 3, seed=s),)),
    "zoo": (Zoo, lambda b, s: (float_input(b, 5, seed=s),)),
    "sequence": (Sequence, lambda b, s: (float_input(b, 5, 4, seed=s),)),
}


@pytest.mark.parametrize("name", list(MODELS))
def test_import_matches_torch(name):
    cls, make = MODELS[name]
    check(randomize(cls(), seed=len(name)), make)
