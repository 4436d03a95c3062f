"""Helpers for the ONNX importer tests: build small graphs, compare an import with onnxruntime."""

from __future__ import annotations

import itertools

import numpy as np
import onnx
import onnxruntime as ort
import torch
from onnx import TensorProto, helper, numpy_helper

from twinnet.backends import to_torch
from twinnet.exporters.verify import compare

ATOL, RTOL = 1e-5, 1e-4


def node(op, inputs, outputs=("y",), **attrs) -> onnx.NodeProto:
    """One ``onnx.helper`` node, named after its op and first output (refusals name nodes so)."""
    return helper.make_node(op, list(inputs), list(outputs), name=f"{op.lower()}_{outputs[0]}", **attrs)


def make(nodes, inputs: dict, inits: dict | None = None, outputs=("y",), opset: int = 17) -> onnx.ModelProto:
    """A model from ``onnx.helper`` nodes. ``inputs``: name -> shape (``"N"``/``"T"`` for symbolic sizes),
    or (shape, element type); ``inits``: name -> numpy array."""

    def info(name, spec):
        shape, elem = spec if isinstance(spec, tuple) and isinstance(spec[1], int) else (spec, TensorProto.FLOAT)
        return helper.make_tensor_value_info(name, elem, list(shape))

    graph = helper.make_graph(
        nodes,
        "test_graph",
        [info(k, v) for k, v in inputs.items()],
        [helper.make_empty_tensor_value_info(o) for o in outputs],
        [numpy_helper.from_array(np.asarray(v), k) for k, v in (inits or {}).items()],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    return onnx.shape_inference.infer_shapes(model)  # gives the outputs their inferred types


def rand(*shape, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def feeds_for(model, batch: int, seq: int, seed: int) -> list[np.ndarray]:
    """Inputs in the model's declared layout (= the file's axis order)."""
    rng = np.random.default_rng(seed)
    out = []
    for t in model.inputs:
        shape = t.spec.concrete(batch, seq)
        if t.dtype == "bool":
            out.append(rng.random(shape) < 0.5)
        elif t.dtype.startswith("int"):
            out.append(rng.integers(0, 5, size=shape).astype(t.dtype))
        else:
            out.append(rng.standard_normal(shape).astype(np.float32))
    return out


def assert_matches_onnxruntime(source, model, batches=(1, 3), seqs=(5, 9)) -> None:
    """The torch-compiled import computes what onnxruntime computes on the original file."""
    data = source.SerializeToString() if isinstance(source, onnx.ModelProto) else str(source)  # a path: external data
    session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    module = to_torch(model)
    symbolic = any(s is None for t in model.inputs for a, s in zip(t.layout, t.shape) if a != "N")
    for i, (batch, seq) in enumerate(itertools.product(batches, seqs if symbolic else seqs[:1])):
        xs = feeds_for(model, batch, seq, seed=i)
        expected = session.run(None, {v.name: x for v, x in zip(session.get_inputs(), xs)})
        with torch.no_grad():
            got = module(*[torch.from_numpy(x) for x in xs])
        got = got if isinstance(got, tuple) else (got,)
        for e, g in zip(expected, got):
            max_abs, max_rel, ok, note = compare(e, g.numpy(), ATOL, RTOL)
            assert ok, f"batch {batch}, seq {seq}: max abs {max_abs:.3e}, max rel {max_rel:.3e} {note}"
