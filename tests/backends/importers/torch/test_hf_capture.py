"""Hugging Face capture (``hf_capture.py``, ``hf_attention.py``): written-out attention folded into one
``scaled_dot_product_attention`` node, masks built from sizes folded away, position and token-type ids
put in one form, no key/value cache while capturing.

Each graph is the one ``export_graph`` gives (module calls folded back), run
at two batch sizes and two lengths against the source module (atol 1e-5,
rtol 1e-4, seeded random weights).
"""

import pytest
import torch
from torch import nn
from torch_import_check import ATOL, RTOL, randomize

from twinnet.backends.importers.torch.capture import capture
from twinnet.backends.importers.torch.export import export_graph
from twinnet.backends.importers.torch.hf_attention import SDPA
from twinnet.backends.importers.torch.hf_capture import hf_settings

aten = torch.ops.aten


class EagerAttention(nn.Module):
    """Attention as Hugging Face writes it: a mask from ``arange`` (0 = see, float32's lowest = blocked),
    keys and values repeated per query head (``repeat_kv``), ``softmax(q @ k^T * scale + mask) @ v``."""

    def __init__(self, heads=4, kv_heads=2, dim=8, mask="causal", bias=False, weights_out=False):
        super().__init__()
        self.heads, self.kv_heads, self.dim, self.mask, self.weights_out = heads, kv_heads, dim, mask, weights_out
        self.q = nn.Linear(heads * dim, heads * dim)
        self.k, self.v = nn.Linear(heads * dim, kv_heads * dim), nn.Linear(heads * dim, kv_heads * dim)
        self.bias = nn.Parameter(torch.randn(1, heads, 1, 1)) if bias else None

    def split(self, x, heads):
        b, t, _ = x.shape
        return x.view(b, t, heads, self.dim).transpose(1, 2)

    def repeat(self, x):
        b, g, t, d = x.shape
        reps = self.heads // g
        return x[:, :, None].expand(b, g, reps, t, d).reshape(b, g * reps, t, d)

    def forward(self, x):
        b, t, _ = x.shape
        q, k, v = (
            self.split(self.q(x), self.heads),
            self.split(self.k(x), self.kv_heads),
            self.split(self.v(x), self.kv_heads),
        )
        k, v = self.repeat(k), self.repeat(v)
        pos = torch.arange(t)
        see = (
            pos[None, None, None, :] <= pos[None, None, :, None]
            if self.mask == "causal"
            else pos[None, None, :, None] >= 0
        )
        mask = torch.where(see.expand(b, -1, t, t), torch.zeros(()), torch.finfo(torch.float32).min)
        scores = torch.matmul(q, k.transpose(2, 3)) * self.dim**-0.5 + mask
        if self.bias is not None:
            scores = scores + self.bias
        probs = nn.functional.dropout(torch.softmax(scores, dim=-1), 0.0, training=False)
        out = torch.matmul(probs, v).transpose(1, 2).reshape(b, t, -1)
        return (out, probs) if self.weights_out else out


def _sdpa(gm):
    return [n for n in gm.graph.nodes if n.op == "call_function" and n.target is SDPA]


def _same(gm, net, make):
    for batch, length in ((2, 7), (3, 10)):
        x = make(batch, length)
        with torch.no_grad():
            got = gm(x)
            torch.testing.assert_close(got[0] if isinstance(got, tuple) else got, net(x), atol=ATOL, rtol=RTOL)


def _tokens(batch, length):
    return torch.randn(batch, length, 32, generator=torch.Generator().manual_seed(batch * 100 + length))


@pytest.mark.parametrize("mask, kv_heads", [("causal", 2), ("causal", 4), ("none", 2)])
def test_eager_attention_folds_into_one_sdpa_node(mask, kv_heads):
    net = randomize(EagerAttention(kv_heads=kv_heads, mask=mask)).eval()
    gm, _ = export_graph(net, (_tokens(2, 7),), {})
    (node,) = _sdpa(gm)
    assert node.args[3] is None  # the mask built from sizes is gone: causal, or nothing
    assert node.args[5] is (mask == "causal")
    # to_torch writes the fused call itself (enable_gqa only where heads are grouped) or the steps that fold
    assert node.kwargs["scale"] == pytest.approx(8**-0.5)
    assert node.kwargs.get("enable_gqa", False) == (kv_heads < 4)
    left = {n.target for n in gm.graph.nodes if n.op == "call_function"}
    assert not left & {aten.softmax.int, aten.where.ScalarOther, aten.matmul.default, aten.expand.default}
    _same(gm, net, _tokens)


@pytest.mark.parametrize("kv_heads", [4, 2], ids=["mha", "gqa"])
def test_to_torch_causal_attention_folds_back(kv_heads):
    """What ``to_torch`` writes for a causal attention (``torch.where`` over a bool lower triangle, grouped
    keys and values by ``repeat_interleave``) folds into one causal ``scaled_dot_product_attention`` node."""
    from twinnet import ir
    from twinnet.backends import to_torch
    from twinnet.ir import ops as O

    q = ir.Input((4, None, 8), layout="NATE", name="q")
    k = ir.Input((kv_heads, None, 8), layout="NATE", name="k")
    v = ir.Input((kv_heads, None, 8), layout="NATE", name="v")
    net = to_torch(ir.Model([q, k, v], O.ScaledDotProductAttention(causal=True)(q, k, v), name="m"))

    def qkv(batch, length):
        g = torch.Generator().manual_seed(batch * 100 + length)
        return tuple(torch.randn(batch, h, length, 8, generator=g) for h in (4, kv_heads, kv_heads))

    gm, _ = export_graph(net, qkv(2, 7), {})
    (node,) = _sdpa(gm)
    assert node.args[3] is None and node.args[5] is True
    # to_torch writes the fused call itself (enable_gqa only where heads are grouped) or the steps that fold
    assert node.kwargs["scale"] == pytest.approx(8**-0.5)
    assert node.kwargs.get("enable_gqa", False) == (kv_heads < 4)
    left = {n.target for n in gm.graph.nodes if n.op == "call_function"}
    assert not left & {aten.tril.default, aten.repeat_interleave.self_int, aten.matmul.default}
    for batch, length in ((2, 7), (3, 10)):
        xs = qkv(batch, length)
        with torch.no_grad():
            (got,) = gm(*xs)  # the exported graph returns a tuple
            torch.testing.assert_close(got, net(*xs), atol=ATOL, rtol=RTOL)


def test_an_added_bias_stays_as_the_mask():
    net = randomize(EagerAttention(mask="causal", bias=True)).eval()
    gm, _ = export_graph(net, (_tokens(2, 7),), {})
    (node,) = _sdpa(gm)
    assert node.args[3] is not None and node.args[5] is False  # bias and causal mask summed: torch takes one
    _same(gm, net, _tokens)


def test_attention_whose_weights_are_returned_stays_written_out():
    net = randomize(EagerAttention(weights_out=True)).eval()
    gm, _ = export_graph(net, (_tokens(2, 7),), {})
    assert not _sdpa(gm)
    assert any(n.target is aten.softmax.int for n in gm.graph.nodes)


class LastHidden(nn.Module):
    """A Hugging Face model's last hidden state, a plain tensor."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x):
        return self.model(input_ids=x).last_hidden_state


def _transformers():
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[4] / "benchmarks"))
    import zoo_models

    zoo_models.import_torchvision()  # transformers imports torchvision (its C extension may not load here)
    import transformers

    return transformers


def _ids(batch, length):
    return torch.randint(0, 100, (batch, length), generator=torch.Generator().manual_seed(batch + length))


def test_bert_position_and_token_type_ids_take_one_form():
    transformers = _transformers()
    config = transformers.BertConfig(
        hidden_size=32, num_hidden_layers=1, num_attention_heads=4, intermediate_size=64, vocab_size=100
    )
    config._attn_implementation = "eager"
    bert = randomize(transformers.BertModel(config)).eval()
    net = LastHidden(bert)
    gm, _ = export_graph(net, (_ids(2, 7),), {})
    targets = [n.target for n in gm.graph.nodes if n.op == "call_function"]
    assert aten.gather.default not in targets and aten.slice.Tensor not in targets
    assert aten.arange.default in targets and len(_sdpa(gm)) == 1
    token_types = next(n for n in gm.graph.nodes if n.target == "model.embeddings.token_type_embeddings")
    assert token_types.args[0].target is aten.mul.Tensor and token_types.args[0].args[1] == 0
    _same(gm, net, _ids)


def test_no_key_value_cache_while_capturing():
    transformers = _transformers()
    config = transformers.GPT2Config(n_embd=32, n_layer=1, n_head=4, vocab_size=100, n_positions=64)
    config._attn_implementation = "eager"
    gpt = randomize(transformers.GPT2Model(config)).eval()
    assert gpt.config.use_cache is True
    with hf_settings(gpt):
        assert gpt.config.use_cache is False
    assert gpt.config.use_cache is True
    net = LastHidden(gpt)
    gm, _, report = capture(net, (_ids(2, 7),), {})
    assert report.method == "torch.export" and gpt.config.use_cache is True
    targets = [n.target for n in gm.graph.nodes if n.op == "call_function"]
    assert aten.lift_fresh_copy.default not in targets and aten.cat.default not in targets
    assert len(_sdpa(gm)) == 1 and _sdpa(gm)[0].args[5] is True
    positions = next(n for n in gm.graph.nodes if n.target == "model.wpe").args[0]  # arange(T)[None] ...
    assert positions.target is aten.add.Tensor and positions.args[0].args == (
        gm.graph.find_nodes(op="placeholder")[0],
        0,
    )
    _same(gm, net, _ids)  # ... looked up at input * 0 + arange(T)[None]: one row per sample


def test_gpt2_conv1d_is_one_dense_layer():
    from twinnet.backends import from_torch, to_torch

    Conv1D = _transformers().pytorch_utils.Conv1D
    net = randomize(nn.Sequential(Conv1D(6, 4), nn.ReLU(), Conv1D(3, 6))).eval()
    x = _tokens(2, 5)[..., :4].contiguous()
    model = from_torch(net, (x,))
    assert model.capture.method == "torch.export"
    assert [n.layer.kind for n in model.layers] == ["Dense", "Activation", "Dense"]
    tm = to_torch(model)
    for batch, length in ((2, 5), (3, 9)):
        x = _tokens(batch, length)[..., :4].contiguous()
        with torch.no_grad():
            torch.testing.assert_close(tm(x), net(x), atol=ATOL, rtol=RTOL)


def test_an_attention_mask_input_becomes_a_key_padding_mask():
    transformers = _transformers()
    config = transformers.BertConfig(
        hidden_size=32, num_hidden_layers=1, num_attention_heads=4, intermediate_size=64, vocab_size=100
    )
    config._attn_implementation = "eager"
    bert = randomize(transformers.BertModel(config)).eval()

    def padded(batch, length):
        mask = torch.ones(batch, length, dtype=torch.long)
        mask[0, length // 2 :] = 0
        return mask

    gm, _ = export_graph(bert, (_ids(2, 7),), {"attention_mask": padded(2, 7)})
    (node,) = _sdpa(gm)
    mask = node.args[3]  # (attention_mask != 0)[:, None, None, :]: True = attend
    ne = mask.args[0].args[0]
    assert mask.target is aten.unsqueeze.default and ne.target is aten.ne.Scalar
    assert ne.args[0].name == "attention_mask" and node.args[5] is False
    for batch, length in ((2, 7), (3, 7)):
        ids, keep = _ids(batch, length), padded(batch, length)
        with torch.no_grad():
            got, want = gm(ids, keep), bert(input_ids=ids, attention_mask=keep)
        torch.testing.assert_close(got[0], want.last_hidden_state, atol=ATOL, rtol=RTOL)
        torch.testing.assert_close(got[1], want.pooler_output, atol=ATOL, rtol=RTOL)


def test_t5_relative_position_bias_gets_the_batch_axis():
    transformers = _transformers()
    config = transformers.T5Config(d_model=32, d_kv=8, d_ff=64, num_layers=1, num_heads=4, vocab_size=100)
    config._attn_implementation = "eager"
    net = LastHidden(randomize(transformers.T5EncoderModel(config)).eval())
    gm, _, report = capture(net, (_ids(2, 7),), {})
    assert report.method == "torch.export"
    targets = [n.target for n in gm.graph.nodes if n.op == "call_function"]
    assert aten.add_.Tensor not in targets and aten.min.other not in targets and aten.clamp_max.default in targets
    (node,) = _sdpa(gm)
    assert node.kwargs["scale"] == 1.0 and node.args[3] is not None  # T5 does not scale; the bias is the mask
    bias = next(n for n in gm.graph.nodes if str(n.target).endswith("relative_attention_bias"))
    assert bias.args[0].target is aten.add.Tensor and next(iter(bias.users)).args[1] == [0, 3, 1, 2]
    _same(gm, net, _ids)


def test_a_decoder_given_an_attention_mask_converts_equal():
    """GPT-2 called with ``attention_mask`` (left padding included): its one mask term, causal and padding
    together, becomes ``causal_sdpa`` (``hf_table.py``), one ScaledDotProductAttention with both."""
    import numpy as np

    from twinnet.backends import from_torch, to_keras
    from twinnet.backends.importers.torch.hf_attention import causal_sdpa

    transformers = _transformers()
    config = transformers.GPT2Config(n_embd=32, n_layer=1, n_head=4, vocab_size=100, n_positions=64)
    config._attn_implementation = "eager"
    gpt = randomize(transformers.GPT2Model(config)).eval()

    def padded(batch, length):
        mask = torch.ones(batch, length, dtype=torch.long)
        mask[0, :2] = 0  # left padding: the first query sees no key
        mask[-1, length - 2 :] = 0
        return mask

    gm, _, _ = capture(gpt, (_ids(2, 7),), {"attention_mask": padded(2, 7)})
    assert [n.args[5] for n in gm.graph.nodes if n.target is causal_sdpa] == [True]
    model = from_torch(gpt, (_ids(2, 7),), example_kwargs={"attention_mask": padded(2, 7)})
    assert [x.shape for x in model.inputs] == [(None, None), (None, None)]
    assert [n.layer.causal for n in model.layers if n.layer.kind == "ScaledDotProductAttention"] == [True]
    km = to_keras(model)
    for batch, length in ((2, 7), (3, 10)):
        ids, keep = _ids(batch, length), padded(batch, length)
        with torch.no_grad():
            want = gpt(input_ids=ids, attention_mask=keep).last_hidden_state.numpy()
        np.testing.assert_allclose(np.asarray(km([ids.numpy(), keep.numpy()])), want, atol=ATOL, rtol=RTOL)
