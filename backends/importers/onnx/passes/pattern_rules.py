"""The pattern rules (``../patterns/``) as one pass: groups of nodes that are one IR layer become one op."""

from __future__ import annotations

from ...common.passes import Pass, PassResult
from ..graph import Graph
from ..patterns.rules import run_rules
from .snapshot import Snapshot


class PatternRules(Pass):
    """:func:`~..patterns.rules.run_rules` as a pass: every rule, in order, over every op still in the graph."""

    def run(self, graph: Graph) -> PassResult:
        before = Snapshot(graph)
        run_rules(graph)
        return PassResult(graph, modified=before.changed(graph))
