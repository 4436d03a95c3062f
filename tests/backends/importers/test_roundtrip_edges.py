"""Round trips of small models a user could write, beside test_roundtrip.py's: token ids of a grid given as a model
input and read by an Embedding (``from_keras`` names them ``NHW``, as it names computed ones), and a channel
shuffle of a 1x1 map then flattened (``to_torch`` and ``to_keras`` write a reshape read only by a Flatten or a
Reshape to the shape the model declares; ``unit_reshape`` leaves such a reshape's letters, ``channel_shuffle``
reads it back; of a 2x2 map, ``to_keras`` merges it channels last and moves it for the flatten,
``permuted_shuffle`` reads that back; split and merged back without a shuffle, the known gap
``roundtrip-keras-unshuffled-split``), and text CNNs over embedded ids, 1-D and 2-D (``to_keras`` drops the
Permute before Keras's channels-last convolution; ``convolved_embedding`` puts it back, after a Dropout too).
Each is structurally exact both ways, and the models compute what the source does in torch and in Keras, at
batch 2 and 3. So are Keras models that flatten a convolution's map, except through torch where a Permute moves
it channels first before the Flatten (the known gap ``roundtrip-torch-permuted-flatten``)."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from gaps import known_gap
from siblings import benchmark
from torch import nn

from twinnet.backends import from_keras, from_torch, to_keras, to_torch
from twinnet.ir.structure import structural_diff

rt = benchmark("roundtrip")
ATOL, RTOL = 1e-5, 1e-4


class GridEmbedding(nn.Module):
    """Token ids of a 2-D grid, ``(N, H, W)``, embedded, then a Linear over the vectors."""

    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(10, 4)
        self.fc = nn.Linear(4, 3)

    def forward(self, ids):
        return self.fc(self.embed(ids))


class BucketBias(nn.Module):
    """T5-style relative position bias whose bucket ids, ``(N, T, T)``, are an input: looked up per head and
    given to attention as its mask."""

    def __init__(self, dim=8, heads=2, buckets=8):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim, bias=False)
        self.bias = nn.Embedding(buckets, heads)
        self.out = nn.Linear(dim, 4)

    def forward(self, x, buckets):
        n, t, c = x.shape
        q, k, v = self.qkv(x).view(n, t, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4).unbind(0)
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=self.bias(buckets).permute(0, 3, 1, 2))
        return self.out(y.transpose(1, 2).reshape(n, t, c))


class PooledShuffle(nn.Module):
    """A conv to 8 channels, pooled to ``side`` x ``side``, its channels shuffled in 2 groups (ShuffleNet's view,
    transpose, view; with ``shuffle=False`` split and merged back only), flattened, then a Linear."""

    def __init__(self, side=1, shuffle=True):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.pool = nn.AdaptiveAvgPool2d(side)
        self.fc = nn.Linear(8 * side * side, 4)
        self.shuffle = shuffle

    def forward(self, x):
        x = self.pool(self.conv(x))
        n, c, h, w = x.shape
        if self.shuffle:
            x = x.view(n, 2, c // 2, h, w).transpose(1, 2).contiguous().view(n, c, h, w)
        else:
            x = x.view(n, c // 2, 2, h, w).view(n, c, h, w)
        return self.fc(x.flatten(1))


class TextCNN(nn.Module):
    """The common text CNN: token ids embedded, moved channels first (``permute(0, 2, 1)``, or ``transpose(1, 2)``
    with ``adaptive``), Conv1ds of ``widths`` with a ReLU, each max-pooled over time (``amax``, or
    ``AdaptiveMaxPool1d(1)`` then flattened), concatenated, a Linear; with ``lstm``, one conv pooled by two and
    moved back to an LSTM instead; with ``dropout``, a Dropout on the vectors before they are moved."""

    def __init__(self, widths=(3,), adaptive=False, lstm=False, dropout=False):
        super().__init__()
        self.embed = nn.Embedding(20, 6)
        self.dropout = nn.Dropout(0.25) if dropout else nn.Identity()
        self.convs = nn.ModuleList(nn.Conv1d(6, 4, k, padding=k // 2) for k in widths)
        self.pool = nn.AdaptiveMaxPool1d(1) if adaptive else None
        self.lstm = nn.LSTM(4, 5, batch_first=True) if lstm else None
        self.fc = nn.Linear(5 if lstm else 4 * len(widths), 3)

    def forward(self, ids):
        x = self.dropout(self.embed(ids))
        x = x.transpose(1, 2) if self.pool is not None else x.permute(0, 2, 1)
        maps = [torch.relu(conv(x)) for conv in self.convs]
        if self.lstm is not None:
            return self.fc(self.lstm(F.max_pool1d(maps[0], 2).permute(0, 2, 1))[0][:, -1])
        pooled = [self.pool(h).flatten(1) if self.pool is not None else h.amax(dim=2) for h in maps]
        return self.fc(torch.cat(pooled, dim=1))


class GridCNN(nn.Module):
    """Grid ids ``(N, H, W)`` embedded, ``permute(0, 3, 1, 2)`` to NCHW, a Conv2d, flattened, a Linear."""

    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(20, 6)
        self.conv = nn.Conv2d(6, 4, 3, padding=1)
        self.fc = nn.Linear(4 * 3 * 5, 3)

    def forward(self, ids):
        return self.fc(torch.relu(self.conv(self.embed(ids).permute(0, 3, 1, 2))).flatten(1))


CASES = {
    "grid-ids": (GridEmbedding, lambda: (torch.randint(0, 10, (2, 3, 5)),)),
    "bucket-ids": (BucketBias, lambda: (torch.randn(2, 5, 8), torch.randint(0, 8, (2, 5, 5)))),
    "shuffle-1x1": (PooledShuffle, lambda: (torch.randn(2, 3, 4, 4),)),
    "split-1x1": (lambda: PooledShuffle(shuffle=False), lambda: (torch.randn(2, 3, 4, 4),)),
    "shuffle-2x2": (lambda: PooledShuffle(side=2), lambda: (torch.randn(2, 3, 4, 4),)),
    "split-2x2": (lambda: PooledShuffle(side=2, shuffle=False), lambda: (torch.randn(2, 3, 4, 4),)),
    "text-cnn": (TextCNN, lambda: (torch.randint(0, 20, (2, 9)),)),
    "text-cnn-widths": (lambda: TextCNN(widths=(2, 3, 5), adaptive=True), lambda: (torch.randint(0, 20, (2, 9)),)),
    "text-cnn-lstm": (lambda: TextCNN(lstm=True), lambda: (torch.randint(0, 20, (2, 8)),)),
    "text-cnn-dropout": (lambda: TextCNN(dropout=True), lambda: (torch.randint(0, 20, (2, 9)),)),
    "grid-cnn": (GridCNN, lambda: (torch.randint(0, 20, (2, 3, 5)),)),
}


def _source(case):
    torch.manual_seed(0)
    build, example = CASES[case]
    net = build().eval()
    return net, from_torch(net, example())


def _inputs(m, batch):
    """rt.example's inputs, with ids below each Embedding's vocabulary (every one here has at least 8)."""
    return tuple(x.remainder(8) if not x.is_floating_point() else x for x in rt.example(m, batch))


#: (case, direction) -> the known gap (tests/known_gaps.toml) it is
GAPS = {("split-2x2", "keras"): "roundtrip-keras-unshuffled-split"}
PAIRS = [(c, d) for c in CASES for d in ("torch", "keras")]


@pytest.mark.parametrize(
    "case, direction",
    [pytest.param(c, d, marks=known_gap(GAPS[c, d])) if (c, d) in GAPS else (c, d) for c, d in PAIRS],
    ids=[f"{d}-{c}" for c, d in PAIRS],
)
def test_round_trip_is_exact_and_computes_the_same(case, direction):
    net, m = _source(case)
    back = rt.THROUGH[direction](m)
    assert not structural_diff(m, back, weights=True), "\n".join(structural_diff(m, back, weights=True))
    for batch in (2, 3):
        xs = _inputs(m, batch)
        with torch.no_grad():
            want = net(*xs).numpy()
            for model in (m, back):
                np.testing.assert_allclose(to_torch(model)(*xs).numpy(), want, atol=ATOL, rtol=RTOL)
        ks = [x.numpy() for x in xs]
        got = to_keras(back)(ks if len(ks) > 1 else ks[0], training=False)
        np.testing.assert_allclose(np.asarray(got), want, atol=ATOL, rtol=RTOL)


def test_grid_ids_are_declared_as_the_embedding_reads_them():
    """from_torch names (N, H, W) ids NHW; from_keras of a Keras model of its own names its ids input so too
    (rank-4 ids NDHW), where it once named them NTC and refused the Embedding; ids nothing embeds stay NTC."""
    _, m = _source("grid-ids")
    assert m.inputs[0].layout == "NHW"
    grid = keras.Input((3, 5), dtype="int32", name="grid")
    volume = keras.Input((2, 3, 5), dtype="int32", name="volume")
    other = keras.Input((3, 5), dtype="int32", name="other")
    outs = [keras.layers.Dense(2)(keras.layers.Embedding(10, 4)(ids)) for ids in (grid, volume)]
    outs.append(keras.layers.Dense(2)(keras.ops.cast(other, "float32")))
    km = keras.Model([grid, volume, other], outs)
    imported = from_keras(km)
    assert [t.layout for t in imported.inputs] == ["NHW", "NDHW", "NTC"]
    rng = np.random.default_rng(0)
    xs = [rng.integers(0, 10, (3, *t.shape[1:])).astype(np.int32) for t in imported.inputs]
    for got, want in zip(to_keras(imported)(xs), km(xs)):
        np.testing.assert_allclose(np.asarray(got), np.asarray(want), atol=ATOL, rtol=RTOL)


def keras_flatten(permuted: bool):
    """A Keras Conv2D, its map flattened (moved channels first by a Permute before, as a model written to match
    torch's flatten order does, with ``permuted``), then a Dense."""
    keras.utils.set_random_seed(0)
    x = keras.Input((5, 5, 6), name="x")
    h = keras.layers.Conv2D(4, 3, bias_initializer="random_normal", name="conv")(x)
    if permuted:
        h = keras.layers.Permute((3, 1, 2), name="to_channels_first")(h)
    h = keras.layers.Flatten(name="flatten")(h)
    return keras.Model(x, keras.layers.Dense(3, bias_initializer="random_normal", name="fc")(h))


KERAS_GAPS = {(True, "torch"): "roundtrip-torch-permuted-flatten"}
KERAS_PAIRS = [(p, d) for p in (False, True) for d in ("torch", "keras")]


@pytest.mark.parametrize(
    "permuted, direction",
    [pytest.param(p, d, marks=known_gap(KERAS_GAPS[p, d])) if (p, d) in KERAS_GAPS else (p, d) for p, d in KERAS_PAIRS],
    ids=[f"{d}-keras-{'permuted-' if p else ''}flatten" for p, d in KERAS_PAIRS],
)
def test_keras_flatten_round_trip_is_exact_and_computes_the_same(permuted, direction):
    km = keras_flatten(permuted)
    m = from_keras(km)
    back = rt.THROUGH[direction](m)
    assert not structural_diff(m, back, weights=True), "\n".join(structural_diff(m, back, weights=True))
    for batch in (2, 3):
        xs = np.random.default_rng(batch).standard_normal((batch, 5, 5, 6)).astype(np.float32)
        want = np.asarray(km(xs))
        with torch.no_grad():
            np.testing.assert_allclose(to_torch(back)(torch.from_numpy(xs)).numpy(), want, atol=ATOL, rtol=RTOL)
        np.testing.assert_allclose(np.asarray(to_keras(back)(xs)), want, atol=ATOL, rtol=RTOL)
