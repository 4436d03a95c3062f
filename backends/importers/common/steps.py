"""Role names for an attention written out in steps: ``softmax(q @ k^T + bias) @ v`` as ``MatMul`` ops, read by
``relabel.rename_letters`` beside the ``ScaledDotProductAttention`` it names by role.

Swin's shifted windows add their mask over a view of the windows, and Swin V2 scales cosine similarities, so
neither importer reads those attentions as one op: each letters the query, key, value and scores by position
(``from_torch`` ``NCHW``, ``from_keras`` ``NWHC``). Named by role, as the one op's are, both agree: the query
``NHTD``, the key as the first product reads it ``NHDS``, the scores ``NHTS`` (and the probabilities the softmax
gives), the value ``NHSE`` and the result ``NHTE``, with the heads' split and merge (reshapes, permutes), a scale,
the biases added to the scores and the softmax renamed alike. MaxViT's heads are rank 5, its partitions an axis
of their own between the batch and the heads (not merged into the batch as Swin's windows are): there that axis
is ``P`` (the query ``NPHTD``, ...), and the bias is added by the ``Add`` layer. Exact by construction, as every
renaming of ``rename_letters``: the same data in the same order under other names, each layer meaning the same
under them.
"""

from __future__ import annotations

from .... import ir
from ....ir import layers as L
from ....ir import ops as O
from .rebuild import Rebuild
from .relabel import _MOVERS, _ROLE_OPS, _SOURCES, _crop, _Plan, _scalar_rescaling
from .roles import _renaming, _role_part, _unnamed

#: what may lie between the scores' product and the second (a scale, biases and masks, the windows' views, the
#: softmax and a dropout after it)
_BETWEEN = (O.Binary, L.Add, O.View, O.Softmax, O.Unary, L.Dropout, L.Identity)


def _scores(t: ir.Tensor, depth: int = 8) -> ir.Node | None:
    """The ``MatMul`` whose scores ``t`` is a softmax of (through sums with biases, scales and views), else None."""
    node, seen_softmax = t.node, False
    while depth and not node.is_input:
        if isinstance(node.layer, O.MatMul):
            return node if seen_softmax else None
        if not isinstance(node.layer, _BETWEEN) and not _scalar_rescaling(node.layer):
            return None
        seen_softmax |= isinstance(node.layer, O.Softmax)
        node, depth = node.inputs[0].node, depth - 1
    return None


def _part_ok(part: dict) -> bool:
    """Every renamed tensor a heads' split or merge, or what acts on letters alone (as ``roles._heads_part``),
    or the softmax."""
    return all(
        kind != "rename"
        or _crop(n) is not None
        or _scalar_rescaling(n.layer)
        or isinstance(n.layer, (*_SOURCES, *_MOVERS, *_ROLE_OPS))
        for kind, n in part.values()
    )


def _roles(rank: int, role: str) -> str:
    """``role`` (``NHTS``, ...) at ``rank``: a rank-5 attention keeps its partitions (MaxViT's windows and grid)
    as an axis of their own, ``P``, between the batch and the heads."""
    return role if rank == 4 else role[0] + "P" + role[1:]


def attention_steps(plan: _Plan, rb: Rebuild, node: ir.Node) -> dict | None:
    """Steps naming by role the attention whose second product ``node`` (probabilities times values) is."""
    rank = node.spec.rank
    if not isinstance(node.layer, O.MatMul) or rank not in (4, 5) or node.layer.layout is not None:
        return None
    probs, v = node.inputs
    first = _scores(probs)
    if first is None or first.layer.layout is not None or first.spec.rank != rank:
        return None
    q, kt = first.inputs
    if any(t.spec.rank != rank or t.node.is_input or t.index for t in (q, kt, v, probs)):
        return None
    scores = _roles(rank, "NHTS")
    steps = {
        id(first): ("rename", dict(zip(first.spec.layout, scores))),
        id(node): ("rename", dict(zip(node.spec.layout, _roles(rank, "NHTE")))),
    }
    handled = {id(first), id(node)}
    roles = [(q, _roles(rank, "NHTD")), (kt, _roles(rank, "NHDS")), (v, _roles(rank, "NHSE"))]
    parts = []
    for (t, new), reader in zip(roles, (first, first, node)):
        if _unnamed(t.node) and rb.only_user(t.node) is reader and not t.node.inputs[0].node.is_input:
            steps[id(t.node)] = ("drop", {})  # a relabel of the role's tensor: the tensor itself, so named
            handled.add(id(t.node))
            t = t.node.inputs[0]
        parts.append((t.node, dict(zip(t.spec.layout, new)), False))
    parts += [(first, steps[id(first)][1], True), (probs.node, dict(zip(probs.spec.layout, scores)), False)]
    parts += [(node, steps[id(node)][1], True)]
    for x, letters, from_readers in parts:
        if not from_readers and id(x) in steps:  # the softmax, reached from the scores already
            if steps[id(x)][1] != letters:
                return None
            continue
        if not _role_part(plan, rb, steps, x, letters, handled, from_readers=from_readers, ok=_part_ok):
            return None
    return _renaming(steps)
