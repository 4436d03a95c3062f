"""PyTorch -> IR import of the element-wise and shape ops hand-written blocks use: arithmetic with constants,
indexing and slicing, split / chunk / narrow, flatten(start_dim), squeeze-excitation gates, and the residual,
inverted-residual, dense-concat, inception-style and GLU blocks built from them.

Each module is real and randomised; ``check`` imports it, compiles the IR back to torch (equal to the source at
batch 2 and 3) and verifies the IR on the Keras, torch and both ONNX paths.
"""

import torch
import torch.nn.functional as F
from torch import nn
from torch_import_check import ATOL, RTOL, check, float_input, ids, problems, randomize

from twinnet.backends import emit, from_torch, to_torch
from twinnet.ir import layers as L


def kinds(model) -> set:
    return {type(n.layer).__name__ for n in model.layers}


def run(name: str):
    cls, make = MODELS[name]
    return check(randomize(cls()), make)


class Arithmetic(nn.Module):
    """Every tensor-and-constant form, a one-number buffer and a traced constant: all Rescaling."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.register_buffer("gain", torch.tensor(0.75))

    def forward(self, x):
        h = self.conv(x)
        a = (h * 2.5 + 1) - 0.5  # x * c, x + c, x - c
        b = 1.0 - h / 3.0  # x / c (as x * (1/c), ~1e-7 relative), c - x
        c = -h * self.gain  # -x, a one-number buffer
        d = torch.mul(h, 0.5).add(2).sub(torch.tensor(0.25)).div(4.0)  # functions, methods, a traced constant
        e = torch.neg(torch.true_divide(h, 2)).true_divide(5).neg() + torch.div(h, 8)
        return a + b + c + 2 * d + e


def test_arithmetic_with_constants_is_rescaling():
    model = run("arithmetic")
    assert kinds(model) == {"Conv2D", "Rescaling", "Add"}


class Slicing(nn.Module):
    """Spatial crops (one Cropping2D), channel ranges (Slice), selecting a row and a step."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 6, 3, padding=1)
        self.seq = nn.Linear(5, 4)

    def forward(self, img, seq):
        h = self.conv(img)  # (N, 6, 7, 8)
        crop = h[:, :, 1:-2, 2:]  # H and W: Cropping2D
        chans = h[..., 1:5, :, :][:, 1:]  # C twice (Ellipsis, chained getitems): Slice
        row = h[:, :, 3]  # one row of H: NCW
        s = self.seq(seq)  # (N, 7, 4)
        return crop, chans, row, s[:, -1], s[:, 2:5], s[:, 0, 1:3]


def test_indexing_and_slicing():
    model = run("slicing")
    assert {"Cropping2D", "Slice", "Reshape", "Cropping1D"} <= kinds(model)
    assert [o.layout for o in model.outputs] == ["NCHW", "NCHW", "NCW", "NC", "NTC", "NC"]


class GatedAndInception(nn.Module):
    """GLU halves (chunk), inception branches (split with sizes), narrow, and a dense concat of them."""

    def __init__(self):
        super().__init__()
        self.expand = nn.Conv1d(4, 8, 3, padding=1)
        self.stem = nn.Conv2d(3, 9, 1)
        self.b1, self.b2 = nn.Conv2d(2, 3, 1), nn.Conv2d(3, 3, 3, padding=1)
        self.b3 = nn.Conv2d(4, 2, 5, padding=2)

    def forward(self, sig, img):
        a, b = self.expand(sig).chunk(2, dim=1)  # GLU: a * sigmoid(b)
        glu = a * torch.sigmoid(b)
        stem = self.stem(img)
        x1, x2, x3 = torch.split(stem, [2, 3, 4], dim=1)
        mixed = torch.cat([self.b1(x1), self.b2(x2), self.b3(x3), img.narrow(1, 1, 2)], dim=1)
        halves = torch.chunk(mixed, 3, dim=1)  # 10 channels in chunks of 4, 4, 2
        return glu, halves[0] + halves[1], halves[2] + torch.narrow(halves[0], 1, 0, 2), stem.split(4, dim=-1)[1]


def test_split_chunk_narrow_into_slices():
    model = run("gated")
    assert "Slice" in kinds(model)


class SqueezeExcite(nn.Module):
    """Inverted residual with an SE gate: sigmoid(fc(mean)) * x both ways round, flatten(2) and transpose."""

    def __init__(self):
        super().__init__()
        self.expand, self.dw = (
            nn.Conv2d(4, 8, 1),
            nn.Conv2d(8, 8, 3, padding=1),
        )  # (grouped: gap onnx-keras-grouped-conv)
        self.fc1, self.fc2 = nn.Conv2d(8, 2, 1), nn.Conv2d(2, 8, 1)
        self.project = nn.Conv2d(8, 4, 1)
        self.norm = nn.LayerNorm(4)

    def forward(self, x):
        h = F.relu6(self.dw(F.relu6(self.expand(x))))
        gate = torch.sigmoid(self.fc2(F.relu(self.fc1(h.mean((2, 3), keepdim=True)))))
        h = h * gate
        h = torch.sigmoid(F.adaptive_avg_pool2d(h, 1)) * h
        y = x + self.project(h)
        tokens = self.norm(y.flatten(2).transpose(1, 2))  # (N, H*W, C): patch tokens
        return y, tokens[:, 0], tokens.mean(dim=1)


def test_squeeze_excitation_and_tokens():
    model = run("squeeze_excite")
    assert {"Multiply", "Reshape", "GlobalAvgPool1D"} <= kinds(model)


class OnePatchToken(nn.Module):
    """A 1x1 map's channels as one token, ``reshape(n, 1, C)`` (an image of one patch), beside a class token: no
    reader decides the reshape's letters."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 6, 4, stride=4)
        self.cls = nn.Parameter(torch.randn(1, 1, 6))
        self.head = nn.Linear(6, 2)

    def forward(self, x):
        h = self.conv(x)  # (N, 6, 1, 1)
        h = torch.cat([self.cls.expand(h.shape[0], -1, -1), h.reshape(h.shape[0], 1, 6)], dim=1)
        return self.head(h[:, 1] - h[:, 0])


def test_a_reshape_of_size_1_axes_keeps_its_input_letters():
    """Inserting or dropping size-1 axes only, the reshape keeps ``C`` on the channels (not torch's rank-3
    ``NCW``, which would name the 6 features ``W``), so the token reads as Keras's ``(1, C)`` does."""
    model = run("one_patch")
    (reshape,) = [n for n in model.layers if n.layer.kind == "Reshape" and n.spec.rank == 3]
    assert reshape.spec.layout == "NTC" and reshape.spec.dim("C") == 6


class OneWindow(nn.Module):
    """Swin's window reverse of a map that is one window: ``view`` to rank 6 with size-1 window counts (letters
    the op tier makes up), ``permute``, ``reshape`` back to the map, then a LayerNorm."""

    def __init__(self):
        super().__init__()
        self.norm = nn.LayerNorm(6)

    def forward(self, x):  # (N, 16, 6)
        h = x.view(x.shape[0], 1, 1, 4, 4, 6).permute(0, 1, 3, 2, 4, 5).reshape(x.shape[0], 4, 4, 6)
        return self.norm(h * 2.0)


def test_a_reshape_of_size_1_axes_with_made_up_letters_takes_the_convention():
    """Dropping the size-1 axes of a tensor whose letters are made up (not C, T, D, H, W), the reshape takes
    torch's convention, whose letters the layers after it take (the LayerNorm refused a made-up one)."""
    model = run("one_window")
    assert model.capture.method == "torch.export"


class HandAttention(nn.Module):
    """A hand-written single-head attention block: q @ k^T * scale, softmax, @ v (Dot), residual, mean pooling."""

    def __init__(self):
        super().__init__()
        self.q, self.k, self.v, self.out = nn.Linear(4, 6), nn.Linear(4, 6), nn.Linear(4, 6), nn.Linear(6, 4)
        self.norm = nn.LayerNorm(4)

    def forward(self, x):  # (N, T, 4)
        q, k, v = self.q(x), self.k(x), self.v(x)
        scores = torch.softmax(q @ k.transpose(-2, -1) * 6**-0.5, dim=-1)
        h = self.norm(x + self.out(torch.bmm(scores, v)))
        cross = torch.matmul(q, v.transpose(1, 2)).matmul(k).bmm(torch.transpose(v, 1, 2)) / 7.0
        return h.mean(dim=1), h[:, 0], cross


def test_hand_written_attention_is_dot():
    model = run("attention")
    assert sum(type(n.layer).__name__ == "Dot" for n in model.layers) == 5


class DenseBlock(nn.Module):
    """DenseNet-style: each layer sees the concat of all before; the last 3 channels read from the end."""

    def __init__(self):
        super().__init__()
        self.layers = nn.ModuleList(
            nn.Sequential(nn.BatchNorm2d(3 + 2 * i), nn.ReLU(), nn.Conv2d(3 + 2 * i, 2, 3, padding=1)) for i in range(3)
        )

    def forward(self, x):
        for layer in self.layers:
            x = torch.cat([x, layer(x)], 1)
        return x[:, -3:], x[:, 0, 1:, :-1]


def test_dense_concat_block():
    model = run("dense")
    assert [o.layout for o in model.outputs] == ["NCHW", "NHW"]
    assert {"Slice", "Cropping2D"} <= kinds(model)  # x[:, 0, 1:, :-1]: C sliced, H and W cropped together


class LearnedValues(nn.Module):
    """Tensors read in forward with a leading 1: an image-shaped bias map (expand_as), a token prefix (expand),
    a buffer read twice and a sliced table added to a sequence; each an IR LearnedConstant of the axis letters
    it is combined with (the slice taken from the stored table)."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.bias_map = nn.Parameter(torch.zeros(1, 4, 5, 6))
        self.fc = nn.Linear(5, 5)
        self.prefix = nn.Parameter(torch.zeros(1, 2, 5))
        self.register_buffer("offset", torch.randn(1, 7, 5, generator=torch.Generator().manual_seed(3)))
        self.table = nn.Parameter(torch.zeros(1, 9, 5))  # longer than the sequence: sliced in forward

    def forward(self, img, seq):  # (N, 3, 5, 6), (N, 7, 5)
        h = self.conv(img)
        s = self.fc(seq) + self.offset + self.table[:, :7]  # offset read twice: one layer, two consumers
        return h + self.bias_map.expand_as(h), torch.cat(
            [self.prefix.expand(seq.shape[0], -1, -1), s * self.offset], dim=1
        )


def test_learned_values_read_in_forward():
    model = run("learned")
    constants = {n.name: n.spec.layout for n in model.layers if type(n.layer).__name__ == "LearnedConstant"}
    assert constants == {"bias_map": "NCHW", "offset": "NTC", "prefix": "NTC", "table": "NTC"}
    assert model.node("table").spec.shape == (None, 7, 5)
    assert "Reshape" not in kinds(model)  # no relabelling: each took its partner's letters
    assert model.count_params() == sum(p.numel() for p in LearnedValues().parameters()) + 7 * 5 - 2 * 5  # buffer in,
    # the table's 2 unused rows out


class TokenEmbed(nn.Module):
    def __init__(self, d=8):
        super().__init__()
        self.proj = nn.Conv2d(3, d, 4, 4)
        self.cls, self.pos = nn.Parameter(torch.zeros(1, 1, d)), nn.Parameter(torch.zeros(1, 5, d))

    def forward(self, x):
        h = self.proj(x).flatten(2).transpose(1, 2)
        return torch.cat([self.cls.expand(x.shape[0], -1, -1), h], 1) + self.pos


class TwoEmbeds(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed, self.embed2, self.head = TokenEmbed(), TokenEmbed(), nn.Linear(8, 2)

    def forward(self, x):
        return self.head(self.embed(x)[:, 0] + self.embed2(x)[:, 0])


def test_learned_values_stay_in_their_block():
    """A user module's parameters read in forward are LearnedConstants inside its block: the emitted torch
    block class holds them as parameters, as the source does."""
    model = check(randomize(TwoEmbeds()), lambda b, s: (float_input(b, 3, 8, 8, seed=s),))
    block = emit(model, "torch").split("class TokenEmbed(nn.Module):", 1)[1].split("class ", 1)[0]
    # the tokens are NTC (rename_letters), so the class token is held in the source's shape, (1, 1, d)
    assert "self.cls = nn.Parameter(torch.zeros(1, 1, 8))" in block and "self.pos.expand(x.shape[0]" in block


#: every module above with its inputs (test_import_torch.py checks that the tables' entries are all used)
MODELS = {
    "arithmetic": (Arithmetic, lambda n, s: (float_input(n, 3, 5, 6, seed=s),)),
    "slicing": (Slicing, lambda n, s: (float_input(n, 3, 7, 8, seed=s), float_input(n, 7, 5, seed=s + 10))),
    "gated": (GatedAndInception, lambda n, s: (float_input(n, 4, 9, seed=s), float_input(n, 3, 5, 6, seed=s + 1))),
    "squeeze_excite": (SqueezeExcite, lambda n, s: (float_input(n, 4, 5, 6, seed=s),)),
    "dense": (DenseBlock, lambda n, s: (float_input(n, 3, 5, 6, seed=s),)),
    "attention": (HandAttention, lambda n, s: (float_input(n, 5, 4, seed=s),)),
    "one_patch": (OnePatchToken, lambda n, s: (float_input(n, 3, 4, 4, seed=s),)),
    "one_window": (OneWindow, lambda n, s: (float_input(n, 16, 6, seed=s),)),
    "learned": (LearnedValues, lambda n, s: (float_input(n, 3, 5, 6, seed=s), float_input(n, 7, 5, seed=s + 1))),
}


# -- refusals -----------------------------------------------------------------------------------


class NowOps(nn.Module):
    """What no layer expresses and the op tier does: strided and None indexing, a reciprocal, a sum,
    integer arithmetic on ids, a rank-4 product (tests/backends/importers/torch/test_aten_*.py cover more)."""

    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(4, 6)

    def forward(self, x):
        h = self.lin(x)  # (N, 5, 6)
        q = h.view(-1, 5, 2, 3).transpose(1, 2)
        return h[:, ::2], h[:, None], 2.0 / h, h.sum(1), q @ h.view(-1, 5, 2, 3).permute(0, 2, 3, 1)


class Refused(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(4, 6)

    def forward(self, x):
        h = self.lin(x)  # (N, 5, 6)
        return (
            torch.div(h, 2.0, rounding_mode="floor"),
            h[0],
            h.chunk(2, dim=0)[0],
            h * float("inf"),
            h[:, 1:1],
        )


class IntArithmetic(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(12, 3)

    def forward(self, ids):
        return self.embed(ids + 1)


def test_ops_take_what_layers_refuse():
    model = check(randomize(NowOps()), lambda b, s: (float_input(b, 5, 4, seed=s),))
    assert {"Narrow", "Reduce", "MatMul"} <= {type(n.layer).__name__ for n in model.layers}
    net = randomize(IntArithmetic())
    model = from_torch(net, (ids(2, 5, vocab=10),))
    tm = to_torch(model)
    for batch in (2, 3):
        x = ids(batch, 5, vocab=10, seed=batch)
        with torch.no_grad():
            torch.testing.assert_close(tm(x), net(x), atol=ATOL, rtol=RTOL)


def test_what_stays_refused():
    _, found = problems(Refused(), float_input(2, 5, 4))
    reasons = {where.rstrip("_0123456789"): p.reason for where, p in found.items()}
    assert set(reasons) == {"div", "getitem", "chunk", "mul"}, sorted(found)  # floor division has no op
    assert "batch" in reasons["chunk"] and "not finite" in reasons["mul"]
    assert sorted("batch" in p.reason or "empty" in p.reason for w, p in found.items() if "getitem" in w) == [1, 1]


def test_slice_layer_is_in_the_ir():
    assert L.Slice("C", 1, 3).config()["stop"] == 3
