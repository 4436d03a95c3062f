"""The pass contract (backends/importers/common/passes.py): results are checked, run_passes chains graphs."""

from __future__ import annotations

import pytest

from twinnet.backends.importers.common.passes import Pass, PassResult, run_passes


class Append(Pass):
    """Rewrites: returns a new list with ``item`` added."""

    def __init__(self, item):
        self.item = item

    def run(self, graph):
        return PassResult(graph + [self.item], modified=True)


class Length(Pass):
    """Reads only: its analysis is the graph's length."""

    def run(self, graph):
        return PassResult(graph, modified=False, analysis=len(graph))


def test_run_passes_feeds_each_pass_the_graph_before_it_returned():
    result = run_passes([], [Append(1), Append(2), Length()])
    assert result == PassResult([1, 2], modified=True, analysis=2)


def test_run_passes_is_unmodified_when_no_pass_changes_anything():
    assert run_passes([7], [Length(), Length()]) == PassResult([7], modified=False, analysis=1)


def test_a_pass_that_returns_no_result_is_named_in_the_error():
    class Sloppy(Pass):
        def run(self, graph):
            return graph

    with pytest.raises(TypeError, match="pass Sloppy returned list, not a PassResult"):
        Sloppy()([1])


def test_pass_name_is_its_class_name():
    assert Length().name == "Length"
