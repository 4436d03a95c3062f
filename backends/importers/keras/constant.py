"""The Keras form of IR ``LearnedConstant`` (``backends/keras/constant.py``), recognised back into that layer.

Keras holds a learned value with no batch axis as a one-row ``Embedding``
looked up at index 0 for every sample, behind layers that only produce that
0 from a reference tensor. The exact chain

``ref -> Flatten -> Reshape((-1, 1)) -> GlobalMaxPooling1D -> Discretization(bin_boundaries=[])
-> Embedding(1, size) -> Reshape(shape)``

(each link called once, each intermediate tensor read only by the next link
and not a model output) is one ``LearnedConstant(shape)`` of ``ref``, named
after the last Reshape, its value the Embedding's row reshaped. Any other use
of these layers goes through the table as usual (Discretization is refused).
The op tier's ``Learned`` is lowered to the same chain with a ``keras.ops.reshape``
as the last link (batch axis first, as ``-1``); that chain is read back as a
``Learned``, named after the Embedding without its ``_table`` suffix.
"""

from __future__ import annotations

from keras import layers as K
from keras.src.ops import numpy as knp

from .graph import key, node_of

__all__ = ["constant_chains"]

# the links from the last Reshape back to the Flatten, and what each one's config must say
_LINKS = (
    (K.Embedding, lambda c: c["input_dim"] == 1 and not c["mask_zero"]),
    (
        K.Discretization,
        lambda c: c["bin_boundaries"] is not None and len(c["bin_boundaries"]) == 0 and c["output_mode"] == "int",
    ),  # no boundaries: every value in bucket 0
    (K.GlobalMaxPooling1D, lambda c: c["data_format"] == "channels_last" and not c["keepdims"]),
    (K.Reshape, lambda c: tuple(c["target_shape"]) == (-1, 1)),
    (K.Flatten, lambda c: c.get("data_format", "channels_last") == "channels_last"),
)


def is_last_link(node) -> bool:
    """A ``layers.Reshape`` (``LearnedConstant``) or a ``keras.ops.reshape`` keeping the batch axis (``Learned``)."""
    if node.is_input:
        return False
    if type(node.operation) is K.Reshape:
        return True
    shape = getattr(node.operation, "newshape", None)
    return type(node.operation) is knp.Reshape and isinstance(shape, (list, tuple)) and shape[:1] in ((-1,), [-1])


def constant_chains(calls, consumers: dict, output_keys: set, times: dict) -> dict[int, tuple]:
    """``id(last Reshape call) -> (reference Keras tensor, Embedding call, ids of the chain's other calls)``."""
    found = {}
    for node in calls:
        if not is_last_link(node):
            continue
        link, members = node, []
        for cls, fits in _LINKS:
            if len(link.input_tensors) != 1:
                break
            tensor = link.input_tensors[0]
            prev = node_of(tensor)
            if (
                type(prev.operation) is not cls
                or prev.is_input
                or times.get(id(prev.operation)) != 1
                or len(consumers.get(key(tensor), [])) != 1
                or key(tensor) in output_keys
                or not fits(prev.operation.get_config())
            ):
                break
            members.append(prev)
            link = prev
        else:
            if len(link.input_tensors) == 1:
                found[id(node)] = (link.input_tensors[0], members[0], {id(m) for m in members})
    return found
