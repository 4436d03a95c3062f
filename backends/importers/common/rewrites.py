"""Rewrites every importer runs on what it imported: one small function per rewrite, each exact.

An importer reads the source's operations one by one, so what it gives back is what the source wrote
(a ``Conv2d(padding=1)`` and a separate ``ReLU``), not what a person would write in the other framework.
:data:`REWRITES` lists, in order, the rewrites that turn it into the idiomatic IR, each a function
``rule(rebuild, node) -> ir.Tensor | None`` on a :class:`~.rebuild.Rebuild` walk: it returns the new
tensor for ``node`` (and may mark the nodes it swallowed as done in ``rebuild.new``), or None where it
does not apply. A rule fires only where the result computes exactly what the original did (the same
arithmetic, not merely close numbers); its tests prove both that and where it must not fire.

* ``declared_input_layout``: a model input that is only permuted and then relabelled (a ``Reshape``
  that moves no data) is declared in the layout that pair amounts to; the pair goes. This is how a
  module ``to_torch`` compiled from an ``NHWC`` model reads back: torch sees an ``NCHW``-looking tensor.
  Element-wise layers between the input and the pair (a scalar ``Rescaling``, a ``Normalization``, an
  activation: what ``to_torch`` computes on the input as it arrives) stay, their axis letters renamed.
* ``relaid_learned``, ``channel_norm_pair`` (``relaid.py``): a ``Learned`` and a ``LayerNorm`` that follow it.
* ``declared_output_layout``: a model output that is a permuted tensor relabelled back (how ``from_keras``
  reads a model ``to_keras`` compiled from an ``NCHW`` model) is declared in the permuted layout instead.
* ``unit_reshape``: a ``Reshape`` to a tensor whose axes other than the batch hold one entry each but one
  (squeeze-excitation's ``(N, C)`` -> ``(N, C, 1, 1)``) ends in the layout an input was declared in instead
  of the one it had (``NCHW`` -> ``NHWC``): the same data in any order, and the layers after it follow.
* ``merge_relabel``: a ``Reshape`` read only by a relabelling ``Reshape`` is one ``Reshape`` ending in the
  relabel's letters (a reshape of a reshape is the last one's shape; the relabel moved no data).
* the rules of ``padding.py`` and ``fusions.py``: pads, and torch's modules fused into Keras's layers.
* the rules of ``relaid.py``, ``positional.py``, ``spellings.py``, ``moves.py``, ``selects.py`` and
  ``broadcast.py`` (each file's docstring lists its own): one spelling for what torch and Keras write two ways.

Before each walk and after the last, ``rename_letters`` (``relabel.py``) removes the relabelling
Reshapes/Views it can by naming the tensors around each in its letters, names patch tokens ``NTC`` (as Keras
does) and an attention's heads by role.

:func:`apply_rewrites` repeats the walk until nothing fires; ``model.rewrites`` lists what fired.
"""

from __future__ import annotations

from .... import ir
from ....ir import layers as L
from ....ir import ops as O
from ....ir.errors import IRError
from . import broadcast, free, fusions, moves, padding, positional, relaid, selects, spellings
from .rebuild import Rebuild, walk

#: one-input layers that compute element by element (a Normalization per entry of the axis letter it names)
_ELEMENTWISE = (L.Rescaling, L.Normalization, L.Activation, L.ReLU, L.Dropout, L.Identity, O.Unary, O.Clip)


def _elementwise(node: ir.Node) -> bool:
    layer = node.layer
    if len(node.inputs) != 1 or not isinstance(layer, _ELEMENTWISE):
        return False
    if isinstance(layer, L.Rescaling):
        return not isinstance(layer.scale, tuple) and not isinstance(layer.offset, tuple)
    return not isinstance(getattr(layer, "axis", None), int)


def _renamed(layer: L.Layer, letters: dict[str, str]) -> L.Layer:
    """``layer`` (of :data:`_ELEMENTWISE`) acting on the same data once its input's letters are renamed."""
    if isinstance(layer, L.Normalization) and layer.axis is not None:
        return layer.replace(axis=letters[layer.axis])
    return layer


def declared_input_layout(rb: Rebuild, node: ir.Node) -> ir.Tensor | None:
    """Input -> element-wise layers -> Permute -> relabelling Reshape (each the only reader of the last): the
    input in that layout, the element-wise layers on it with their letters renamed."""
    chain, permute = [], rb.only_user(node, batch_readers=True) if node.is_input else None
    while permute is not None and _elementwise(permute):
        chain.append(permute)
        permute = rb.only_user(permute)
    relabel = rb.only_user(permute) if permute is not None and isinstance(permute.layer, L.Permute) else None
    if relabel is None or not _is_relabel(relabel):
        return None
    # output position i holds input position p[i]; the relabel names position i relabel.layout[i]
    moved = permute.spec.layout
    source = [node.spec.layout.index(a) for a in moved]
    layout = [""] * len(source)
    for i, p in enumerate(source):
        layout[p] = relabel.spec.layout[i]
    layout = "".join(layout)
    spec = node.spec
    try:
        out = ir.Input(
            tuple(s for a, s in zip(layout, spec.shape) if a != "N"), layout=layout, dtype=spec.dtype, name=node.name
        )
    except IRError:
        return None
    x, letters = out, dict(zip(spec.layout, layout))
    for link in chain:
        x = rb.new[id(link)] = rb.add(_renamed(link.layer, letters), [x], rb.old_weights(link), link)
    rb.new[id(permute)] = rb.new[id(relabel)] = x
    rb.relayout[spec.layout] = layout
    return out


def unit_reshape(rb: Rebuild, node: ir.Node) -> ir.Tensor | None:
    """A Reshape to at most one axis of more than one entry, in an old layout an input left: in the new one (unless
    only layers taking its entries in order read it: then its letters are those of the shape it is written in)."""
    layout = rb.relayout.get(node.spec.layout) if isinstance(node.layer, L.Reshape) else None
    if layout is None or sum(s != 1 for a, s in zip(node.spec.layout, node.spec.shape) if a != "N") > 1:
        return None
    if node.spec.layout.index("N") != layout.index("N") or rb.read_in_order(node):
        return None
    target = tuple(node.spec.dim(a) for a in layout if a != "N")
    return rb.copy(node, node.layer.replace(target_shape=target, layout=layout))


def declared_output_layout(rb: Rebuild, node: ir.Node) -> ir.Tensor | None:
    """Permute -> relabelling Reshape that is a model output: the output declared in the Permute's layout."""
    if id(node) not in rb.outputs or not _is_relabel(node) or not isinstance(node.inputs[0].node.layer, L.Permute):
        return None
    if any(t.node is node for t in rb.model.inputs) or len(rb.users(node)) or node.inputs[0].index:
        return None
    rb.relaid.add(id(node))
    return rb.tensor(node.inputs[0])


def _is_relabel(node: ir.Node) -> bool:
    """A Reshape that keeps every size at its position and the batch axis in place: it only renames axes."""
    if not isinstance(node.layer, L.Reshape):
        return False
    before, after = node.inputs[0].spec, node.spec
    return [s for a, s in zip(before.layout, before.shape) if a != "N"] == [
        s for a, s in zip(after.layout, after.shape) if a != "N"
    ] and before.layout.index("N") == after.layout.index("N")


def merge_relabel(rb: Rebuild, node: ir.Node) -> ir.Tensor | None:
    """Reshape -> relabelling Reshape (its only reader): the first Reshape, ending in the relabel's letters."""
    if not _is_relabel(node) or node.is_input:
        return None
    inner = node.inputs[0].node
    if inner.is_input or not isinstance(inner.layer, L.Reshape) or rb.only_user(inner) is not node:
        return None
    return rb.copy(node, inner.layer.replace(layout=node.spec.layout), [inner.inputs[0]])


#: (name, rule) in the order each walk tries them
REWRITES = (
    ("declared_input_layout", declared_input_layout),
    ("declared_output_layout", declared_output_layout),
    *relaid.RULES,
    # before unit_reshape, which would relay their last Reshape alone where the map is 1x1
    ("cropped_rows", spellings.cropped_rows),
    ("channel_shuffle", positional.channel_shuffle),
    ("permuted_shuffle", positional.permuted_shuffle),
    ("unit_reshape", unit_reshape),
    ("merge_relabel", merge_relabel),
    *padding.RULES,
    *fusions.RULES,
    *positional.RULES,
    *spellings.RULES,
    *moves.RULES,
    *selects.RULES,
    *broadcast.RULES,
)


def apply_rewrites(model: ir.Model, rules=REWRITES, *, rounds: int = 4) -> ir.Model:
    """``model`` rewritten by ``rules`` until none fires (at most ``rounds`` walks); ``model.rewrites`` lists
    the names of the rewrites that fired, once per firing. Where the IR refuses a walk's result because the
    instances of a block kind no longer match (a rule fired in some of them only), that kind is left alone
    and the walk done again; a walk still refused is dropped, keeping the model as it was before it."""
    fired: list[str] = []
    frozen: set[str] = set()
    for _ in range(rounds):
        model, renamed = free.rename_all(model)
        fired += ["rename_letters"] * renamed
        rb, rebuilt = walk(model, rules, frozen)
        if rebuilt is None or not rb.fired:
            break
        model = rebuilt
        fired += rb.fired
    model, renamed = free.rename_all(model)  # what the last walk left to rename
    fired += ["rename_letters"] * renamed
    model.rewrites = fired
    return model
