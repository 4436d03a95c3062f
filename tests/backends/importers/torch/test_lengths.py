"""from_torch keeps sequence lengths symbolic where the module allows it (``torch_capture.probe_lengths``).

Each module is imported on examples of one length; the IR must declare that
axis None, ``to_torch`` must equal the source at two other lengths (batch 3),
and ``verify`` must pass (it checks lengths 5 and 9 when an axis is symbolic).
A forward that bakes the length in keeps it fixed, and so does ``fixed_lengths=True``.
"""

import pytest
import torch
from gaps import known_gap
from torch import nn
from torch_import_check import ATOL, RTOL, float_input, ids, randomize

from examples.torch_archs import TransformerClassifier, pad_mask
from examples.torch_archs import converted_inputs as fed
from twinnet.backends import from_torch, to_torch
from twinnet.exporters import verify


class LSTMText(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed, self.lstm, self.fc = nn.Embedding(20, 4), nn.LSTM(4, 3, batch_first=True), nn.Linear(3, 2)

    def forward(self, tokens):
        return self.fc(self.lstm(self.embed(tokens))[0][:, -1])


class GRUSeqFirst(nn.Module):
    """A float (T, B, C) sequence (batch_first=False) classified from h_n."""

    def __init__(self):
        super().__init__()
        self.gru, self.fc = nn.GRU(3, 4), nn.Linear(4, 2)

    def forward(self, x):
        _, h = self.gru(x)
        return self.fc(h[-1])


class ConvSame(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1, self.conv2 = nn.Conv1d(3, 4, 3, padding="same"), nn.Conv1d(4, 5, 3, stride=2, padding=1)
        self.pool, self.fc = nn.AdaptiveAvgPool1d(1), nn.Linear(5, 2)

    def forward(self, x):
        return self.fc(torch.flatten(self.pool(torch.relu(self.conv2(torch.relu(self.conv1(x))))), 1))


class ConvGRU(nn.Module):
    """Conv1d features read by a GRU: the (N, W, C) transpose is relabelled NTC with an unknown length."""

    def __init__(self):
        super().__init__()
        self.conv, self.gru = nn.Conv1d(3, 4, 3, padding="same"), nn.GRU(4, 5, batch_first=True)

    def forward(self, x):
        return self.gru(self.conv(x).transpose(1, 2))[0]


class SizeReshapes(nn.Module):
    """Reshapes written with ``x.size(1)``: fx records the calls, the length axis becomes the target's -1."""

    def __init__(self):
        super().__init__()
        self.fc, self.lstm = nn.Linear(3, 6), nn.LSTM(6, 4, batch_first=True)

    def forward(self, x):
        b, t = x.size(0), x.size(1)
        h = self.fc(x).view(b, t, 2, 3)
        return self.lstm(h.reshape(b, t, 6))[0]


class CeilPool(nn.Module):
    """MaxPool1d(ceil_mode=True) adds a partial window only at odd lengths: exact at 8, not at the probe's 17."""

    def __init__(self):
        super().__init__()
        self.conv, self.pool = nn.Conv1d(2, 3, 3, padding=1), nn.MaxPool1d(2, ceil_mode=True)

    def forward(self, x):
        return self.pool(self.conv(x))


class Baked(nn.Module):
    """Its forward writes the length as a literal: only length 20 runs."""

    def __init__(self):
        super().__init__()
        self.embed, self.fc = nn.Embedding(20, 4), nn.Linear(80, 2)

    def forward(self, tokens):
        h = self.embed(tokens)
        return self.fc(h.view(h.shape[0], 20 * 4))


CASES = {
    "lstm_batch_first": (LSTMText, lambda b, t, s: (ids(b, t, seed=s),), [(None, None)]),
    "gru_seq_first": (GRUSeqFirst, lambda b, t, s: (float_input(t, b, 3, seed=s),), [(None, None, 3)]),
    "conv1d_same": (ConvSame, lambda b, t, s: (float_input(b, 3, t, seed=s),), [(None, 3, None)]),
    "conv1d_gru": (ConvGRU, lambda b, t, s: (float_input(b, 3, t, seed=s),), [(None, 3, None)]),
    "size_reshapes": (SizeReshapes, lambda b, t, s: (float_input(b, t, 3, seed=s),), [(None, None, 3)]),
    "transformer": (
        lambda: TransformerClassifier(),
        lambda b, t, s: (ids(b, t, vocab=30, seed=s), pad_mask(b, t, s)),
        [(None, None), (None, None)],
    ),
}


@pytest.mark.parametrize("name", list(CASES))
def test_sequence_length_is_symbolic(name):
    cls, make, shapes = CASES[name]
    net = randomize(cls(), seed=len(name))
    model = from_torch(net, make(2, 7, 0))
    assert [t.shape for t in model.inputs] == shapes
    tm = to_torch(model)
    for length in (4, 10):
        xs = make(3, length, length)
        with torch.no_grad():
            torch.testing.assert_close(tm(*fed(xs)), net(*xs), atol=ATOL, rtol=RTOL)
    report = verify(model)  # lengths 5 and 9
    assert report.ok, "\n" + report.table()


def test_baked_length_stays_fixed():
    net = randomize(Baked())
    model = from_torch(net, (ids(2, 20),))
    assert model.inputs[0].shape == (None, 20)
    x = ids(3, 20, seed=1)
    with torch.no_grad():
        torch.testing.assert_close(to_torch(model)(x), net(x), atol=ATOL, rtol=RTOL)


def test_length_the_ir_cannot_follow_stays_fixed():
    # the IR's pooling has no partial window: its shape rule at the probe length differs from torch's
    net = randomize(CeilPool())
    model = from_torch(net, (float_input(2, 2, 8),))
    assert model.inputs[0].shape == (None, 2, 8)
    x = float_input(3, 2, 8, seed=1)
    with torch.no_grad():
        torch.testing.assert_close(to_torch(model)(x), net(x), atol=ATOL, rtol=RTOL)


def test_fixed_lengths_keeps_the_example_length():
    model = from_torch(randomize(LSTMText()), (ids(2, 7),), fixed_lengths=True)
    assert model.inputs[0].shape == (None, 7)


@known_gap("torch-import-fixed-image-size")
def test_image_size_stays_fixed():
    net = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 2))
    model = from_torch(net, (float_input(2, 3, 9, 10),))
    assert model.inputs[0].shape == (None, 3, None, None)


def test_dynamic_images_follow_the_input():
    # a convnet imported at 9 x 10 runs at other sizes: H and W are probed like sequence lengths
    net = randomize(
        nn.Sequential(
            nn.Conv2d(3, 4, 3, padding=1),
            nn.BatchNorm2d(4),
            nn.ReLU(),
            nn.Conv2d(4, 4, 3, stride=2),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Linear(4, 2),
        )
    )
    model = from_torch(net, (float_input(2, 3, 9, 10),), dynamic_images=True)
    assert model.inputs[0].shape == (None, 3, None, None)
    tm = to_torch(model)
    for b, h, w in ((2, 12, 7), (3, 16, 16)):
        x = float_input(b, 3, h, w, seed=h)
        with torch.no_grad():
            torch.testing.assert_close(tm(x), net(x), atol=ATOL, rtol=RTOL)
    assert verify(model).ok


def test_image_size_baked_in_stays_fixed():
    # a flatten into a Linear fixes H * W; a max pool with torch's pads needs a known size in Keras
    pooled = randomize(nn.Sequential(nn.Conv2d(3, 4, 3), nn.MaxPool2d(3, 2, padding=1), nn.AdaptiveAvgPool2d(1)))
    assert from_torch(pooled, (float_input(2, 3, 9, 10),), dynamic_images=True).inputs[0].shape == (None, 3, 9, 10)
    net = randomize(nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.Flatten(), nn.Linear(4 * 9 * 10, 2)))
    model = from_torch(net, (float_input(2, 3, 9, 10),), dynamic_images=True)
    assert model.inputs[0].shape == (None, 3, 9, 10)
