"""``free_letters`` of backends/importers/common/free.py: a rank-4 or 5 component whose letters nothing gives a
meaning (a rotary embedding's tables) is named as Keras names that rank, whichever importer lettered it; the
rewritten model computes what the original did in torch and in Keras (random weights, batch 2 and 3). It stays
put where a layer gives a letter a meaning or the component reaches an output. Past rank 5 (a window partition), a
reshape is named by its input's letters, then free ones, as from_keras names it. Last, what it is for: a Llama-style
attention (grouped-query, rotary) and timm's Swin windows round-trip exactly through Keras and torch."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from rewrite_check import checked

from twinnet import ir
from twinnet.backends import from_keras, from_torch, to_keras, to_torch
from twinnet.ir import layers as L
from twinnet.ir import ops as O
from twinnet.ir.structure import structural_diff


def _layouts(m, kind: str) -> list[str]:
    return [n.spec.layout for n in m.layers if n.layer.kind == kind]


def _tables(x, layout: str, weight: ir.Tensor):
    """A rotary embedding's tables from ``x`` (NTC): the features unsqueezed to ``layout`` (N, 1, T, 2),
    multiplied by a weight, twice concatenated along the last axis, their cosine."""
    h = O.View((1, 5, 2), layout)(L.Dense(2)(x))
    h = O.Binary("mul")(h, weight)
    return O.Unary("cos")(O.Concat(layout[-1])([h, h]))


def tables_named_by_torch():
    """The tables as from_torch names them (NDHW), the weight broadcast by its letter W."""
    x = ir.Input((5, 3), layout="NTC", name="x")
    h = _tables(x, "NDHW", O.Learned((2,), "NW")(x))
    return ir.Model(x, L.Dense(3)(O.View((5, 4), "NTC")(h)))


def tables_named_by_keras():
    """The same as from_keras names them (NBAE), the weight reshaped to (1, 1, 2) for Keras's broadcasting."""
    x = ir.Input((5, 3), layout="NTC", name="x")
    h = _tables(x, "NBAE", L.Reshape((1, 1, 2), layout="NBAE")(O.Learned((2,), "NC")(x)))
    return ir.Model(x, L.Dense(3)(O.View((5, 4), "NTC")(h)))


@pytest.mark.parametrize("build", [tables_named_by_torch, tables_named_by_keras])
def test_free_tables_are_named_as_keras_names_their_rank(build):
    _, after = checked(build)
    assert set(_layouts(after, "Unary") + _layouts(after, "Concat")) == {"NHWC"}, _layouts(after, "Unary")
    assert _layouts(after, "Learned") == ["NC"]


def test_the_two_letterings_of_the_tables_meet():
    _, torch_side = checked(tables_named_by_torch)
    _, keras_side = checked(tables_named_by_keras)
    assert structural_diff(torch_side, keras_side) == []


def _bias_table(letters: str):
    """A relative position bias's table (rank 3, ``letters``) looked up by a Take and viewed as (N, 4, 4, 2)."""
    x = ir.Input((4, 3), layout="NTC", name="x")
    table = O.Take(letters[1], (0, 1, 2, 1) * 4)(O.Learned((3, 2), letters)(x))
    bias = L.Permute("NHWC")(O.View((4, 4, 2), "NWCH")(table))
    return ir.Model(x, L.Dense(3)(O.View((2, 16), "NTC")(bias)))


@pytest.mark.parametrize("letters", ["NAB", "NTC"])
def test_a_learned_table_looked_up_is_named_as_keras_names_rank_3(letters):
    """from_torch letters the table ``NAB`` (free letters), from_keras ``NTC``: one naming, Keras's."""
    _, after = checked(lambda: _bias_table(letters))
    assert _layouts(after, "Learned") == _layouts(after, "Take") == ["NTC"]
    assert after.layers[1].layer.axis == after.layers[1].layer.letter == "T"


def tables_read_by_a_convolution():
    """The tables read by a Conv2D, which gives NCHW's letters their meaning: not renamed."""
    x = ir.Input((5, 3), layout="NTC", name="x")
    h = _tables(x, "NCHW", O.Learned((2,), "NW")(x))
    return ir.Model(x, L.Dense(3)(L.Flatten()(L.Conv2D(2, 1)(h))))


def tables_as_output():
    x = ir.Input((5, 3), layout="NTC", name="x")
    return ir.Model(x, _tables(x, "NDHW", O.Learned((2,), "NW")(x)))


@pytest.mark.parametrize("build, layout", [(tables_read_by_a_convolution, "NCHW"), (tables_as_output, "NDHW")])
def test_free_letters_stay_where_letters_mean_something(build, layout):
    _, after = checked(build)
    assert set(_layouts(after, "Unary")) == {layout}


def _unfolded(view: str, moved: str):
    """MobileViT's unfold, small: a map's rows regrouped into the batch by a View (lettered ``view``), two axes
    swapped by a Transpose (to ``moved``), read back by position."""
    x = ir.Input((4, 4, 4), layout="NCHW", name="x")
    h = O.Transpose(moved)(O.View((2, 2, 2), view, merge=8)(L.Conv2D(4, 1)(x)))
    return ir.Model(x, L.Conv2D(2, 1)(O.View((4, 4, 4), "NCHW", split=8)(h)))


def unfold_named_by_torch():
    return _unfolded("NCHW", "NHCW")


def unfold_named_by_keras():
    return _unfolded("NWHC", "NHWC")


def test_a_free_component_with_one_reshape_is_named_after_it():
    """A View and a Transpose hold their letters in two orders: named after the View, the one reshape there, so
    that both importers' letterings meet."""
    _, torch_side = checked(unfold_named_by_torch)
    _, keras_side = checked(unfold_named_by_keras)
    assert _layouts(torch_side, "View")[0] == "NHWC" and _layouts(torch_side, "Transpose") == ["NWHC"]
    assert structural_diff(torch_side, keras_side) == []


def _merged(view: str, moved: str):
    """A patch merging written as a reshape (timm's Swin, small): a map's 2x2 blocks split out by a rank-6 View
    (lettered ``view``), moved by a Permute (to ``moved``) and read back by position."""
    x = ir.Input((4, 4, 3), layout="NHWC", name="x")
    h = L.Permute(moved)(O.View((2, 2, 2, 2, 3), view)(L.Dense(3)(x)))
    return ir.Model(x, L.Dense(2)(L.Reshape((2, 2, 12), layout="NHWC")(h)))


def test_a_reshape_past_rank_5_is_named_after_its_input():
    """Past rank 5 Keras has no convention: from_keras names a reshape by its input's letters, then free ones
    (``NHWCAB`` of an ``NHWC`` map), and so does free_letters where from_torch's letters were its input's before
    that was renamed (``NCHWAB`` of a map first lettered ``NCHW``)."""
    _, torch_side = checked(lambda: _merged("NCHWAB", "NCWAHB"))
    _, keras_side = checked(lambda: _merged("NHWCAB", "NHCAWB"))
    assert _layouts(torch_side, "View") == ["NHWCAB"] and _layouts(torch_side, "Permute") == ["NHCAWB"]
    assert structural_diff(torch_side, keras_side) == []


class _TimmSwinStage(torch.nn.Module):
    """timm's Swin, small: the map ``(B, H, W, C)`` viewed as its windows (a rank-6 view), each window's tokens
    through a Linear (in place of the attention), the windows viewed back from ``(-1, 2, 2, C)``, a patch merging
    by reshape and permute, then a stage of one window (a 1x1 map of 2x2 windows)."""

    def __init__(self, c: int = 4):
        super().__init__()
        self.embed = torch.nn.Conv2d(3, c, 2, stride=2)
        self.mix, self.mix2 = torch.nn.Linear(c, c), torch.nn.Linear(2 * c, 2 * c)
        self.norm = torch.nn.LayerNorm(4 * c)
        self.reduction = torch.nn.Linear(4 * c, 2 * c, bias=False)

    @staticmethod
    def _windows(x, mix):
        b, h, w, c = x.shape
        win = x.view(b, h // 2, 2, w // 2, 2, c).permute(0, 1, 3, 2, 4, 5).reshape(-1, 4, c)
        win = mix(win).view(-1, 2, 2, c)
        return x + win.view(-1, h // 2, w // 2, 2, 2, c).permute(0, 1, 3, 2, 4, 5).reshape(b, h, w, c)

    def forward(self, x):
        x = self._windows(self.embed(x).permute(0, 2, 3, 1), self.mix)
        b, h, w, c = x.shape
        x = x.reshape(b, h // 2, 2, w // 2, 2, c).permute(0, 1, 3, 4, 2, 5).flatten(3)
        return self._windows(self.reduction(self.norm(x)), self.mix2)


def test_timm_swin_windows_round_trip_exactly_through_keras_and_torch():
    """timm's rank-4 view of the windows reads ``NCHW`` from from_torch and is named ``NHWC`` after, and the
    rank-6 reshapes that read it follow: ``from_keras(to_keras(m))`` and ``from_torch(to_torch(m))`` give back m."""
    torch.manual_seed(0)
    module, xs = _TimmSwinStage().eval(), (torch.randn(2, 3, 8, 8),)
    m = from_torch(module, xs)
    assert {n.spec.layout for n in m.layers if n.spec.rank == 6} <= {"NHWCAB", "NHCWAB", "NHCAWB"}
    assert structural_diff(m, from_keras(to_keras(m)), weights=True) == []
    assert structural_diff(m, from_torch(to_torch(m), xs), weights=True) == []
    with torch.no_grad():
        np.testing.assert_allclose(to_torch(m)(*xs).numpy(), module(*xs).numpy(), atol=1e-5, rtol=1e-4)


# -- what it is for: Llama's attention through Keras ------------------------------------------------------------
def _rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


class _RotaryAttention(torch.nn.Module):
    """Llama's attention, as transformers writes it: grouped-query heads, rotary tables from the positions,
    the rotate-half, a causal attention."""

    def __init__(self, features: int = 16, heads: int = 4, kv_heads: int = 2):
        super().__init__()
        self.heads, self.kv_heads, self.dim = heads, kv_heads, features // heads
        self.q = torch.nn.Linear(features, features, bias=False)
        self.k = torch.nn.Linear(features, kv_heads * self.dim, bias=False)
        self.v = torch.nn.Linear(features, kv_heads * self.dim, bias=False)
        self.o = torch.nn.Linear(features, features, bias=False)
        self.register_buffer("inv_freq", 1.0 / 10000 ** (torch.arange(0, self.dim, 2).float() / self.dim))

    def forward(self, x):
        b, t, c = x.shape
        pos = torch.arange(t)[None, :, None].float()
        emb = torch.cat((pos * self.inv_freq, pos * self.inv_freq), dim=-1)
        cos, sin = emb.cos().unsqueeze(1), emb.sin().unsqueeze(1)
        q = self.q(x).view(b, t, self.heads, self.dim).transpose(1, 2)
        k = self.k(x).view(b, t, self.kv_heads, self.dim).transpose(1, 2)
        v = self.v(x).view(b, t, self.kv_heads, self.dim).transpose(1, 2)
        q, k = q * cos + _rotate_half(q) * sin, k * cos + _rotate_half(k) * sin
        h = torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True)
        return self.o(h.transpose(1, 2).reshape(b, t, c))


def test_rotary_attention_round_trips_exactly_through_keras_and_torch():
    """from_keras(to_keras(m)) and from_torch(to_torch(m)) give back m, and m computes what the module does."""
    torch.manual_seed(0)
    module = _RotaryAttention().eval()
    m = from_torch(module, (torch.randn(2, 5, 16),))
    assert "Cropping2D" not in [n.layer.kind for n in m.layers]  # the rotate-half as the Slices it is
    assert structural_diff(m, from_keras(to_keras(m)), weights=True) == []
    assert structural_diff(m, from_torch(to_torch(m), (torch.randn(2, 5, 16),)), weights=True) == []
    for batch, length in ((2, 5), (3, 7)):
        x = torch.randn(batch, length, 16)
        with torch.no_grad():
            want, got = module(x).numpy(), to_torch(m)(x).numpy()
        np.testing.assert_allclose(got, want, atol=1e-5, rtol=1e-4)
        np.testing.assert_allclose(np.asarray(to_keras(m)(x.numpy(), training=False)), want, atol=1e-5, rtol=1e-4)
