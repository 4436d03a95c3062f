"""``rename_letters``: relabelling Reshapes/Views removed by naming the tensors around them in one set of letters.

An importer names each tensor by its framework's conventions, and where two conventions meet it relabels:
torch's ``flatten(2).transpose(1, 2)`` of a patch convolution reads as ``NCW -> NWC`` (a convolution's
letters), and the encoder after it wants ``NTC``, so a ``Reshape`` that moves no data renames ``W`` to ``T``.
Keras tensors carry no letters, so ``from_keras`` names the same tokens ``NTC`` from the start, and a module
``to_torch`` wrote reads back with relabels in other places (around each attention). All are the same
computation; this pass gives them one form, the one without relabels.

For each relabel (a ``Reshape`` or ``View`` keeping every size at its position: ``X -> Y``, letter ``X[i]``
named ``Y[i]``), the *component* of its input is every tensor connected to it through layers that act on
letters alone (``Permute``/``Transpose``, merges, ``Concatenate``, a ``Slice``, element-wise layers and ops,
and the letter-only layers of ``rebuild.LETTER_LAYERS``: a ``Dense``, a ``LayerNorm``, a ``Cropping1D``, ...), up to
where letters are chosen freely (a ``Reshape``/``View`` target, a ``LearnedConstant``/``Learned``). Every
tensor of the component is renamed by that map; the relabels out of it (to the renamed letters) and into it
(from them) go; the reshapes and flattens that read it positionally stay as they are. A global pooling without
``keepdims`` ends it: its ``NC`` result keeps its letters (a text CNN's ``Conv1d`` max-pooled over time).

Exact by construction: every tensor holds the same data in the same order, under other names. It fires only
where that is so: no component tensor is a model input or output, every reader of one is in the component,
a dropped relabel or a positional reshape, the map keeps ``N`` and ``C`` wherever a layer gives a letter a
meaning (a kernel acts on the spatial axes in their order, a ``Dense`` on ``C``), and every renamed layer
builds to the renamed shape (else the component is left alone).

Two more kinds of component are renamed the same way, so that both importers reach one naming: tokens named
as a 1-D signal (``NCW``/``NWC`` from a reshape) are named ``NTC``, Keras's convention; and a
``ScaledDotProductAttention`` whose inputs and result pass only through the heads' split and merge (reshapes
and permutes) and layers acting on letters alone (a rotary embedding's products and rotate-half) has them
named by role (query ``NHTD``, key ``NHSD``, value ``NHSE``, result ``NHTE``): there a cropping of one axis
(torch's reading of the rotate-half's ``x[..., :d]``) is written as the ``Slice`` it is, which is how Keras's
reading gives it, and a scalar ``Rescaling`` (its negation) renamed like an element-wise op. A mask is named
by the scores' letters (``NHTS``); where it is a relabel of what cannot be renamed so (an ``Embedding``'s
vectors, the heads its ``C``: T5's relative position bias), the relabel stays, its output so named.

The rules of ``positional.py`` (``unit_flatten``, ``shared_key``, ``channel_shuffle``, ``reshape_first``,
``merge_views``, ``positional_relabel``) run in ``rewrites.REWRITES``: each gives one spelling to what torch and
Keras write two ways; ``free.py`` names the components whose letters nothing gives a meaning.
"""

from __future__ import annotations

from .... import ir
from ....ir import layers as L
from ....ir import ops as O
from ....ir.errors import IRError
from ....ir.layout import spatial_axes
from .rebuild import Rebuild, letters_only

#: layers whose output letters are chosen freely (their inputs keep theirs)
_SOURCES = (L.Reshape, O.View, L.LearnedConstant, O.Learned)
#: layers that move or combine whole axes by letter, meaning the same under any names
_MOVERS = (L.Permute, O.Transpose, L.Add, L.Subtract, L.Multiply, L.Average, L.Maximum, L.Concatenate)
_MOVERS += (L.Activation, L.ReLU, L.Dropout, L.Identity, O.Unary, O.Binary, O.Clip, O.Cast, O.Where)
_MOVERS += (L.Slice, O.Concat)  # by letter: a part of the renamed axis (the query, key or value of a qkv tensor)
_MOVERS += (O.Roll,)  # along the renamed axis (a shifted-window attention's cyclic shift back)
_MOVERS += (O.Take,)  # entries of the renamed axis (a relative position bias's table lookup)
#: what reads a tensor by position only (the same numbers whatever its letters), or only its batch size
_POSITIONAL = (L.Reshape, O.View, L.Flatten, L.LearnedConstant, O.Learned)
#: global poolings: without ``keepdims`` their result holds only ``N`` and ``C``, whatever the pooled axes are named
_GLOBAL = (L.GlobalAvgPool1D, L.GlobalMaxPool1D, L.GlobalAvgPool2D, L.GlobalMaxPool2D)


#: ops by letter an attention's steps hold (its softmax; Swin V2's normalised query and key: a sum over a letter,
#: its expansion back), renamed with the heads when naming roles
_ROLE_OPS = (O.Softmax, O.Reduce, O.Expand)


class _Abort(Exception):
    """A renamed layer the IR refuses, or one that no longer builds to the renamed shape."""


def _plain_reshape(node: ir.Node) -> bool:
    """A one-input Reshape, or a View that neither merges nor splits the batch."""
    layer = node.layer
    if node.is_input or not isinstance(layer, (L.Reshape, O.View)) or len(node.inputs) != 1:
        return False
    return not (isinstance(layer, O.View) and layer.crosses_batch)


def _relabel(node: ir.Node) -> bool:
    """A Reshape or View that keeps every size at its position and the batch first: it only renames axes."""
    if not _plain_reshape(node):
        return False
    before, after = node.inputs[0].spec, node.spec
    return before.layout != after.layout and before.shape == after.shape and before.layout[0] == after.layout[0] == "N"


def _reduces(node: ir.Node) -> bool:
    """A global pooling without ``keepdims`` of a component tensor: its result holds none of the letters renamed."""
    return isinstance(node.layer, _GLOBAL) and not node.layer.keepdims


def _rename(layout: str, letters: dict) -> str:
    return "".join(letters[a] for a in layout)


def _crop(node: ir.Node) -> tuple | None:
    """A cropping of one axis only, as the Slice it is: (axis letter, start, stop), stop None for the end."""
    layer = node.layer
    if not isinstance(layer, (L.Cropping1D, L.Cropping2D)) or len(node.inputs) != 1:
        return None
    spec = node.inputs[0].spec
    cut = [(a, pair) for a, pair in zip(spatial_axes(spec.layout), layer.cropping) if pair != (0, 0)]
    if len(cut) != 1:
        return None
    axis, (before, after) = cut[0]
    size = spec.dim(axis)
    if after and size is None:
        return None
    return axis, before, size - after if after else None


def _scalar_rescaling(layer: L.Layer) -> bool:
    return isinstance(layer, L.Rescaling) and not layer.per_channel


def _member(node: ir.Node, letters: dict, roles: bool = False) -> bool:
    """Whether ``node``'s layer means the same once its tensors' letters are renamed by ``letters`` (with
    ``roles``, naming an attention's heads: a cropping of one axis too, as the Slice it is, and a rescaling)."""
    layer = node.layer
    if roles and (_crop(node) is not None or _scalar_rescaling(layer) or isinstance(layer, _ROLE_OPS)):
        return True
    if isinstance(layer, (*_SOURCES, *_MOVERS)):
        if isinstance(getattr(layer, "axis", None), int) and not isinstance(layer, L.Concatenate):
            return False
        return True
    if isinstance(layer, L.LayerNorm) and all(isinstance(a, str) for a in layer.axis):
        return True  # over the axes it names, which are renamed with it
    if isinstance(layer, L.BatchNorm) and isinstance(layer.axis, str):
        return True  # statistics per entry of the axis it names, which is renamed with it
    if not letters_only(layer):
        return False
    return letters.get("N") == "N" and letters.get("C", "C") == "C"


def _renamed(node: ir.Node, letters: dict) -> L.Layer:
    layer = node.layer
    if isinstance(layer, L.Permute):
        return L.Permute(_rename(node.spec.layout, letters))
    if isinstance(layer, (L.Reshape, O.View, L.LearnedConstant, O.Learned, O.Transpose)):
        return layer.replace(layout=_rename(node.spec.layout, letters))
    changes = {}
    for field in ("axis", "axes", "letter"):
        value = getattr(layer, field, None)
        if isinstance(value, str) and all(a in letters for a in value):
            changes[field] = _rename(value, letters)
        elif isinstance(value, tuple) and all(isinstance(a, str) and a in letters for a in value):
            changes[field] = tuple(letters[a] for a in value)
    return layer.replace(**changes) if changes else layer


class _Plan:
    """What one pass does, old node id -> (step, letters): "rename" a member by ``letters``, "drop" a relabel
    (its readers read the renamed tensor), "read" a renamed tensor by position as before."""

    def __init__(self):
        self.steps: dict[int, tuple] = {}
        self.roles = False  # naming an attention's heads by role (see _member)

    def component(self, rb: Rebuild, x: ir.Node, letters: dict, handled=(), from_readers=False) -> dict | None:
        """The steps that rename ``x``'s component by ``letters`` (None where that is not exact); ``handled``:
        readers planned apart (an attention); ``from_readers``: ``x`` itself is planned apart, its readers not."""
        if letters.get("N") != "N":
            return None
        steps, todo = {}, [x]

        def readers(node):  # each reader of a component tensor: a relabel out, a positional read, or a member
            for user in rb.users(node):
                if id(user) in steps or id(user) in handled:
                    continue
                if _relabel(user) and user.spec.layout == _rename(node.spec.layout, letters):
                    if id(user) in rb.outputs:  # an output keeps its own node (and name)
                        todo.append(user)
                        continue
                    steps[id(user)] = ("drop", user)
                elif isinstance(user.layer, _POSITIONAL) and len(user.inputs) == 1:
                    steps[id(user)] = ("read", user)
                else:
                    todo.append(user)

        if from_readers:
            todo = []
            readers(x)
        while todo:
            node = todo.pop()
            if id(node) in steps:
                continue
            if node.is_input or id(node) in rb.outputs:
                return None
            held = set(node.spec.layout)  # a learned weight broadcast into the component may hold fewer letters
            kept = held < set(letters) and all(letters[a] == a for a in held) and _reduces(node)
            if not (held == set(letters) or kept or isinstance(node.layer, _SOURCES[2:]) and held <= set(letters)):
                return None
            if not _member(node, letters, self.roles):
                return None
            steps[id(node)] = ("rename", node)
            if not isinstance(node.layer, _SOURCES):
                for t in node.inputs:
                    up = t.node
                    if id(up) in steps or id(up) in handled:
                        continue
                    if _relabel(up) and up.inputs[0].spec.layout == _rename(up.spec.layout, letters):
                        if id(up) in rb.outputs:
                            return None
                        steps[id(up)] = ("drop", up)  # a relabel into the component: its readers read it
                        readers(up)
                    else:
                        todo.append(up)
            if not kept:  # a global pooling's result keeps its letters: its readers are not renamed
                readers(node)
        if any(k in self.steps for k in steps):
            return None
        return steps


def _step(plan: _Plan):
    def rule(rb: Rebuild, node: ir.Node) -> ir.Tensor | None:
        step = plan.steps.get(id(node))
        if step is None:
            return None
        kind, letters = step
        if kind == "drop":
            return rb.tensor(node.inputs[0])
        if kind == "read":
            return rb.add(node.layer, [rb.tensor(node.inputs[0])], rb.old_weights(node), node)
        if kind == "slice":  # a cropping of one axis of an attention's heads, named by role
            axis, start, stop = _crop(node)
            return rb.add(L.Slice(letters[axis], start, stop), [rb.tensor(node.inputs[0])], {}, node)
        inputs = [rb.tensor(t) for t in node.inputs]
        if isinstance(node.layer, (L.Reshape, O.View)):  # a reshape reads positions: its input as it was
            inputs = [rb.back(t, o.spec.layout) for t, o in zip(inputs, node.inputs)]
        try:
            out = rb.add(_renamed(node, letters), inputs, rb.old_weights(node), node)
        except IRError as e:
            raise _Abort(str(e)) from e
        if out.spec.layout != _rename(node.spec.layout, letters) or out.spec.shape != node.spec.shape:
            raise _Abort(f"renaming {node.name!r} changed its shape")
        return out

    return rule


def _run(model: ir.Model, steps: dict) -> ir.Model:
    plan = _Plan()
    plan.steps = steps
    rb = Rebuild(model)
    return rb.run((("rename_letters", _step(plan)),))


def _read_in_place(rb: Rebuild, node: ir.Node) -> bool:
    """Whether the relabel ``node`` renames a Permute's result that only reshapes past rank 5 read: those read
    it by position and are named by their input's letters (``ir.layout.past_convention``), so the move keeps
    the letters it gives and ``positional.positional_relabel`` drops the relabel (``from_keras`` relabels a Keras
    ``Permute``'s result into its convention for the rank: MaxViT's swap back before a departition)."""
    up, users = node.inputs[0].node, rb.users(node)
    if up.is_input or not isinstance(up.layer, L.Permute) or id(node) in rb.outputs or not users:
        return False
    return all(isinstance(u.layer, _POSITIONAL[:2]) and len(u.inputs) == 1 and u.spec.rank > 5 for u in users)


def rename_letters(model: ir.Model) -> tuple[ir.Model, int]:
    """``model`` with every relabel it can remove exactly removed (see the module doc), and how many went."""
    from . import roles  # which builds on this module's plans

    rb, plan, found = Rebuild(model), _Plan(), []
    for node in model.nodes:
        if id(node) in plan.steps:
            continue
        if isinstance(node.layer, (O.ScaledDotProductAttention, O.MatMul)):
            steps = roles.attention(plan, rb, node)
            if steps:
                found.append(steps)
                plan.steps.update(steps)
            continue
        if _relabel(node) and _read_in_place(rb, node):
            continue  # positional.positional_relabel drops it: a move's letters stay those the move gives
        if _relabel(node):
            x, letters = node.inputs[0].node, dict(zip(node.inputs[0].spec.layout, node.spec.layout))
        elif not node.is_input and sorted(node.spec.layout) == sorted("NWC"):
            x, letters = node, {"N": "N", "W": "T", "C": "C"}  # tokens named as a 1-D signal: Keras's NTC
        else:
            continue
        steps = plan.component(rb, x, letters)
        if not steps:
            continue
        found.append({k: (kind, letters) for k, (kind, _) in steps.items()})
        plan.steps.update(found[-1])
    if not found:
        return model, 0
    try:
        return _run(model, plan.steps), len(found)
    except (_Abort, IRError):
        pass
    accepted, count = {}, 0
    for steps in found:  # one component at a time: keep those that build
        try:
            _run(model, {**accepted, **steps})
        except (_Abort, IRError):
            continue
        accepted.update(steps)
        count += 1
    if not accepted:
        return model, 0
    return _run(model, accepted), count
