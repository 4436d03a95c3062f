"""``free_letters``: one naming for tensors whose letters nothing gives a meaning (run with ``rename_letters``).

A reshape chooses its output's letters freely, and each importer chooses them by its own convention: a rotary
embedding's tables, unsqueezed to broadcast over the heads, are ``NDHW`` and ``NCDHW`` from ``from_torch`` and
``NBAE`` and ``NBFAE`` from ``from_keras`` (which names a ``keras.ops.expand_dims`` by fresh letters). Where a
reshape's output only reaches layers that act on letters alone (element-wise layers and ops, casts,
concatenations, permutes, learned weights broadcast into them) and is read back only by position (by further
reshapes), which letters it has changes nothing; this pass names every such *free* component of rank 4 or 5 as
Keras names a tensor of that rank (``NHWC``, ``NDHWC``), so that both importers give the same letters (its one
reshape so named, where the component has one alone and moves axes: MobileViT's unfold and fold).

Exact by construction, as ``rename_letters``: every tensor holds the same data in the same order, under other
names, and every layer of the component means the same under them. It fires only where the component holds
no layer that gives a letter a meaning, no model input or output, and every tensor of the full rank holds
its letters in one order or the component has one reshape alone (so that the naming does not depend on where
the walk entered it).
"""

from __future__ import annotations

from .... import ir
from ....ir import layers as L
from ....ir import layout as ir_layout
from ....ir import ops as O
from ....ir.errors import IRError
from . import relabel
from .rebuild import Rebuild

#: the letters Keras's convention gives a tensor of each rank this pass names
_DEFAULT = {4: "NHWC", 5: "NDHWC"}
#: a learned table of rank 3 looked up by a ``Take`` (a relative position bias's: ``NAB`` from ``from_torch``,
#: ``NTC`` from ``from_keras``) is named so too, where nothing gives its letters a meaning
_LEARNED = {3: "NTC"}
_LEARNED_LAYERS = (O.Learned, L.LearnedConstant)
_STARTS = (L.Reshape, O.View, *_LEARNED_LAYERS)
_FREE = (*relabel._SOURCES, *relabel._MOVERS)


def _free(steps: dict, layout: str) -> bool:
    """Whether every renamed tensor of a component acts on letters alone and holds them in ``layout``'s order
    (a learned weight broadcast into it may hold fewer), or in other orders where the component has one source
    alone, a ``View`` (then named after it wherever the walk entered: MobileViT's unfold, a View and a Transpose;
    not ShuffleNet's channel shuffle, Reshape and Permute layers that both importers letter alike)."""
    renamed = [node for kind, node in steps.values() if kind == "rename"]
    if any(not isinstance(node.layer, _FREE) or isinstance(node.layer, L.Slice) for node in renamed):
        return False
    orders = {node.spec.layout for node in renamed if node.spec.rank == len(layout)}
    if orders == {layout}:
        return True
    starts = [node for node in renamed if isinstance(node.layer, _STARTS)]  # ops, not a shuffle's layers
    return len(starts) == 1 and isinstance(starts[0].layer, O.View)


def _past_convention(node: ir.Node) -> str | None:
    """Past rank 5, where Keras has no convention: the letters of a reshape's input in order, then free ones (as
    ``from_torch`` names a reshape, and ``from_keras`` a reshape to that rank: a window partition's rank 6)."""
    rank = node.spec.rank
    if rank <= max(_DEFAULT) or not isinstance(node.layer, (L.Reshape, O.View)) or len(node.inputs) != 1:
        return None
    own = node.inputs[0].spec.layout.replace("N", "")[: rank - 1]
    return "N" + own + ir_layout.free_letters("N" + own, rank - 1 - len(own))


def _components(model: ir.Model) -> list[dict]:
    rb, plan, found = Rebuild(model), relabel._Plan(), []
    for node in model.nodes:
        if id(node) in plan.steps or node.is_input or not isinstance(node.layer, _STARTS):
            continue
        layout = node.spec.layout
        default = _DEFAULT.get(len(layout)) or _past_convention(node)
        if default is None and isinstance(node.layer, _LEARNED_LAYERS):
            default = _LEARNED.get(len(layout))
        if default is None or layout == default or layout[0] != "N" or len(set(layout)) != len(layout):
            continue
        letters = dict(zip(layout, default))
        steps = plan.component(rb, node, letters)
        if not steps or not _free(steps, layout):
            continue
        if len(layout) in _LEARNED and not any(isinstance(n.layer, O.Take) for _, n in steps.values()):
            continue
        found.append({k: (kind, letters) for k, (kind, _) in steps.items()})
        plan.steps.update(found[-1])
    return found


def free_letters(model: ir.Model) -> tuple[ir.Model, int]:
    """``model`` with each free component named by Keras's convention (see the module doc), and how many."""
    count = 0
    for _ in range(3):  # a component read by another one's reshape is named on the next pass
        found = _components(model)
        if not found:
            break
        try:
            model, count = relabel._run(model, {k: v for steps in found for k, v in steps.items()}), count + len(found)
            continue
        except (relabel._Abort, IRError):
            pass
        accepted = {}
        for steps in found:  # one component at a time: keep those that build
            try:
                relabel._run(model, {**accepted, **steps})
            except (relabel._Abort, IRError):
                continue
            accepted.update(steps)
            count += 1
        if not accepted:
            break
        model = relabel._run(model, accepted)
    return model, count


def rename_all(model: ir.Model) -> tuple[ir.Model, int]:
    """``relabel.rename_letters`` and then :func:`free_letters`: how many components each renamed, together."""
    model, renamed = relabel.rename_letters(model)
    model, named = free_letters(model)
    return model, renamed + named
