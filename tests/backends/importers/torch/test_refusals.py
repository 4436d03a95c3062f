"""PyTorch -> IR import refusals: everything the IR cannot represent is listed in one UnsupportedError."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch_import_check import float_input, problems

from twinnet import ir
from twinnet.backends import from_torch


class Unsupported(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = nn.TransformerEncoderLayer(8, 2, dim_feedforward=16, batch_first=True, activation=F.silu)
        self.fc = nn.Linear(8, 8)
        self.up = nn.ConvTranspose1d(5, 5, 2, groups=5)
        self.lstm = nn.LSTM(8, 4, batch_first=True)
        self.bn = nn.BatchNorm1d(5, track_running_stats=False)
        self.pool = nn.LPPool1d(2, 3, stride=1)  # no IR layer
        self.relu6 = nn.Hardtanh(-1.0, 1.0)

    def forward(self, x):  # (N, 5, 8)
        h = self.encoder(x)
        f = torch.fft.fft(self.fc(h)).real
        u = self.up(self.relu6(x))
        _, (hn, cn) = self.lstm(x)
        return 2.0 / f, u, cn[-1], self.pool(self.bn(x)), x[:, ::2]


def test_unsupported_modules_and_ops_are_all_listed():
    err, found = problems(Unsupported(), float_input(2, 5, 8))
    assert set(found) == {"encoder", "fft_fft", "truediv", "up", "relu6", "getitem_4", "bn", "pool"}, sorted(found)
    assert "TransformerEncoderLayer" in found["encoder"].what and "activation" in found["encoder"].reason
    assert "groups" in found["up"].reason and "lower bound" in found["relu6"].reason
    assert "reciprocal" in found["truediv"].reason  # a slice with step 2 is a Narrow op now
    assert "cell state" in found["getitem_4"].reason
    assert "LPPool1d" in found["pool"].what and "track_running_stats" in found["bn"].reason
    assert "fc" not in found  # the layer behind the refused encoder is itself fine
    for where in found:
        assert repr(where) in str(err)


def test_option_refusals():
    class Options(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(2, 2, 3, padding=1, padding_mode="reflect")
            self.gru = nn.GRU(4, 3, batch_first=True, bidirectional=True)
            self.soft = nn.Softplus(beta=2.0)
            self.shared = nn.Linear(6, 6)

        def forward(self, img, seq):
            out, _ = self.gru(seq)
            return self.conv(img), out[:, -1], self.soft(seq), self.shared(self.shared(out)), F.dropout(seq, 0.1)

    _, found = problems(Options(), float_input(2, 2, 5, 5), float_input(2, 3, 4))
    assert "padding_mode" in found["conv"].reason
    assert not any("bidirectional" in p.reason for p in found.values())  # out[:, -1] is a slice (test_rnn_slices)
    assert "beta" in found["soft"].reason and "shared" in found["shared"].reason
    assert "training=True" in found["dropout"].reason


def test_untraceable_forward_is_refused():
    class Branchy(nn.Module):
        def forward(self, x):
            return x if x.sum() > 0 else -x

    with pytest.raises(ir.UnsupportedError, match="torch.fx could not trace"):
        from_torch(Branchy(), (float_input(2, 3),))


@pytest.mark.filterwarnings("ignore:Implicit dimension choice")  # nn.Softmax() warns when the import runs it
@pytest.mark.parametrize(
    "net, shape, reason",
    [
        (nn.MaxPool2d(3, stride=2, padding=1, dilation=2), (2, 9, 10), "dilation"),
        (nn.Softmax(), (2, 4, 4), "dim=None"),
        (nn.Flatten(0), (3,), "start_dim"),
    ],
    ids=["pool_dilation", "softmax_no_dim", "flatten_batch"],
)
def test_module_option_refusals(net, shape, reason):
    _, found = problems(nn.Sequential(net), float_input(2, *shape))
    assert list(found) == ["0"] and reason in found["0"].reason, found


def test_bad_arguments_are_clear_errors():
    with pytest.raises(ir.UnsupportedError, match="takes a torch.nn.Module"):
        from_torch("not a module", (float_input(2, 3),))
    with pytest.raises(ir.UnsupportedError, match="example_inputs"):
        from_torch(nn.Linear(3, 2), ([1, 2, 3],))
    with pytest.raises(ir.UnsupportedError, match="1 input"):
        from_torch(nn.Linear(3, 2), (float_input(2, 3), float_input(2, 3)))
    with pytest.raises(ir.UnsupportedError, match="failed on the example inputs"):
        from_torch(nn.Linear(3, 2), (float_input(2, 4),))
    # a float64 module is refused whole, before any node: its precision is not one the IR holds
    _, found = problems(nn.Sequential(nn.Linear(3, 2)).double(), float_input(2, 3).double())
    assert list(found) == ["(module)"] and "float64" in found["(module)"].reason, found


def test_new_layer_refusals():
    class Options(nn.Module):
        def __init__(self):
            super().__init__()
            self.attn = nn.MultiheadAttention(4, 2, batch_first=True)
            self.attn2 = nn.MultiheadAttention(4, 2, batch_first=True)
            self.attn3 = nn.MultiheadAttention(4, 2, batch_first=True, add_bias_kv=True)
            self.register_buffer("band", torch.ones(3, 3, dtype=torch.bool).tril(-2))
            self.up = nn.Upsample(scale_factor=1.5)
            self.lin = nn.Upsample(scale_factor=2, mode="bilinear", align_corners=True)

        def forward(self, seq, pad, img):
            a = self.attn(seq, seq, seq, key_padding_mask=pad.float())[0]
            b = self.attn2(seq, seq, seq, attn_mask=self.band)[0]
            c = self.attn3(seq, seq, seq)[0]
            return a, b, c, self.up(img), self.lin(img), F.pad(img, (1, 1), value=1.0), torch.cat([pad, pad], dim=1)

    pad = torch.zeros(2, 3, dtype=torch.bool)
    _, found = problems(Options(), float_input(2, 3, 4), pad, float_input(2, 2, 4, 4))
    assert "bool model input" in found["attn"].reason
    assert "band" not in found and "constant causal mask" in found["attn2"].reason  # a non-causal mask buffer
    assert "add_bias_kv" in found["attn3"].reason
    assert "integer" in found["up"].reason and "align_corners" in found["lin"].reason
    assert "zero padding" in found["pad_1"].reason
    assert "bool input" in found["cat"].reason


def test_a_reshape_merging_the_batch_is_refused_as_that_under_torch_fx():
    """``x.reshape(-1, 2, 2)`` folds the batch into its first axis (MobileViT's patches): under the torch.fx
    fallback (the FFT refuses the exported graph) it is named as a reshape merging the batch axis, not as a
    reshape of one sample's entries into fewer."""

    class Patches(nn.Module):
        def forward(self, x):  # (N, 4, 2, 2)
            return torch.fft.fft(x).real, x.reshape(-1, 2, 2) * 2.0

    _, found = problems(Patches(), float_input(2, 4, 2, 2))
    assert "merge the batch axis" in found["reshape"].reason, found["reshape"].reason
