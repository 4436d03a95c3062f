"""What the Keras importer (``importer.py``) checks of each call, and how it keeps Keras's axis convention.

Why a layer call is refused whatever its options (:meth:`CallChecks.refusals`),
a ZeroPadding given to the 'valid' convolution after it (:meth:`CallChecks.fold`),
weights and inferred shapes checked against Keras's, and the relabelling
``Reshape`` that names axes in Keras's convention again.
"""

from __future__ import annotations

import keras
from keras import layers as K

from .... import ir
from ....ir import layers as L
from ....ir.errors import UnsupportedError
from ....ir.ops.base import Op
from .attention import MHA_FLAGS, MHA_KEYWORDS, mha_tensors
from .graph import is_graph_model, key
from .ops_helpers import keras_layout
from .ops_helpers import relabel as relabel_view
from .precision import compute_dtype, policy_problem

FOLDS = {K.ZeroPadding1D: K.Conv1D, K.ZeroPadding2D: K.Conv2D}
# Layers called with tensors or options as keywords: class -> (a function giving the call's tensors in the IR's
# input order, reasons to refuse and whether the last tensor is a mask; the call keywords it reads; call flags ->
# IR layer fields). Other layers take positional tensors only.
KEYWORD_CALLS = {K.MultiHeadAttention: (mha_tensors, MHA_KEYWORDS, MHA_FLAGS)}


class CallChecks:
    """A mixin of the Keras importer, which holds ``table``, ``times``, ``consumers``, ``pads`` and the names."""

    # -- checks ------------------------------------------------------------------------
    def refusals(self, node) -> list[str]:
        """Why this layer call cannot be imported, whatever its options (empty if nothing)."""
        op = node.operation
        cls = type(op)
        if isinstance(op, keras.Model) and not is_graph_model(op):
            return [
                "a nested subclassed model: its computation is Python code in call(), and twinnet never runs "
                "code from a model"
            ]
        if cls is K.Lambda:
            return [
                "a Lambda layer wraps arbitrary Python code, and twinnet never runs code from a model; "
                "rebuild it from standard Keras layers"
            ]
        if cls not in self.table and not is_graph_model(op):
            if not isinstance(op, K.Layer):
                return [
                    f"a keras.ops operation ({op.name}) the IR has no op for (docs/limits.md lists the "
                    "keras.ops calls that import); use a matching layer or op"
                ]
            if not cls.__module__.startswith("keras."):
                return [
                    "a custom layer: twinnet never runs code from a model, so only standard Keras layers in "
                    "its table can be imported"
                ]
            return [f"the IR has no equivalent of Keras's {cls.__name__}"]
        reasons = []
        if self.times[id(op)] > 1:
            reasons.append(f"is called {self.times[id(op)]} times (shared weights), which the IR cannot express")
        problem = policy_problem(op)
        if problem:
            reasons.append(problem)
        self.precisions.setdefault(compute_dtype(op), []).append(op.name)
        if len(node.output_tensors) != 1 and not is_graph_model(op):
            reasons.append(f"returns {len(node.output_tensors)} tensors; the IR's layers return one")
        if not isinstance(op, K.Layer):  # a keras.ops call: its entry reads its keyword arguments
            return reasons
        taken = KEYWORD_CALLS[cls][1] if cls in KEYWORD_CALLS else ()
        for kwarg, value in node.arguments.kwargs.items():
            if value is None or value is False or kwarg in taken:  # Keras records defaults: training=False, mask=None
                continue
            if kwarg == "training":
                reasons.append("is called with training=True, so Keras runs it in training mode even at inference")
            elif kwarg == "mask":
                reasons.append(
                    "receives a Keras mask (from Embedding(mask_zero=True) or Masking upstream), "
                    "which the IR does not model"
                )
            else:
                reasons.append(f"is called with {kwarg}=..., which the IR has no input for")
        return reasons

    def fold(self, node) -> bool:
        """Give a ZeroPadding's pads to the one 'valid' convolution that consumes it; False if there is none."""
        op = node.operation
        cfg = op.get_config()
        out_key = key(node.output_tensors[0])
        users = self.consumers.get(out_key, [])
        conv = users[0] if len(users) == 1 else None
        if (
            cfg.get("data_format") != "channels_last"
            or out_key in self.output_keys
            or conv is None
            or type(conv.operation) is not FOLDS[type(op)]
            or conv.operation.get_config()["padding"] != "valid"
        ):
            return False
        pads = cfg["padding"]
        self.pads[id(conv)] = (tuple(pads),) if type(op) is K.ZeroPadding1D else tuple(tuple(p) for p in pads)
        return True

    def check_weights(self, node: ir.Node, weights: dict) -> None:
        specs = node.weight_specs()
        got = {k: tuple(w.shape) for k, w in weights.items()}
        want = {k: s.shape for k, s in specs.items()}
        if got != want:
            raise UnsupportedError(f"Keras weights {got} do not match the IR layer's {want}")

    def embedding_ids(self, tensor) -> bool:
        """Whether an Embedding reads the Keras tensor ``tensor`` (token ids of a grid, ``(N, H, W)``)."""
        return any(isinstance(n.operation, K.Embedding) for n in self.consumers.get(key(tensor), []))

    def keras_order(self, x: ir.Tensor, name: str, embedding: bool = False) -> ir.Tensor:
        """An op's result named in Keras's axis convention again, for a layer to read (no data moves); ids an
        ``embedding`` reads are named so that its vectors are in the convention (``NHW``, for ``NHWC``)."""
        if not isinstance(x.node.layer, Op) or x.spec.rank > 5:
            return x
        target = keras_layout(x.spec.rank, x.dtype.startswith("int"))
        if embedding and x.spec.rank < 5:
            target = keras_layout(x.spec.rank + 1).replace("C", "")
        return x if x.layout == target else relabel_view(x, target, self.claim(name))

    def relabel(self, out: ir.Tensor, name: str) -> ir.Tensor:
        """Declare ``out`` in Keras's axis convention again after a Permute (no data moves)."""
        if out.spec.rank > 5:  # no convention: the permuted letters stay, as from_torch keeps them
            return out
        target = keras_layout(out.spec.rank, out.dtype.startswith("int"))
        if out.layout == target:
            return out
        if None in out.shape[1:]:  # a symbolic length: the op tier's View, which takes one
            return relabel_view(out, target, self.claim(f"{name}_relabel"))
        return L.Reshape(tuple(out.shape[1:]), name=self.claim(f"{name}_relabel"))(out)

    @staticmethod
    def check_shape(out: ir.Tensor, tensor) -> None:
        """The IR's inferred shape must be Keras's (both batch first): a guard against importer bugs."""
        theirs, ours = tuple(tensor.shape[1:]), tuple(out.shape[1:])
        if len(theirs) != len(ours) or any(a is not None and b is not None and a != b for a, b in zip(theirs, ours)):
            raise UnsupportedError(f"the IR infers output shape {ours} where Keras has {theirs}")
