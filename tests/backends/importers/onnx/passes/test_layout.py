"""InferLayouts (backends/importers/onnx/passes/layout.py): reads the letters of a value, changes nothing."""

from __future__ import annotations

from onnx import helper as h
from onnx_check import make, rand

from twinnet.backends.importers.onnx.graph import Graph, load
from twinnet.backends.importers.onnx.passes.layout import InferLayouts, LayoutInference


def test_a_conv_input_is_channels_first_and_the_graph_is_untouched():
    graph = Graph(load(make([h.make_node("Conv", ["x", "w"], ["y"])], {"x": ["N", 3, 8, 8]}, {"w": rand(2, 3, 3, 3)})))
    ops = list(graph.ops)
    result = InferLayouts()(graph)
    assert not result.modified and result.graph is graph and graph.ops == ops
    assert isinstance(result.analysis, LayoutInference)
    assert result.analysis.layout("x", 4) == "NCHW"


def test_a_sequence_read_by_nothing_telling_takes_onnx_default():
    graph = Graph(load(make([h.make_node("Relu", ["x"], ["y"])], {"x": ["N", "T", 5]})))
    assert InferLayouts()(graph).analysis.layout("x", 3) == "NTC"
