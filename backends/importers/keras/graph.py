"""Reading a Keras 3 model's graph without running it: tensors, layer calls, names.

Every symbolic Keras tensor records the call that made it in ``_keras_history``
(operation, call index, output index); ``operation._inbound_nodes[i]`` is that
call's ``Node``, with its input and output tensors and its arguments. That is
all the importer needs: the model is never called.
"""

from __future__ import annotations

import keras
from keras import layers as K

# Exact classes only: a subclass of Functional (or Sequential) may override call().
from keras.src.models.functional import Functional  # no public alias in Keras 3

from .... import ir
from ....ir.errors import IRError, UnsupportedError
from ....ir.layout import default_layout
from .precision import ir_dtype

DTYPES = ("float32", "int32", "int64")


def class_label(obj) -> str:
    """``keras.layers.Dense`` for public Keras layers, the full module path for anything else."""
    cls = type(obj)
    if getattr(K, cls.__name__, None) is cls:
        return f"keras.layers.{cls.__name__}"
    if cls is keras.Sequential or cls is Functional:
        return "keras.Sequential" if cls is keras.Sequential else "keras.Model (functional)"
    return f"{cls.__module__}.{cls.__qualname__}"


def is_graph_model(op) -> bool:
    """A functional or Sequential model exactly (a subclass may override call())."""
    return type(op) in (Functional, keras.Sequential)


def check_model(model) -> None:
    if not isinstance(model, keras.Model):
        raise UnsupportedError(f"from_keras takes a keras.Model, got {type(model).__name__}")
    if not is_graph_model(model):
        raise UnsupportedError(
            f"model {model.name!r} is a {class_label(model)}, a subclassed model: its computation "
            "is Python code in call(), and twinnet never runs code from a model. Only functional "
            "and Sequential models can be imported"
        )
    try:
        model.inputs, model.outputs
    except (AttributeError, ValueError) as e:
        raise UnsupportedError(f"model {model.name!r} has no graph yet ({e}); give it a keras.Input or build it") from e


def key(tensor) -> tuple[int, int, int]:
    """Identity of a Keras symbolic tensor: (producing operation, call index, output index)."""
    h = tensor._keras_history
    return id(h.operation), h.node_index, h.tensor_index


def node_of(tensor):
    h = tensor._keras_history
    return h.operation._inbound_nodes[h.node_index]


def private_maker(tensor, cls, consumers: dict, output_keys: set, times: dict, readers: int = 1):
    """The call making ``tensor`` if it is a call of operation class ``cls``, the operation called once,
    ``tensor`` read by ``readers`` calls and not a model output (a step a pattern may fold away); else None."""
    if tensor is None or not hasattr(tensor, "_keras_history"):
        return None
    node = node_of(tensor)
    if (
        node.is_input
        or type(node.operation) is not cls
        or times.get(id(node.operation)) != 1
        or len(consumers.get(key(tensor), [])) != readers
        or key(tensor) in output_keys
    ):
        return None
    return node


def topological_calls(outputs) -> list:
    """The Keras ``Node`` (one layer call) of every tensor the outputs depend on, inputs first."""
    order, seen = [], set()
    stack = [(node_of(t), False) for t in reversed(outputs)]
    while stack:
        node, expanded = stack.pop()
        if expanded:
            order.append(node)
            continue
        if id(node) in seen:
            continue
        seen.add(id(node))
        stack.append((node, True))
        stack.extend((node_of(t), False) for t in reversed(node.input_tensors) if id(node_of(t)) not in seen)
    return order


def stand_in(tensor) -> ir.Tensor | None:
    """An IR input shaped like a Keras tensor, to keep checking layers behind a refused one."""
    dtype = ir_dtype(str(tensor.dtype))
    if dtype not in DTYPES:
        return None
    shape = tuple(tensor.shape[1:])
    try:
        return ir.Input(shape, layout=default_layout(len(shape) + 1, dtype.startswith("int")), dtype=dtype)
    except IRError:
        return None
