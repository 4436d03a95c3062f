"""from_onnx on attention blocks masked by a bool key-padding mask input (True = pad, torch's polarity).

Each graph is hand-built: one self-attention block (projections, head split,
``q k^T / sqrt(d)``, the mask, softmax, head merge, output projection) whose
mask term is spelled as exporters spell it from a bool input:

  * ``where``: ``scores + Where(mask, -inf, 0)`` (torch.onnx's dynamo exporter);
  * ``cast``: ``scores + Cast(mask, float) * -1e9``;
  * ``not-select``: ``Where(Expand(Not(mask)), scores, -1e4)``.

Each imports as one MultiHeadAttention whose mask input is the IR's float mask
(``NT``, 1 = attend): fed ``~mask`` it must compute what onnxruntime computes
on the file fed ``mask``, at two batch sizes and two (symbolic) lengths, with
masks that pad inside rows as well as at their ends. TorchScript's spelling
of the head split and merge (sizes from ``Mod`` and ``Gather(Shape(x), i)``)
imports too. A bool input read both as a mask and by other ops, a bool mask
of the other polarity (True = attend) and a bool mask computed in the graph
are refused with the reason; a bool input no attention block reads is a bool
tensor.
"""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest
import torch
from onnx import TensorProto
from onnx import helper as h
from onnx_check import ATOL, RTOL, assert_matches_onnxruntime, make, rand

from twinnet import ir
from twinnet.backends import from_onnx, to_keras, to_torch

E, H, D = 8, 2, 4  # features, heads, head size


def n(op, inputs, outputs, **attrs):
    return h.make_node(op, list(inputs), list(outputs), name=f"{op.lower()}_{outputs[0]}", **attrs)


def _weights() -> dict:
    w = {f"w{r}": rand(E, H * D, seed=i) * 0.5 for i, r in enumerate("qkv")}
    w.update({f"b{r}": rand(H * D, seed=5 + i) for i, r in enumerate("qkv")})
    w.update(
        {
            "wo": rand(H * D, E, seed=9) * 0.5,
            "bo": rand(E, seed=10),
            "split": np.array([0, 0, H, D], np.int64),
            "merge": np.array([0, 0, H * D], np.int64),
            "scale": np.array(1 / np.sqrt(D), np.float32),
            "axes": np.array([1, 2], np.int64),
            "neg_inf": np.array(-np.inf, np.float32),
            "zero": np.array(0.0, np.float32),
            "big": np.array(-1e9, np.float32),
            "fill": np.array(-1e4, np.float32),
            "heads": np.array([1, H, 1, 1], np.int64),
        }
    )
    return w


def _block(mask_nodes: list, masked: str) -> list:
    """The attention block around ``mask_nodes``, which turn ``scores`` into ``masked``."""
    nodes = []
    for r, perm in (("q", [0, 2, 1, 3]), ("k", [0, 2, 3, 1]), ("v", [0, 2, 1, 3])):
        nodes += [
            n("MatMul", ["x", f"w{r}"], [f"{r}0"]),
            n("Add", [f"{r}0", f"b{r}"], [f"{r}1"]),
            n("Reshape", [f"{r}1", "split"], [f"{r}2"]),
            n("Transpose", [f"{r}2"], [f"{r}3"], perm=perm),
        ]
    nodes += [n("MatMul", ["q3", "k3"], ["qk"]), n("Mul", ["qk", "scale"], ["scores"])] + mask_nodes
    return nodes + [
        n("Softmax", [masked], ["p"], axis=-1),
        n("MatMul", ["p", "v3"], ["o"]),
        n("Transpose", ["o"], ["o1"], perm=[0, 2, 1, 3]),
        n("Reshape", ["o1", "merge"], ["o2"]),
        n("MatMul", ["o2", "wo"], ["o3"]),
        n("Add", ["o3", "bo"], ["y"]),
    ]


FORMS = {
    "where": [
        n("Unsqueeze", ["mask", "axes"], ["m4"]),
        n("Where", ["m4", "neg_inf", "zero"], ["add"]),
        n("Add", ["scores", "add"], ["masked"]),
    ],
    "cast": [
        n("Cast", ["mask"], ["mf"], to=TensorProto.FLOAT),
        n("Unsqueeze", ["mf", "axes"], ["m4"]),
        n("Mul", ["m4", "big"], ["add"]),
        n("Add", ["scores", "add"], ["masked"]),
    ],
    "not-select": [
        n("Not", ["mask"], ["keep"]),
        n("Unsqueeze", ["keep", "axes"], ["k4"]),
        n("Expand", ["k4", "heads"], ["k5"]),
        n("Where", ["k5", "scores", "fill"], ["masked"]),
    ],
}
INPUTS = {"x": ["N", "T", E], "mask": (["N", "T"], TensorProto.BOOL)}


def _pad(batch: int, steps: int, seed: int, gaps: bool) -> np.ndarray:
    """True = pad; key 0 is never padded (a row with every key padded is NaN in the file)."""
    if gaps:
        pad = np.random.default_rng(seed).random((batch, steps)) < 0.4
    else:
        pad = np.arange(steps)[None, :] >= np.random.default_rng(seed).integers(1, steps + 1, (batch, 1))
    pad[:, 0] = False
    return pad


def _assert_matches_the_file(proto, model, sizes=((1, 5), (3, 9))) -> None:
    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    module, km = to_torch(model), to_keras(model)
    for i, (batch, steps) in enumerate(sizes):
        for gaps in (False, True):
            x = np.random.default_rng(i).standard_normal((batch, steps, E)).astype(np.float32)
            pad = _pad(batch, steps, i, gaps)
            want = session.run(None, {"x": x, "mask": pad})[0]
            attend = (~pad).astype(np.float32)  # the IR's mask
            with torch.no_grad():
                got = module(torch.from_numpy(x), torch.from_numpy(attend)).numpy()
            for out in (got, np.asarray(km([x, attend], training=False))):
                np.testing.assert_allclose(out, want, atol=ATOL, rtol=RTOL, err_msg=f"batch {batch}, gaps {gaps}")


@pytest.mark.parametrize("form", list(FORMS))
def test_bool_mask_becomes_the_attend_mask(form):
    proto = make(_block(FORMS[form], "masked"), INPUTS, _weights())
    model = from_onnx(proto)
    assert [node.layer.kind for node in model.layers] == ["MultiHeadAttention"]
    x, mask = model.inputs
    assert (mask.dtype, mask.layout, mask.shape) == ("float32", "NT", (None, None))
    assert model.layers[0].layer.config()["use_causal_mask"] is False
    _assert_matches_the_file(proto, model)


def test_torchscript_spelling_of_the_head_split_and_merge():
    """TorchScript's transformer file: the head count comes from a ``Mod`` of stored integers; the heads are merged
    into ``(N*T, E)`` rows by a shape computed from ``Gather(Shape(x), scalar index)`` sizes (their product
    unsqueezed: folded sizes must keep their scalar rank), and the output is reshaped back to ``(N, T, E)``."""
    w = _weights()
    w.update(
        {
            "ten": np.array(10, np.int64),
            "four": np.array(4, np.int64),
            "one": np.array([1], np.int64),
            "zeros": np.array([0, 0], np.int64),
            "d": np.array([D], np.int64),
            "hd": np.array([H * D], np.int64),
            "e": np.array([E], np.int64),
            "i0": np.array(0, np.int64),
            "i1": np.array(1, np.int64),
            "ax0": np.array([0], np.int64),
        }
    )
    shapes = [
        n("Mod", ["ten", "four"], ["h0"]),
        n("Reshape", ["h0", "one"], ["h1"]),
        n("Concat", ["zeros", "h1", "d"], ["split"], axis=0),
        n("Shape", ["x"], ["xs"]),
        n("Gather", ["xs", "i0"], ["nb"]),
        n("Gather", ["xs", "i1"], ["nt"]),
        n("Mul", ["nb", "nt"], ["rows"]),
        n("Unsqueeze", ["rows", "ax0"], ["rows1"]),
        n("Concat", ["rows1", "hd"], ["merge"], axis=0),
        n("Unsqueeze", ["nb", "ax0"], ["nb1"]),
        n("Unsqueeze", ["nt", "ax0"], ["nt1"]),
        n("Concat", ["nb1", "nt1", "e"], ["back"], axis=0),
    ]
    del w["split"], w["merge"]
    block = _block(FORMS["where"], "masked")
    block[-1] = n("Add", ["o3", "bo"], ["y0"])
    proto = make(
        shapes + block + [n("Reshape", ["y0", "back"], ["y"])],
        {"x": ["N", 5, E], "mask": (["N", 5], TensorProto.BOOL)},
        w,
    )
    model = from_onnx(proto)
    assert [node.layer.kind for node in model.layers] == ["MultiHeadAttention"]
    _assert_matches_the_file(proto, model, sizes=((1, 5), (3, 5)))


def _problems(proto) -> list:
    with pytest.raises(ir.UnsupportedError) as caught:
        from_onnx(proto)
    return caught.value.problems


def test_bool_input_read_elsewhere_is_refused():
    """The mask also leaves the graph as floats: the bool input has no IR form there."""
    nodes = _block(FORMS["where"], "masked") + [n("Cast", ["mask"], ["y2"], to=TensorProto.FLOAT)]
    problems = _problems(make(nodes, INPUTS, _weights(), outputs=("y", "y2")))
    (p,) = [p for p in problems if p.where == "mask"]
    assert "only as the key-padding mask of attention blocks" in p.reason and "Cast 'cast_y2'" in p.reason, p


def test_bool_input_without_attention_is_a_bool_tensor():
    """No attention block reads it: a plain bool input, for the op tier's Where."""
    nodes = [n("Where", ["mask", "x", "zero"], ["y"])]
    proto = make(nodes, {"x": ["N", 5], "mask": (["N", 5], TensorProto.BOOL)}, {"zero": np.array(0.0, np.float32)})
    model = from_onnx(proto)
    assert [t.dtype for t in model.inputs] == ["float32", "bool"]
    assert_matches_onnxruntime(proto, model)


def test_bool_mask_of_the_other_polarity_is_refused():
    """Where(mask, 0, -inf): True = attend. from_onnx reads bool masks as torch does (True = pad) and says so."""
    form = [
        n("Unsqueeze", ["mask", "axes"], ["m4"]),
        n("Where", ["m4", "zero", "neg_inf"], ["add"]),
        n("Add", ["scores", "add"], ["masked"]),
    ]
    problems = _problems(make(_block(form, "masked"), INPUTS, _weights()))
    (p,) = [p for p in problems if p.what == "Softmax"]
    assert "does not act as a key-padding mask with True = pad" in p.reason, p


def test_bool_mask_computed_in_the_graph_is_refused():
    """A bool made by an op the mask rule does not follow (IsInf of a float input) is no model input."""
    form = [n("IsInf", ["f"], ["mask"])] + FORMS["where"]
    problems = _problems(make(_block(form, "masked"), {"x": ["N", "T", E], "f": ["N", "T"]}, _weights()))
    (p,) = [p for p in problems if p.what.startswith("Softmax+")]  # the fused block, named by its ops
    assert "bool key-padding mask 'mask' is computed in the graph" in p.reason, p
