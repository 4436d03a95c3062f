"""An RNN's sequence output indexed other than at its last step imports as a slice of the whole sequence:
a bidirectional ``out[:, -1]`` (forward last step beside backward first step), ``out[:, 0]``, ``out[:, 2:5]``.
Each is compared with the source module in torch and Keras (``torch_import_check.check``)."""

from __future__ import annotations

import pytest
from torch import nn
from torch_import_check import check, float_input, randomize


class Indexed(nn.Module):
    def __init__(self, rnn, index, width):
        super().__init__()
        self.rnn, self.index = rnn, index
        self.fc = nn.Linear(width, 3)

    def forward(self, x):
        out, _ = self.rnn(x)
        return self.fc(out[self.index])


PATHS = ("keras", "torch")  # the ONNX exporters see nothing new here: GRU/LSTM, Slice, Dense

CASES = {
    "bigru_last": (nn.GRU(4, 5, batch_first=True, bidirectional=True), (slice(None), -1), 10),
    "bilstm_last": (nn.LSTM(4, 5, batch_first=True, bidirectional=True), (slice(None), -1), 10),
    "gru_first": (nn.GRU(4, 5, batch_first=True), (slice(None), 0), 5),
    "lstm_range": (nn.LSTM(4, 5, batch_first=True), (slice(None), slice(2, 5)), 5),
    "bigru_seq_first_last": (nn.GRU(4, 5, bidirectional=True), -1, 10),
}


@pytest.mark.parametrize("name", CASES)
def test_sequence_output_slices(name):
    rnn, index, width = CASES[name]
    net = randomize(Indexed(rnn, index, width))
    shape = (7, 4) if rnn.batch_first else None
    if shape is None:  # sequence first: (T, N, C), the batch on axis 1
        model = check(net, lambda b, s: (float_input(7, b, 4, seed=s),), paths=PATHS)
    else:
        model = check(net, lambda b, s: (float_input(b, *shape, seed=s),), paths=PATHS)
    assert any(n.layer.kind == "Bidirectional" or n.layer.kind in ("GRU", "LSTM") for n in model.layers)
