"""Rebuilding an IR model node by node, so that a rewrite can replace a few nodes and keep the rest.

:class:`Rebuild` walks the old model in topological order. A rule (see ``rewrites.py``) may give the new
tensor for a node (and mark the nodes it swallowed as done); every other node is called again, with its
layer unchanged, on the new tensors of its inputs. Layers act on axis letters, so when a rule changes the
order of an input's axes (a model input declared in another layout), the layers downstream follow it as
long as the spatial axes keep their order among themselves (``NHWC`` -> ``NCHW``); a layer whose meaning
depends on positions keeps it:

* a ``Flatten`` that feeds only ``Dense`` layers (through ``Dropout``) flattens in the new order, and the
  ``Dense`` kernels' rows are permuted to match (what ``to_torch`` does for a channels-first flatten);
* a ``Dense`` or a recurrent layer whose input had ``C`` last and no longer has (torch's ``Linear`` and ``LSTM``
  read features last: no source writes them otherwise), any other position-dependent layer, and every model
  output, gets a ``Permute`` back to its old layout.

Names, weights (by layer name), block marks, ``model.capture``, ``model.training`` and ``model.dtype``
carry over. Nothing here imports a framework.
"""

from __future__ import annotations

import contextlib

import numpy as np

from .... import ir
from ....ir import layers as L
from ....ir import ops as O
from ....ir.blocks import unmatched_kinds
from ....ir.errors import GraphError, IRError

#: layer kinds that act on axis letters only: they mean the same whatever order their input's axes are in,
#: as long as the spatial axes keep their order among themselves (a kernel's, a pool's, a padding's sizes are
#: given in that order)
LETTER_LAYERS = (
    L.Activation,
    L.ReLU,
    L.Conv1D,
    L.Conv2D,
    L.Conv3D,
    L.DepthwiseConv1D,
    L.DepthwiseConv2D,
    L.SeparableConv1D,
    L.SeparableConv2D,
    L.Conv1DTranspose,
    L.Conv2DTranspose,
    L.Dense,
    L.Dropout,
    L.Identity,
    L.BatchNorm,
    L.LayerNorm,
    L.GroupNorm,
    L.MaxPool1D,
    L.MaxPool2D,
    L.AvgPool1D,
    L.AvgPool2D,
    L.GlobalAvgPool1D,
    L.GlobalAvgPool2D,
    L.GlobalMaxPool1D,
    L.GlobalMaxPool2D,
    L.Rescaling,
    L.Normalization,
    L.ZeroPadding1D,
    L.ZeroPadding2D,
    L.Cropping1D,
    L.Cropping2D,
    L.UpSampling1D,
    L.UpSampling2D,
    L.Add,
    L.Subtract,
    L.Multiply,
    L.Average,
    L.Maximum,
    L.Concatenate,
    L.Embedding,
    L.SimpleRNN,
    L.LSTM,
    L.GRU,
    L.Bidirectional,
    O.Unary,
    O.Binary,
    O.Clip,
    O.Cast,
)
#: layer kinds that read their input's batch size alone (any order of its axes will do)
BATCH_ONLY = (L.LearnedConstant, O.Learned)
#: the layers that take their input's entries in order, whatever its letters
IN_ORDER = (L.Flatten, L.Reshape)
#: what passes a flattened feature vector through unchanged, feature by feature
_FEATURE_WISE = (L.Dropout, L.Identity, L.Activation, L.ReLU)


def letters_only(layer: L.Layer) -> bool:
    """Whether ``layer`` means the same for any axis order of its inputs (every axis it names is a letter)."""
    if not isinstance(layer, LETTER_LAYERS):
        return False
    return all(not isinstance(getattr(layer, f, None), int) for f in ("axis", "axes"))


class Rebuild:
    """One walk over ``model`` building a new graph; ``rules`` may replace nodes (see ``rewrites.py``)."""

    def __init__(self, model: ir.Model, frozen: frozenset[str] = frozenset()):
        self.model = model
        self.frozen = frozen  # block kinds whose layers no rule may rewrite (see apply_rewrites)
        self.unmatched: set[str] = set()  # after a refused walk: the block kinds whose instances it made differ
        self.consumers = model.consumers()  # old node name -> the old nodes reading it
        self.outputs = {id(t.node) for t in model.outputs}
        self.new: dict[int, ir.Tensor] = {}  # id(old node) -> its new tensor
        self.weights: dict[str, np.ndarray] = {}
        self.rows: dict[int, np.ndarray] = {}  # id(old node) -> feature order change its Dense readers absorb
        self.fired: list[str] = []
        self.relaid: set[int] = set()  # ids of old output nodes a rule declares in another layout on purpose
        self.relayout: dict[str, str] = {}  # old layout -> the one a rule declared an input in instead
        self.output_layouts: dict[int, str] = {}  # id(old output node) -> the layout it is given in (default: its own)
        self.memo: dict[str, object] = {}  # facts about the old graph a rule computes once per walk, by the rule's key

    # -- what rules use --------------------------------------------------------------------
    def users(self, node: ir.Node) -> list[ir.Node]:
        return self.consumers[node.name]

    def only_user(self, node: ir.Node, *, batch_readers: bool = False) -> ir.Node | None:
        """The one node reading ``node`` (None if several, none, or ``node`` is a model output); with
        ``batch_readers``, not counting the readers of its batch size alone (a LearnedConstant)."""
        users = self.users(node)
        if batch_readers:
            users = [u for u in users if not isinstance(u.layer, BATCH_ONLY)]
        return users[0] if len(users) == 1 and id(node) not in self.outputs else None

    def read_in_order(self, node: ir.Node) -> bool:
        """Whether ``node`` is read, is not a model output, and only by Flatten and Reshape layers, which take its
        entries in order whatever its letters (a free reshape's letters are those of the shape it is written in)."""
        users = self.users(node)
        return bool(users) and id(node) not in self.outputs and all(isinstance(u.layer, IN_ORDER) for u in users)

    def old_weights(self, node: ir.Node) -> dict[str, np.ndarray]:
        return self.model.layer_weights(node) if self.model.weights else {}

    def current(self, node: ir.Node) -> L.Layer:
        """``node``'s layer as this walk has already rebuilt it (a rule may have changed its options)."""
        done = self.new.get(id(node))
        layer = done.node.layer if done is not None else None
        return layer if type(layer) is type(node.layer) else node.layer

    def tensor(self, t: ir.Tensor) -> ir.Tensor:
        return self.new[id(t.node)]

    def add(self, layer: L.Layer, inputs, weights: dict, like: ir.Node, name: str | None = None) -> ir.Tensor:
        """Call ``layer`` (named, unless ``name`` is given, and block-marked as ``like``) on new tensors and keep
        its weights."""
        name = like.name if name is None else name
        with ir.block(*like.block) if like.block else contextlib.nullcontext():
            out = layer.replace(name=name)(*inputs)
        self.weights.update({f"{name}/{k}": v for k, v in weights.items()})
        return out

    # -- the walk ----------------------------------------------------------------------------
    def run(self, rules) -> ir.Model:
        for node in self.model.nodes:
            if id(node) in self.new:
                continue  # taken by a rule that fired on an earlier node
            for name, rule in rules if node.block is None or node.block[0] not in self.frozen else ():
                try:
                    out = rule(self, node)
                except IRError:  # the replacement the IR refuses (an option a layer kind lacks): no rewrite
                    out = None
                if out is not None:
                    self.fired.append(name)
                    break
            else:
                out = self.copy(node)
            self.new[id(node)] = out
        inputs = [self.new[id(t.node)] for t in self.model.inputs]
        outputs = [
            self.new[id(t.node)]
            if id(t.node) in self.relaid
            else self.back(self.new[id(t.node)], self.output_layouts.get(id(t.node), t.spec.layout))
            for t in self.model.outputs
        ]
        try:
            model = ir.Model(inputs, outputs, name=self.model.name)
        except GraphError:
            self.unmatched = unmatched_kinds(outputs)
            raise
        if self.model.weights:
            specs = model.weight_specs()
            model.set_weights({k: v for k, v in self.weights.items() if k in specs}, copy=False)
        for attr in ("capture", "training"):
            if getattr(self.model, attr, None) is not None:
                setattr(model, attr, getattr(self.model, attr))
        model.dtype = self.model.dtype
        return model

    def copy(self, node: ir.Node, layer: L.Layer | None = None, inputs=None, weights=None) -> ir.Tensor:
        """``node``'s layer (or ``layer`` in its place, on the old tensors ``inputs`` instead of its own, with
        ``weights`` instead of its own) again, on the new tensors of its inputs, keeping what it means; named
        as ``node``."""
        if node.is_input:
            spec = node.spec
            dims = tuple(s for a, s in zip(spec.layout, spec.shape) if a != "N")
            return ir.Input(dims, layout=spec.layout, dtype=spec.dtype, name=node.name)
        layer = layer or node.layer
        old = list(node.inputs if inputs is None else inputs)
        new = [self.tensor(t) for t in old]
        if isinstance(layer, L.Permute):  # letters travel with the data: only the layout it ends in counts
            if new[0].layout == node.spec.layout:
                return new[0]
            return self.add(L.Permute(node.spec.layout), new, {}, node)
        weights = dict(self.old_weights(node) if weights is None else weights)
        moved = [n.layout != o.layout for n, o in zip(new, old)]
        if isinstance(layer, L.Flatten) and moved[0] and self.rows_absorbed(node):
            self.rows[id(node)] = _feature_order(old[0].spec, new[0].spec)
        elif (
            any(moved)
            and not isinstance(layer, BATCH_ONLY)
            and not (isinstance(layer, L.Reshape) and _units_moved(old[0].spec, new[0]))
            and not (letters_only(layer) and len({t.layout for t in new}) == 1 and _spatial(new[0]) == _spatial(old[0]))
            or _features_moved(layer, old, new)
        ):
            new = [self.back(n, o.layout) for n, o in zip(new, old)]
        order = [self.rows[id(t.node)] for t in old if id(t.node) in self.rows]
        if order and isinstance(layer, L.Dense):
            weights["kernel"] = np.ascontiguousarray(weights["kernel"][order[0]])
        elif order:
            self.rows[id(node)] = order[0]  # a feature-wise layer: its readers absorb the order
        return self.add(layer, new, weights, node)

    def rows_absorbed(self, node: ir.Node) -> bool:
        """Whether every path from ``node`` reaches a Dense through feature-wise layers only (no output)."""
        if id(node) in self.outputs or not self.users(node):
            return False
        for user in self.users(node):
            if isinstance(user.layer, L.Dense):
                continue
            if not isinstance(user.layer, _FEATURE_WISE) or not self.rows_absorbed(user):
                return False
        return True

    def back(self, t: ir.Tensor, layout: str) -> ir.Tensor:
        """``t`` in ``layout`` again (a Permute, which moves letters and computes nothing)."""
        return t if t.layout == layout else L.Permute(layout)(t)


#: what every framework's layer reads features last from (torch's ``Linear``, ``LSTM``): no source writes one
#: reading channels first, so where a walk moved ``C`` from last, the layer reads a Permute back
_FEATURES_LAST = (L.Dense, L.SimpleRNN, L.LSTM, L.GRU, L.Bidirectional)


def _features_moved(layer: L.Layer, old: list, new: list) -> bool:
    """Whether ``layer`` reads features last and the walk moved its input's ``C`` from last."""
    if not isinstance(layer, _FEATURES_LAST):
        return False
    return any(o.spec.layout[-1] == "C" != n.layout[-1] for o, n in zip(old, new))


def _spatial(t: ir.Tensor) -> str:
    """The spatial letters in the order ``t`` holds them: a window's sizes, strides and pads follow that order."""
    return "".join(a for a in t.layout if a not in "NC")


def _units_moved(old: ir.TensorSpec, new: ir.Tensor) -> bool:
    """Whether ``new`` holds ``old``'s entries in the same order, only axes of size 1 having moved (a Reshape
    reads them alike)."""
    kept = [(a, s) for a, s in zip(old.layout, old.shape) if s != 1]
    return kept == [(a, s) for a, s in zip(new.layout, new.shape) if s != 1]


def _feature_order(old: ir.TensorSpec, new: ir.TensorSpec) -> np.ndarray:
    """For each feature of a flatten in ``new``'s axis order, its index in a flatten in ``old``'s order."""
    letters = [a for a in old.layout if a != "N"]
    sizes = [old.dim(a) for a in letters]
    index = np.arange(int(np.prod(sizes))).reshape(sizes)
    return index.transpose([letters.index(a) for a in new.layout if a != "N"]).reshape(-1)


def walk(model: ir.Model, rules, frozen: set[str]) -> tuple[Rebuild, ir.Model | None]:
    """One walk of ``rules`` over ``model``, again with the block kinds it made differ added to ``frozen``
    while that leaves out more; None for a walk the IR still refuses."""
    while True:
        rb = Rebuild(model, frozenset(frozen))
        try:
            return rb, rb.run(rules)
        except IRError:
            if not rb.unmatched - frozen:
                return rb, None
            frozen |= rb.unmatched
