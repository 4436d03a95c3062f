"""The small contract an importer's graph passes run under (modelled on onnx-ir's ``PassBase``).

A pass is a callable object with a ``name``: called on a graph, it returns a :class:`PassResult` saying
which graph comes out and whether the pass changed anything. A pass that only reads the graph (an
analysis, such as the ONNX importer's layout inference) returns ``modified=False`` and what it found in
``analysis``. :func:`run_passes` runs passes in order, each on the graph the one before returned.

>>> class Count(Pass):
...     def run(self, graph):
...         return PassResult(graph, modified=False, analysis=len(graph))
>>> Count()([1, 2, 3]).analysis
3
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, Iterable


@dataclass(frozen=True)
class PassResult:
    """What a pass returns: the graph after it, and whether it changed.

    Attributes:
        graph: the graph the next pass (or the importer) works on; a pass that edits in place returns the graph
            it was given.
        modified: True when the pass changed the graph.
        analysis: what a read-only pass found (None for a pass that rewrites).
    """

    graph: Any
    modified: bool
    analysis: Any = None


class Pass(ABC):
    """One step over a graph. Subclasses write :meth:`run`; calling the pass runs it and checks what came back."""

    in_place: bool = True  #: the pass edits the graph it is given (all of today's passes do)

    @property
    def name(self) -> str:
        return type(self).__name__

    @abstractmethod
    def run(self, graph) -> PassResult:
        """Run the pass on ``graph``."""

    def __call__(self, graph) -> PassResult:
        result = self.run(graph)
        if not isinstance(result, PassResult):
            raise TypeError(f"pass {self.name} returned {type(result).__name__}, not a PassResult")
        return result


def run_passes(graph, passes: Iterable[Pass]) -> PassResult:
    """Run ``passes`` in order, each on the graph the one before returned.

    Returns:
        the last pass's graph and analysis, ``modified`` if any pass changed the graph.
    """
    result = PassResult(graph, modified=False)
    for step in passes:
        out = step(result.graph)
        result = PassResult(out.graph, result.modified or out.modified, out.analysis)
    return result
