"""What a rewriting pass over an ONNX :class:`~..graph.Graph` can change, kept so the pass can say whether it did."""

from __future__ import annotations

from ..graph import Graph


class Snapshot:
    """The graph's ops (held, compared by identity, with their attribute names) and the names of its stored and
    folded constants, at the moment the snapshot is taken."""

    def __init__(self, graph: Graph):
        self.ops = list(graph.ops)
        self.attrs = [tuple(op.attrs) for op in self.ops]
        self.consts = set(graph.consts)
        self.symbolic = set(graph.symbolic)

    def changed(self, graph: Graph) -> bool:
        """Whether ``graph`` differs from the snapshot: an op replaced, added, removed or marked; a constant added."""
        return (
            len(self.ops) != len(graph.ops)
            or any(a is not b for a, b in zip(self.ops, graph.ops))
            or self.attrs != [tuple(op.attrs) for op in graph.ops]
            or self.consts != set(graph.consts)
            or self.symbolic != set(graph.symbolic)
        )
