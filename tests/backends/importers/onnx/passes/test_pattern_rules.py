"""PatternRules (backends/importers/onnx/passes/pattern_rules.py): MatMul + Add of a stored bias is one op."""

from __future__ import annotations

import numpy as np
from onnx import helper as h
from onnx_check import make, rand

from twinnet.backends.importers.onnx.graph import Graph, load
from twinnet.backends.importers.onnx.passes.pattern_rules import PatternRules


def dense(bias: bool):
    nodes = [h.make_node("MatMul", ["x", "w"], ["m" if bias else "y"])]
    inits = {"w": rand(4, 2)}
    if bias:
        nodes.append(h.make_node("Add", ["m", "b"], ["y"]))
        inits["b"] = rand(2, seed=1)
    return Graph(load(make(nodes, {"x": ["N", 4]}, inits)))


def test_matmul_and_bias_become_one_matmul_with_three_inputs():
    graph = dense(bias=True)
    result = PatternRules()(graph)
    assert result.modified and result.graph is graph
    assert [(op.op_type, op.inputs, op.outputs) for op in graph.ops] == [("MatMul", ["x", "w", "b"], ["y"])]


def test_a_graph_no_rule_matches_is_not_modified():
    graph = dense(bias=False)
    assert not PatternRules()(graph).modified
    assert [op.op_type for op in graph.ops] == ["MatMul"]
    np.testing.assert_array_equal(graph.const("w"), rand(4, 2))
