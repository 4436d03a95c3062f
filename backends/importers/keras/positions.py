"""The Keras form of the op tier's ``Positions`` (``backends/keras/ops_tensors.py``), recognised back into that op.

``keras.ops.arange`` needs a known length, so ``to_keras`` counts the positions of a reference tensor instead:

``ref -> zeros_like(dtype='int32') [-> sum(axis=the other axes)] -> add(1) -> cumsum(axis=1) -> subtract(1)
-> cast(dtype)``

Each link must be called once, read only by the next link (apart from the last) and not be a model output;
the zeros must be rank 2 (batch, the counted axis) once summed. The chain is one ``Positions`` of ``ref`` over
the axis left after the sum, its new letter the first one free beside the batch and that axis (as
``from_torch`` names an ``arange``), named after the cast. ``zeros_like``, ``cumsum`` and the others anywhere
else go through the table as usual (the first two are refused: the IR has no op for them).
"""

from __future__ import annotations

from keras.src.ops import core as kcore
from keras.src.ops import numpy as knp

from .graph import private_maker

__all__ = ["positions_chains"]

DTYPES = ("int32", "int64", "float32")


def _scalar(node, value) -> bool:
    """``node`` is ``op(tensor, value)`` with a Python number second."""
    args = node.arguments.args
    return len(args) == 2 and not node.arguments.kwargs and type(args[1]) in (int, float) and args[1] == value


def _axes(value) -> tuple:
    return tuple(value) if isinstance(value, (list, tuple)) else (value,)


# the links from the cast back to the zeros: (operation class, does this call fit)
_LINKS = (
    (knp.Subtract, lambda n: _scalar(n, 1)),
    (knp.Cumsum, lambda n: n.operation.axis == 1 and len(n.arguments.args) == 1),
    (knp.Add, lambda n: _scalar(n, 1)),
)


def positions_chains(calls, consumers: dict, output_keys: set, times: dict) -> dict[int, tuple]:
    """``id(cast call) -> (reference Keras tensor, the counted axis's Keras index, dtype, ids of the other links)``."""
    found = {}

    def previous(link, cls):
        """The call making ``link``'s first argument, if it is a ``cls`` call that only ``link`` reads."""
        tensor = link.arguments.args[0] if link.arguments.args else None
        return private_maker(tensor, cls, consumers, output_keys, times)

    for node in calls:
        if node.is_input or type(node.operation) is not kcore.Cast or str(node.operation.dtype) not in DTYPES:
            continue
        link, members = node, []
        for cls, fits in _LINKS:
            link = previous(link, cls)
            if link is None or not fits(link):
                break
            members.append(link)
        else:
            summed = previous(link, knp.Sum)
            zeros = previous(summed or link, knp.ZerosLike)
            if zeros is None or str(zeros.operation.dtype) != "int32" or len(zeros.arguments.args) != 1:
                continue
            ref = zeros.arguments.args[0]
            rank = len(ref.shape)
            others = set()
            if summed is not None:
                if summed.operation.keepdims or len(summed.arguments.args) != 1:
                    continue
                others = {int(a) % rank for a in _axes(summed.operation.axis)}
                members.append(summed)
            left = [i for i in range(1, rank) if i not in others]
            if len(left) != 1 or (summed is None and rank != 2) or 0 in others:
                continue
            members.append(zeros)
            found[id(node)] = (ref, left[0], str(node.operation.dtype), {id(m) for m in members})
    return found
