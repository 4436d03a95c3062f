"""FoldShapes (backends/importers/onnx/passes/fold.py): a run-time shape computation becomes a constant."""

from __future__ import annotations

import numpy as np
from onnx import helper as h
from onnx_check import make

from twinnet.backends.importers.onnx.graph import Graph, load
from twinnet.backends.importers.onnx.passes.fold import FoldShapes


def flatten_by_shape():
    """x (2, 3, 4) -> Reshape(x, Concat(Shape(x)[0:1], [-1])): torch's x.view(x.size(0), -1)."""
    nodes = [
        h.make_node("Shape", ["x"], ["s"]),
        h.make_node("Slice", ["s", "zero", "one"], ["batch"]),
        h.make_node("Concat", ["batch", "minus_one"], ["target"], axis=0),
        h.make_node("Reshape", ["x", "target"], ["y"]),
    ]
    inits = {"zero": np.array([0], np.int64), "one": np.array([1], np.int64), "minus_one": np.array([-1], np.int64)}
    return Graph(load(make(nodes, {"x": [2, 3, 4]}, inits)))


def test_fold_turns_the_shape_computation_into_a_constant():
    graph = flatten_by_shape()
    result = FoldShapes()(graph)
    assert result.modified and result.graph is graph
    assert [op.op_type for op in graph.ops] == ["Reshape"]
    assert graph.const("target").tolist() == [2, -1]


def test_fold_on_a_folded_graph_changes_nothing():
    graph = flatten_by_shape()
    FoldShapes()(graph)
    assert not FoldShapes()(graph).modified
