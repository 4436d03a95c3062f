"""from_onnx on attention: every MultiHeadAttention variant, exported both ways, comes back as one layer.

Each case of tests/test_layers_attention.py (self and cross attention, a
separate key input, other key/value/output sizes, no bias, causal and padding
masks, NTC and TNC) is exported by ``export_onnx`` through torch (dynamo) and
through Keras (tf2onnx), imported, and must give back the same layer (dropout
aside: the file holds the inference graph) with exactly the same weights,
computing what onnxruntime computes on the file, through torch and Keras, at
two batch sizes with 0/1 masks (and two lengths where the length is symbolic).
torch's own ``nn.MultiheadAttention`` and a ``TransformerEncoder`` exported by
``torch.onnx.export`` import and verify too. Refusals: a scale other than
1/sqrt(key_dim), a dropout in training mode, a rank-4 MatMul outside attention.
"""

from __future__ import annotations

import contextlib
import io
import math
import warnings

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from onnx_check import ATOL, RTOL
from siblings import sibling
from torch import nn
from torch_import_check import randomize

from twinnet import ir
from twinnet.backends import from_onnx, to_keras, to_torch
from twinnet.exporters import export_onnx, verify
from twinnet.exporters.onnx import example_inputs, keras_layout
from twinnet.ir import layers as L
from twinnet.ir.errors import UnsupportedError

CASES = sibling("ir/layers/test_attention.py").CASES


def _model(name: str) -> ir.Model:
    layer, inputs, arrange = CASES[name]
    xs = [ir.Input(**spec, name=f"in{i}") for i, spec in enumerate(inputs)]
    return ir.Model(xs, layer(arrange(xs) if arrange else xs), name=name.replace("-", "_")).randomize(0)


def _symbolic(name: str) -> ir.Model:
    """tests/test_layers_attention.py's symbolic-length cases: causal + mask on one sequence; cross
    attention to a sequence of any length."""
    layout, kind = name.split("-")
    if kind == "causal":
        x = ir.Input((None, 4), layout=layout, name="x")
        m = ir.Input((None,), layout="TN" if layout == "TNC" else "NT", name="m")
        return ir.Model([x, m], L.MultiHeadAttention(2, 2, use_causal_mask=True)([x, x, m]), name="causal").randomize(0)
    q, v = ir.Input((4, 4), layout=layout, name="q"), ir.Input((None, 3), layout=layout, name="v")
    return ir.Model([q, v], L.MultiHeadAttention(2, 3, value_dim=2)([q, v]), name="cross").randomize(0)


def _assert_runs_like_the_file(path, model) -> None:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    module, km = to_torch(model), to_keras(model)
    keras_in = [keras_layout(t.layout) for t in model.inputs]
    out, keras_out = model.outputs[0].layout, keras_layout(model.outputs[0].layout)
    for batch, seq in ((1, 5), (3, 9)):
        xs = example_inputs(model, batch=batch, seq=seq, seed=batch)  # masks: 0/1, key 0 kept
        expected = session.run(None, {v.name: x for v, x in zip(session.get_inputs(), xs)})[0]
        with torch.no_grad():
            got_torch = module(*[torch.from_numpy(x) for x in xs]).numpy()
        # Keras takes the batch axis first
        kx = example_inputs(model, batch=batch, seq=seq, seed=batch, layouts=keras_in)
        got_keras = np.asarray(km(kx if len(kx) > 1 else kx[0], training=False))
        got_keras = got_keras.transpose([keras_out.index(a) for a in out])
        for got in (got_torch, got_keras):
            np.testing.assert_allclose(got, expected, atol=ATOL, rtol=RTOL)


@pytest.mark.parametrize("via", ["torch", "keras"])
@pytest.mark.parametrize("name", list(CASES) + ["NTC-causal", "TNC-causal", "NTC-cross", "TNC-cross"])
def test_attention_round_trips(name, via, tmp_path):
    original = _model(name) if name in CASES else _symbolic(name)
    path = export_onnx(original, tmp_path / f"{original.name}.onnx", via=via)
    model = from_onnx(path)
    (node,) = [n for n in model.layers if n.layer.kind == "MultiHeadAttention"]
    assert [n.layer.kind for n in model.layers] == ["MultiHeadAttention"]
    (source,) = original.layers
    assert node.layer.config() == {**source.layer.config(), "dropout": 0.0}
    declared = [t.layout if via == "torch" else keras_layout(t.layout) for t in original.inputs]
    assert [t.layout for t in model.inputs] == declared  # the file's own order (Keras's is batch first)
    ours, theirs = model.layer_weights(node), original.layer_weights(source)
    assert sorted(ours) == sorted(theirs)
    for key in theirs:
        np.testing.assert_array_equal(ours[key], theirs[key], err_msg=key)
    _assert_runs_like_the_file(path, model)


class _Encoder(nn.Module):
    """tests/test_convert_torch_archs.py's TransformerClassifier, fed the IR's float mask (1 = attend) and making
    torch's bool one inside (the bool input form: tests/test_import_onnx_real.py, test_import_onnx_bool_mask.py)."""

    def __init__(self, vocab=30, d=16, classes=3):
        super().__init__()
        self.embed = nn.Embedding(vocab, d, padding_idx=0)
        layer = nn.TransformerEncoderLayer(d, nhead=4, dim_feedforward=32, dropout=0.1, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, num_layers=2, enable_nested_tensor=False)
        self.head = nn.Linear(d, classes)

    def forward(self, x, keep):
        return self.head(self.encoder(self.embed(x), src_key_padding_mask=keep == 0).mean(dim=1))


class _CrossAttention(nn.Module):
    """nn.MultiheadAttention with the key and value one tensor: torch packs k and v into one projection."""

    def __init__(self):
        super().__init__()
        self.mha = nn.MultiheadAttention(8, 2, batch_first=True)

    def forward(self, q, kv):
        return self.mha(q, kv, kv, need_weights=False)[0]


def _keep(batch, steps, seed):
    keep = (torch.rand(batch, steps, generator=torch.Generator().manual_seed(seed)) < 0.7).float()
    keep[:, 0] = 1.0
    return keep


TORCH_MODULES = {
    "encoder": (
        _Encoder,
        lambda b, s: (torch.randint(0, 30, (b, 7), generator=torch.Generator().manual_seed(s)), _keep(b, 7, s)),
        2,
    ),
    "cross": (
        _CrossAttention,
        lambda b, s: (
            torch.randn(b, 5, 8, generator=torch.Generator().manual_seed(s)),
            torch.randn(b, 6, 8, generator=torch.Generator().manual_seed(s + 9)),
        ),
        1,
    ),
}


@pytest.mark.parametrize("name", list(TORCH_MODULES))
def test_torch_attention_modules_import(name, tmp_path):
    cls, make, count = TORCH_MODULES[name]
    net = randomize(cls(), seed=3)
    args = make(2, 0)
    dims = {p: {0: torch.export.Dim.DYNAMIC} for p in ("x", "keep", "q", "kv")}
    path = tmp_path / f"{name}.onnx"
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        names = list(net.forward.__code__.co_varnames[1:3])
        torch.onnx.export(
            net, args, str(path), dynamo=True, external_data=False, dynamic_shapes={k: dims[k] for k in names}
        )
    model = from_onnx(path)
    assert [n.layer.kind for n in model.layers].count("MultiHeadAttention") == count
    module = to_torch(model)
    for batch in (2, 3):
        xs = make(batch, batch)
        with torch.no_grad():
            torch.testing.assert_close(module(*xs), net(*xs), atol=ATOL, rtol=RTOL)
    report = verify(model)
    assert report.ok, report.table()


def _self_attention_file(tmp_path):
    return onnx.load(str(export_onnx(_model("self-ntc"), tmp_path / "m.onnx", via="torch")))


def _refusal(proto) -> str:
    with pytest.raises(UnsupportedError) as info:
        from_onnx(proto)
    (problem,) = [p for p in info.value.problems if p.what == "Softmax"]
    return problem.reason


def test_another_scale_is_refused(tmp_path):
    """torch scales q and k by d**-0.25 each, with one stored constant; doubling it scales the scores by
    4/sqrt(d): refused, not imported with the IR's 1/sqrt(d)."""
    proto = _self_attention_file(tmp_path)
    scaled = {n.input[1] for n in proto.graph.node if n.op_type == "Mul"}
    init = next(t for t in proto.graph.initializer if t.name in scaled and math.prod(t.dims) == 1)
    init.CopyFrom(onnx.numpy_helper.from_array(onnx.numpy_helper.to_array(init) * 2, init.name))
    reason = _refusal(proto)
    assert f"scaled by {4 / math.sqrt(2):.6g}, not 1/sqrt(2)" in reason and "1/sqrt(key_dim)" in reason, reason


def test_training_dropout_is_refused(tmp_path):
    """A Dropout with training_mode=True on the attention weights drops at inference: refused."""
    proto = _self_attention_file(tmp_path)
    nodes = list(proto.graph.node)
    at = next(i for i, n in enumerate(nodes) if n.op_type == "Softmax")
    softmax = nodes[at]
    for n in nodes:
        n.input[:] = ["dropped" if i == softmax.output[0] else i for i in n.input]
    nodes.insert(at + 1, onnx.helper.make_node("Dropout", [softmax.output[0], "ratio", "training"], ["dropped"]))
    proto.graph.ClearField("node")
    proto.graph.node.extend(nodes)
    proto.graph.initializer.extend(
        [
            onnx.numpy_helper.from_array(np.array(0.25, np.float32), "ratio"),
            onnx.numpy_helper.from_array(np.array(True), "training"),
        ]
    )
    reason = _refusal(proto)
    assert "Dropout" in reason, reason


def test_rank4_matmul_outside_attention_is_the_matmul_op():
    """No layer multiplies rank-4 activations (the IR's Dot is rank 3): the op tier's MatMul does."""
    from onnx_check import assert_matches_onnxruntime, make

    proto = make([onnx.helper.make_node("MatMul", ["a", "b"], ["y"])], {"a": ["N", 2, 3, 4], "b": ["N", 2, 4, 5]})
    model = from_onnx(proto)
    kinds = [node.layer.kind for node in model.layers]
    assert "MatMul" in kinds and "Dot" not in kinds, kinds
    assert_matches_onnxruntime(proto, model)


def test_an_input_added_to_the_query_is_not_a_bias():
    """q = x @ Wq + other, another model input: not attention of x alone (the probe reads other's shape from
    made-up zeros; its values must not pass for a constant bias)."""
    from onnx import helper as h

    attention = sibling("backends/importers/onnx/test_ops_sequence.py").attention

    proto = attention()
    graph = proto.graph
    (add,) = [n for n in graph.node if n.output[0] == "q1"]
    add.input[1] = "other"
    graph.input.append(h.make_tensor_value_info("other", onnx.TensorProto.FLOAT, ["N", "T", 4]))
    reason = _refusal(onnx.shape_inference.infer_shapes(proto))
    assert "adds a computed tensor" in reason, reason
