"""``Ctx``: what an ONNX table entry may ask about the op it converts.

Entries (``ops.py``, ``windows.py``, ``rnn.py``) take a ``Ctx``
and return ``(ir layer, weights)``; see ``ops.py``. An entry that needs
several IR nodes for one ONNX op (the op-tier entries, ``tier_*.py``) builds
them with :meth:`Ctx.call` and returns ``(tensor, {})``, or a tuple of
tensors, one per ONNX output; what it built counts only if the whole op
converts (:meth:`Ctx.mark` / :meth:`Ctx.rollback`).
"""

from __future__ import annotations

import numpy as np

from ....ir import layers as L
from ....ir.errors import UnsupportedError
from .passes.layout import channels_first

Converted = tuple[L.Layer, dict[str, np.ndarray]]


class Ctx:
    """What an entry may ask about the op it converts."""

    def __init__(self, importer, op, inputs):
        self.importer, self.op, self.graph, self.inputs = importer, op, importer.graph, inputs
        self.names: list[str] = []  # names claimed by call(), released if the op is refused
        self.weights: dict[str, np.ndarray] = {}  # weights of what call() built, by full name

    def call(self, layer: L.Layer, *inputs, weights: dict[str, np.ndarray] | None = None):
        """``layer`` named after the op, called on ``inputs``, its ``weights`` kept until the op converts."""
        name = self.importer.claim(self.op.name)
        self.names.append(name)
        out = layer.replace(name=name)(*inputs)
        specs = {k: s.shape for k, s in out.node.weight_specs().items()}
        got = {k: tuple(w.shape) for k, w in (weights or {}).items()}
        if specs != got:
            raise UnsupportedError(f"weights {got} do not match the IR layer's {specs}")
        self.weights.update({f"{name}/{k}": np.ascontiguousarray(w, np.float32) for k, w in (weights or {}).items()})
        return out

    def mark(self) -> tuple[int, set[str]]:
        return len(self.names), set(self.weights)

    def rollback(self, mark: tuple[int, set[str]] = (0, set())) -> None:
        """Forget what call() built since ``mark``: its names become free again, its weights are dropped."""
        count, kept = mark
        for name in self.names[count:]:
            self.importer.claimed.used.discard(name)
        del self.names[count:]
        self.weights = {k: w for k, w in self.weights.items() if k in kept}

    def value(self, index: int):
        """The computed IR tensor at the op's input ``index`` (None where the input is absent or a constant)."""
        given = [i for i, name in enumerate(self.op.inputs) if name]
        if index not in given:
            return None
        if len(self.inputs) == len(given):  # every operand a tensor (stored ones made LearnedConstants)
            return self.inputs[given.index(index)]
        if self.graph.const(self.op.inputs[index]) is not None:
            return None
        computed = [i for i in given if self.graph.const(self.op.inputs[i]) is None]
        return self.inputs[computed.index(index)]

    def attr(self, key: str, default=None):
        value = self.op.attrs.get(key, default)
        return value.decode() if isinstance(value, bytes) else value

    def const(self, index: int, what: str = "") -> np.ndarray | str | None:
        """Input ``index`` as a constant (None when absent); refused when it is computed in the graph."""
        if index >= len(self.op.inputs) or not self.op.inputs[index]:
            return None
        value = self.graph.const(self.op.inputs[index])
        if value is None:
            raise UnsupportedError(
                f"input {index} ({what or self.op.inputs[index]!r}) must be a constant (an "
                "initializer): the IR keeps weights and options fixed"
            )
        return value

    def array(self, index: int, what: str = "") -> np.ndarray | None:
        value = self.const(index, what)
        if isinstance(value, str):
            raise UnsupportedError(f"input {index} ({what}) must be a stored tensor")
        return None if value is None else np.asarray(value, dtype=np.float32)

    def x(self, layout: str | None = None):
        """The one data input (checked to hold ``layout``'s letters in that order, when given)."""
        if len(self.inputs) != 1:
            raise UnsupportedError(
                f"expects one computed input and the rest constants, got {len(self.inputs)} computed inputs"
            )
        x = self.inputs[0]
        # channels-first ops need N then C; the other letters only have to be non-batch, non-channel axes
        if layout is not None and layout == channels_first(len(layout)):
            ok = x.layout[:2] == "NC" and x.spec.rank == len(layout)
        else:
            ok = layout is None or x.layout == layout
        if not ok:
            raise UnsupportedError(
                f"reads its input as {layout!r} but the tensor arriving is {x.layout!r} "
                "(layout inference could not line the axes up)"
            )
        return x

    def letter(self, axis: int, x=None) -> str:
        x = x if x is not None else self.inputs[0]
        if not -x.spec.rank <= axis < x.spec.rank:
            raise UnsupportedError(f"axis {axis} is out of range for a rank-{x.spec.rank} tensor")
        found = x.layout[axis]
        if found == "N":
            raise UnsupportedError(f"axis {axis} is the batch axis, which the IR keeps symbolic and untouched")
        return found

    def outputs_used(self) -> list[int]:
        return [
            i for i, o in enumerate(self.op.outputs) if o and (self.graph.consumers.get(o) or o in self.graph.outputs)
        ]

    def only_first_output(self) -> None:
        extra = [i for i in self.outputs_used() if i]
        if extra:
            raise UnsupportedError(f"output(s) {extra} are used, and the IR's layer returns only the first")
