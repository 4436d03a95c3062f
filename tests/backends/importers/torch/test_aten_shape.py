"""ATen ops that move entries -> the op tier (``aten_shape.py``): View, Transpose, Expand, Concat, Narrow,
Take, Pad, Roll, Tile.

Each module is imported through ``torch.export`` on batch-2 examples with
seeded random weights, compared with the source at batch 2 and 3
(``to_torch``), and verified Keras vs torch vs ONNX (``verify``).
"""

import torch
import torch.nn.functional as F
from torch import nn
from torch_import_check import check, float_input, problems, randomize


def kinds(model) -> set:
    return {type(node.layer).__name__ for node in model.layers}


class Heads(nn.Module):
    """Multi-head reshapes: split heads, transpose, rank-4 products, merge heads back."""

    def __init__(self):
        super().__init__()
        self.qkv = nn.Linear(8, 24)

    def forward(self, x):  # (N, 5, 8)
        b, t, c = x.shape
        q, k, v = self.qkv(x).reshape(b, t, 3, 2, 4).permute(2, 0, 3, 1, 4).unbind(0)
        scores = torch.tanh(q @ k.transpose(-2, -1))  # no softmax: not read as an attention module
        out = (scores @ v).transpose(1, 2).reshape(b, t, c)
        return out, scores.amax(-1)


def test_head_reshapes_transposes_and_products():
    model = check(randomize(Heads()), lambda b, s: (float_input(b, 5, 8, seed=s),))
    assert "MatMul" in kinds(model)  # the reshapes are Reshape layers (float), transposes Permute


class Pieces(nn.Module):
    """Slices, selects, splits, concatenation, padding, rolls, repeats, expands."""

    def forward(self, x):  # (N, 4, 6)
        a, b = x.split([1, 3], dim=1)
        c, d = torch.chunk(x, 2, dim=2)
        e = torch.cat([d, c, x[:, :, 1:4]], dim=2)  # (N, 4, 9)
        f = x[:, 1] + x[:, -1, ::2].repeat(1, 2)  # select, strided slice, Tile
        g = F.pad(x, (1, 2, 0, 1), value=0.5).roll(2, 2).roll(-1, 1)
        h = a.expand(-1, 3, -1) * b
        return e, f, g, h, x[:, 2:3]


def test_slices_splits_concat_pad_roll_repeat_expand():
    model = check(Pieces(), lambda b, s: (float_input(b, 4, 6, seed=s),))
    assert {"Narrow", "Pad", "Roll", "Tile", "Expand"} <= kinds(model)


class Table(nn.Module):
    """A learned table read through a fixed index buffer (a relative position bias), and index_select."""

    def __init__(self):
        super().__init__()
        self.table = nn.Parameter(torch.randn(7, 2))
        index = (torch.arange(4)[:, None] - torch.arange(4)[None, :]) + 3
        self.register_buffer("index", index, persistent=False)
        self.register_buffer("order", torch.tensor([3, 0, 2, 1]), persistent=False)

    def forward(self, x):  # (N, 2, 4, 4)
        bias = self.table[self.index.view(-1)].view(4, 4, 2).permute(2, 0, 1)
        return x + bias.unsqueeze(0), torch.index_select(x, 3, self.order), x[:, :, self.order]


def test_tables_read_through_fixed_indices():
    model = check(randomize(Table()), lambda b, s: (float_input(b, 2, 4, 4, seed=s),))
    assert {"Take", "Learned"} <= kinds(model)


class Windows(nn.Module):
    """Swin's window partition and its reverse: reshapes that merge the batch axis with the windows' grid
    (``View(merge=4)``) and split it back (``View(split=4)``), with per-window products, a learned bias
    per window position and a mask per window added in between."""

    def __init__(self, side: int = 8, window: int = 4, channels: int = 6):
        super().__init__()
        self.side, self.window = side, window
        self.proj = nn.Linear(channels, channels)
        self.bias = nn.Parameter(torch.randn(window * window, window * window))
        grid = (side // window) ** 2
        self.register_buffer("mask", torch.randn(grid, window * window, window * window))

    def forward(self, x):  # (N, side, side, channels)
        b, h, w, c = x.shape
        k, g = self.window, self.side // self.window
        win = x.view(b, g, k, g, k, c).permute(0, 1, 3, 2, 4, 5).reshape(-1, k * k, c)  # (N * g * g, k * k, c)
        y = self.proj(win)
        scores = y @ y.transpose(1, 2) + self.bias
        scores = (scores.view(-1, g * g, k * k, k * k) + self.mask).view(-1, k * k, k * k)
        out = torch.softmax(scores, -1) @ win
        return out.view(-1, g, g, k, k, c).permute(0, 1, 3, 2, 4, 5).reshape(b, h, w, c)


def test_window_partition_and_reverse_merge_and_split_the_batch():
    model = check(randomize(Windows()), lambda b, s: (float_input(b, 8, 8, 6, seed=s),))
    views = [node.layer for node in model.layers if type(node.layer).__name__ == "View"]
    assert {v.merge for v in views} >= {4} and {v.split for v in views} >= {4}


class ShiftedWindows(nn.Module):
    """torchvision's shifted windows in small: a roll, ``q, k, v = qkv[0], qkv[1], qkv[2]`` with the windows
    in the batch, and the shift mask built in ``forward`` from sizes alone (``new_zeros`` filled slice by
    slice in place), computed once at import."""

    def __init__(self, side: int = 6, window: int = 3, shift: int = 1, channels: int = 4):
        super().__init__()
        self.side, self.window, self.shift = side, window, shift
        self.qkv = nn.Linear(channels, 3 * channels)

    def forward(self, x):  # (N, side, side, channels)
        b, h, w, c = x.shape
        k, s, g = self.window, self.shift, self.side // self.window
        x = torch.roll(x, shifts=(-s, -s), dims=(1, 2))
        mask = x.new_zeros((h, w))
        count = 0
        for hs in (slice(0, -k), slice(-k, -s), slice(-s, None)):
            for ws in (slice(0, -k), slice(-k, -s), slice(-s, None)):
                mask[hs, ws] = count
                count += 1
        mask = mask.view(g, k, g, k).permute(0, 2, 1, 3).reshape(g * g, k * k)
        mask = (mask.unsqueeze(1) - mask.unsqueeze(2)).masked_fill(mask.unsqueeze(1) != mask.unsqueeze(2), -100.0)
        win = x.view(b, g, k, g, k, c).permute(0, 1, 3, 2, 4, 5).reshape(b * g * g, k * k, c)
        qkv = self.qkv(win).reshape(b * g * g, k * k, 3, c).permute(2, 0, 1, 3)
        q, kk, v = qkv[0], qkv[1], qkv[2]
        scores = (q @ kk.transpose(-2, -1)).view(b, g * g, k * k, k * k) + mask
        out = torch.softmax(scores.view(-1, k * k, k * k), -1) @ v
        out = out.view(b, g, g, k, k, c).permute(0, 1, 3, 2, 4, 5).reshape(b, h, w, c)
        return torch.roll(out, shifts=(s, s), dims=(1, 2))


def test_shifted_windows_with_a_mask_built_in_forward():
    net = randomize(ShiftedWindows())
    model = check(net, lambda b, s: (float_input(b, 6, 6, 4, seed=s),))
    masks = [k for k in model.weights if "new_zeros" in k or "mask" in k or "masked_fill" in k]
    assert masks and any((model.weights[k] == -100.0).any() for k in masks)


class Gathers(nn.Module):
    """``torch.gather`` at run-time positions, one list per sample expanded over the other axes (top-k
    tokens, a sorted order), and at a list of size 1 on the other axes."""

    def forward(self, x, order):  # (N, 10, 3), (N, 4) integers in 0..9 (verify's integer inputs lie in 0..9)
        picked = x.gather(1, order[:, :, None].expand(-1, -1, 3))
        flat = x[:, :, 0].gather(1, order)
        return picked, flat, x.transpose(1, 2).gather(2, order[:, None, :].expand(-1, 3, -1))


def test_gather_with_one_list_per_sample():
    def inputs(b, s):
        return float_input(b, 10, 3, seed=s), torch.randint(0, 10, (b, 4), generator=torch.Generator().manual_seed(s))

    model = check(Gathers(), inputs)
    assert "Gather" in {type(node.layer).__name__ for node in model.layers}


class GatherPerRow(nn.Module):
    def forward(self, x, index):  # (N, 5, 3), (N, 4, 3): a different list per column
        return x.gather(1, index)


def test_gather_of_a_full_index_refused():
    err, _ = problems(GatherPerRow(), torch.randn(2, 5, 3), torch.randint(0, 5, (2, 4, 3)))
    assert "one list per sample" in err.capture.reason  # why the exported graph was refused
