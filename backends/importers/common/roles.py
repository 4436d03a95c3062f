"""Role names for an attention, whatever the importer called its tensors (``relabel.rename_letters`` asks
:func:`attention` at each ``ScaledDotProductAttention`` and each attention written out in steps).

A ``ScaledDotProductAttention``'s query is named ``NHTD``, its key ``NHSD`` (``G`` for fewer heads), value
``NHSE``, result ``NHTE`` and a mask by the scores' ``NHTS``, with the heads' split and merge around them (a
reshape and a permute each) and what acts on them by letter (a rotary embedding) renamed alike; an attention
written out as ``MatMul`` ops is named in ``steps.py`` with the parts here. Each naming is a plan of
``relabel.py``'s steps: the same data in the same order under other names.
"""

from __future__ import annotations

from .... import ir
from ....ir import ops as O
from .rebuild import Rebuild
from .relabel import _MOVERS, _SOURCES, _crop, _plain_reshape, _Plan, _relabel, _scalar_rescaling


def _heads_part(part: dict) -> bool:
    """Whether the tensors renamed are only the heads' split or merge (reshapes and permutes) and what acts on
    them whatever their letters: element-wise layers and ops, slices, concatenations, croppings of one axis
    and scalar rescalings (a rotary embedding's products and rotate-half), so that both importers' namings of
    every tensor in between agree."""
    return all(
        kind != "rename"
        or _crop(n) is not None
        or _scalar_rescaling(n.layer)
        or isinstance(n.layer, (*_SOURCES, *_MOVERS))
        for kind, n in part.values()
    )


def _unnamed(node: ir.Node) -> bool:
    """A relabel, or a Reshape or View to its input's own shape and letters (at most one size unknown past
    the batch): the same tensor, named by the attention's roles with it gone."""
    if _relabel(node):
        return True
    if not _plain_reshape(node):
        return False
    before, after = node.inputs[0].spec, node.spec
    return (before.layout, before.shape) == (after.layout, after.shape) and after.shape[1:].count(None) <= 1


def _role_steps(part: dict, letters: dict) -> dict:
    """A component's steps for the role naming: a cropping renamed is written as the Slice it is ("slice")."""
    return {i: ("slice" if kind == "rename" and _crop(n) else kind, letters) for i, (kind, n) in part.items()}


def attention(plan: _Plan, rb: Rebuild, node: ir.Node) -> dict | None:
    from .steps import attention_steps  # it builds on this module's role parts

    plan.roles = True
    try:
        return (
            _roles(plan, rb, node)
            if isinstance(node.layer, O.ScaledDotProductAttention)
            else attention_steps(plan, rb, node)
        )
    finally:
        plan.roles = False


def _roles(plan: _Plan, rb: Rebuild, node: ir.Node) -> dict | None:
    """Steps naming an attention's tensors by role, whatever the importer called them: the query
    ``NHTD``, key ``NHSD`` (``G`` for fewer heads), value ``NHSE``, result ``NHTE``, a mask by the scores'
    ``NHTS`` (those of its letters it has), with the heads' split
    before (a reshape and a permute), what acts on them by letter (a rotary embedding) and their merge after
    renamed alike; a relabel (or a reshape to the same shape) just before an input goes."""
    q, k, v = node.inputs[:3] if len(node.inputs) in (3, 4) else (None,) * 3
    if q is None or any(t.spec.rank != 4 for t in (q, k, v)):
        return None
    if node.spec.layout != "N" + q.spec.layout[1:3] + v.spec.layout[3]:
        return None
    groups = "H" if k.spec.layout[1] == q.spec.layout[1] else "G"
    roles = [(q, "NHTD"), (k, "N" + groups + "SD"), (v, "N" + groups + "SE")]
    if len(node.inputs) == 4:  # the mask: its letters are among the scores' (N, heads, T and the keys' length)
        scores = dict(zip(q.spec.layout[:3] + k.spec.layout[2], "NHTS"))
        mask = node.inputs[3]
        if any(a not in scores for a in mask.spec.layout):
            return None
        roles.append((mask, "".join(scores[a] for a in mask.spec.layout)))
    steps = {id(node): ("rename", dict(zip(node.spec.layout, "NHTE")))}
    handled = {id(node)}
    for t, new in roles:
        if t.node.is_input or t.index or len({id(x.node) for x in node.inputs}) != len(node.inputs):
            return None
        if not _role_input(plan, rb, steps, handled, t, new, node):
            return None
    if not _role_part(plan, rb, steps, node, steps[id(node)][1], {id(node)}, from_readers=True):
        return None
    return _renaming(steps)


def _role_input(plan: _Plan, rb: Rebuild, steps: dict, handled: set, t: ir.Tensor, new: str, reader) -> bool:
    """Add to ``steps`` those naming ``t``, which ``reader`` alone reads, ``new`` by role. A relabel just before
    (or a reshape to the same shape) goes, its input so named, where that input's component can be; else the
    relabel stays, its output (letters a reshape chooses freely) named ``new``: a mask looked up by an
    ``Embedding`` (T5's relative position bias), whose ``C`` the heads' letter cannot rename."""
    if _unnamed(t.node) and rb.only_user(t.node) is reader and not t.node.inputs[0].node.is_input:
        up, dropped = t.node.inputs[0], {**steps, id(t.node): ("drop", {})}
        if _role_part(plan, rb, dropped, up.node, dict(zip(up.spec.layout, new)), handled | {id(t.node)}):
            steps.update(dropped)  # a relabel of the role's tensor: the tensor itself, so named
            handled.add(id(t.node))
            return True
    return _role_part(plan, rb, steps, t.node, dict(zip(t.spec.layout, new)), handled)


def _role_part(plan: _Plan, rb: Rebuild, steps: dict, x: ir.Node, letters: dict, handled, **kw) -> bool:
    """Add to ``steps`` those naming ``x``'s component by role (``from_readers`` and ``ok``, the check of its
    renamed tensors, in ``kw``); False where it cannot be or meets ``steps`` already."""
    ok = kw.pop("ok", _heads_part)
    part = plan.component(rb, x, letters, handled=handled, **kw)
    if part is None or any(i in steps for i in part) or not ok(part):
        return False
    steps.update(_role_steps(part, letters))
    return True


def _renaming(steps: dict) -> dict | None:
    """``steps``, or None where every tensor is named so already."""
    if all(kind in ("rename", "read") and all(a == b for a, b in ls.items()) for kind, ls in steps.values()):
        return None
    return steps
