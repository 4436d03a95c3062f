"""Rules giving one spelling to the axis moves around what torch and Keras compute on windows and tokens (run
in ``rewrites.REWRITES`` after ``spellings.py``'s; :data:`RULES`), Swin's window attention first of all.

* ``pool_unpermuted``: a Permute read only by a global pooling whose result keeps its letters in order either way
  is the pooling of the tensor before it (torch's ``norm(x).permute(0, 3, 1, 2)`` before ``avgpool``).
* ``transpose_last``: a Transpose (or Permute) read only by a ``Unary``, a ``Binary`` with a number or a scalar
  ``Rescaling``: that first, then the Transpose (``to_torch`` scales a query before its heads' permute).
* ``regrouped_transpose``: a Permute, a softmax over a letter or an ``Add`` of a tensor whose batch a View
  regrouped (windows) is the op (``Transpose``, ``Softmax``, ``Binary`` add), as ``from_torch`` reads them there.
* ``plain_add``: a ``Binary`` add of two computed tensors elsewhere is the ``Add`` layer.
* ``merge_transposes``: two Transposes, the first read only by the second, are one (none where they cancel).
* ``shared_permute``: the same move made twice of one tensor (``to_keras``'s stem Permute, for a LayerNorm and
  for the residual) is made once.
* ``unit_move``: a Reshape that moves one size-1 axis and nothing else is the Permute it equals (``to_keras``
  writes a move of a size-1 axis as a free Keras ``Reshape``: MobileViT's unfold of a map one patch wide).
* ``convolved_view``: a reshape back to a map that ``to_keras`` moved channels last for a convolution (MobileViT's
  fold; MaxViT's departition, through the MBConv's BatchNorm) is convolved as it is, what follows in its letters.
* ``unpermuted_merge``: a merge of a Permute and operands a rule moved into its input's layout is the merge of its
  input (MaxViT's MBConv residual, once ``convolved_view`` gave the convolutions back channels first).
"""

from __future__ import annotations

from fractions import Fraction

from .... import ir
from ....ir import layers as L
from ....ir import ops as O
from .rebuild import Rebuild, letters_only


def _sole_move(rb: Rebuild, node: ir.Node, kinds: tuple) -> tuple[ir.Node, ir.Tensor] | None:
    """The move (a node of ``kinds``) that ``node`` alone reads, not a model output, and its input as the walk
    holds it, in its own letters; None where there is none."""
    move = node.inputs[0].node
    if move.is_input or not isinstance(move.layer, kinds) or rb.only_user(move) is not node:
        return None
    source = move.inputs[0]
    x = rb.tensor(source)
    if x.layout != source.spec.layout or id(move) in rb.outputs:
        return None
    return move, x


def transpose_last(rb: Rebuild, node: ir.Node) -> ir.Tensor | None:
    """Transpose (or Permute) -> a ``Unary``, a ``Binary`` with a number or a scalar ``Rescaling`` (its only
    reader): that first, then the Transpose (the same entries, moved the same way)."""
    layer = node.layer
    one_input = isinstance(layer, O.Unary) or isinstance(layer, O.Binary) and layer.scalar is not None
    one_input = one_input or isinstance(layer, L.Rescaling) and not layer.per_channel
    if node.is_input or not one_input or len(node.inputs) != 1:
        return None
    found = _sole_move(rb, node, (O.Transpose, L.Permute))
    if found is None:
        return None
    transpose, x = found
    return rb.add(transpose.layer, [rb.add(layer, [x], {}, node)], {}, transpose)


def merge_transposes(rb: Rebuild, node: ir.Node) -> ir.Tensor | None:
    """Transpose -> Transpose (its only reader): one Transpose to the last one's letters (none, where they are
    the first one's input's). ``to_torch`` writes one permute where the IR moves axes twice."""
    if node.is_input or not isinstance(node.layer, (O.Transpose, L.Permute)):
        return None
    found = _sole_move(rb, node, (type(node.layer),))
    if found is None or found[0].block != node.block:  # a block instance keeps its layers
        return None
    x = found[1]
    return x if x.layout == node.spec.layout else rb.add(node.layer, [x], {}, node)


def shared_permute(rb: Rebuild, node: ir.Node) -> ir.Tensor | None:
    """A Permute or Transpose of a tensor an earlier one moved to the same letters already: that one's result
    (``to_keras`` writes the stem's move twice, for the LayerNorm and for the residual)."""
    if node.is_input or not isinstance(node.layer, (L.Permute, O.Transpose)) or id(node) in rb.outputs:
        return None
    source = node.inputs[0]
    for other in rb.users(source.node):
        if other.order >= node.order or type(other.layer) is not type(node.layer) or id(other) not in rb.new:
            continue
        same = other.inputs[0].index == source.index and other.spec.layout == node.spec.layout
        if same and rb.new[id(other)].layout == node.spec.layout:
            return rb.new[id(other)]
    return None


def _batch_factor(t: ir.Tensor) -> Fraction:
    """How many items ``t``'s batch counts per sample of the model's (the Views that merge or split it, on the way
    back along first inputs: windows count more)."""
    factor, node = Fraction(1), t.node
    while not node.is_input and node.inputs:
        if isinstance(node.layer, O.View):
            factor *= Fraction(node.layer.merge, node.layer.split)
        node = node.inputs[0].node
    return factor


def _as_op(node: ir.Node):
    """The op that ``node``'s Permute or softmax ``Activation`` (over a letter) is, else None."""
    layer = node.layer
    if isinstance(layer, L.Permute):
        return O.Transpose(node.spec.layout)
    if isinstance(layer, L.Activation) and layer.activation in ("softmax", "log_softmax"):
        axis = layer.axis if isinstance(layer.axis, str) else None
        return O.Softmax(axis, log=layer.activation == "log_softmax") if axis else None
    return None


def regrouped_transpose(rb: Rebuild, node: ir.Node) -> ir.Tensor | None:
    """A Permute, or a softmax over a letter, of a tensor whose batch a View regrouped (windows), or an ``Add``
    of two such tensors: the ``Transpose``, ``Softmax`` or ``Binary`` add op it is (as ``from_torch`` reads every
    permute, softmax and sum there, where ``to_keras`` writes a Keras ``Permute`` and ``from_keras`` reads
    ``keras.ops.add`` as the layer, and a module can call ``nn.Softmax``; a Swin's scores plus its bias)."""
    if node.is_input:
        return None
    if isinstance(node.layer, L.Add) and len(node.inputs) == 2:
        op = O.Binary("add")
    elif len(node.inputs) == 1:
        op = _as_op(node)
    else:
        return None
    inputs = [rb.tensor(t) for t in node.inputs]
    if op is None or any(x.layout != t.spec.layout for x, t in zip(inputs, node.inputs)):
        return None
    if _batch_factor(node.inputs[0]) == 1:
        return None
    return rb.add(op, inputs, {}, node)


def plain_add(rb: Rebuild, node: ir.Node) -> ir.Tensor | None:
    """A ``Binary`` add of two computed float32 tensors in one layout, outside regrouped windows (neither a
    learned weight): the ``Add`` layer, as every importer reads ``x + y`` (``from_keras`` reads
    ``keras.ops.add`` of tensors it had to relabel as the op; a Swin's residual after a cropped pad)."""
    layer = node.layer
    if node.is_input or not isinstance(layer, O.Binary) or layer.fn != "add" or len(node.inputs) != 2:
        return None
    inputs = [rb.tensor(t) for t in node.inputs]
    if any(x.layout != t.spec.layout for x, t in zip(inputs, node.inputs)) or len({x.layout for x in inputs}) != 1:
        return None
    if any(
        x.dtype != "float32" or isinstance(t.node.layer, (O.Learned, L.LearnedConstant))
        for x, t in zip(inputs, node.inputs)
    ):
        return None
    if any(t.node.is_input for t in node.inputs) or _batch_factor(node.inputs[0]) != 1:
        return None
    try:
        L.Add().infer([x.spec for x in inputs])
    except ir.IRError:
        return None
    return rb.add(L.Add(), inputs, {}, node)


_GLOBAL = (L.GlobalAvgPool1D, L.GlobalAvgPool2D, L.GlobalMaxPool1D, L.GlobalMaxPool2D)


def pool_unpermuted(rb: Rebuild, node: ir.Node) -> ir.Tensor | None:
    """Permute -> a global pooling without ``keepdims`` (its only reader) whose result keeps its letters in the
    same order either way (``NC``): the pooling of the tensor before the Permute (it pools the axes it names,
    wherever they stand; torch's ``norm(x).permute(0, 3, 1, 2)`` before ``avgpool``, which Keras, holding
    channels last, writes without the Permute)."""
    if node.is_input or not isinstance(node.layer, _GLOBAL) or node.layer.keepdims:
        return None
    found = _sole_move(rb, node, (L.Permute,))
    if found is None:
        return None
    x = found[1]
    if "".join(a for a in x.layout if a in node.spec.layout) != node.spec.layout:
        return None
    return rb.add(node.layer, [x], {}, node)


def _moved_unit(before: ir.TensorSpec, after: ir.TensorSpec) -> tuple[int, int] | None:
    """(from, to): the positions of the one size-1 axis a reshape from ``before`` to ``after`` moves, where it
    moves nothing else (both batch first, the other sizes known and above 1, in one order); else None."""
    if before.rank != after.rank or before.layout[0] != "N" or after.layout[0] != "N":
        return None
    if before.shape[1:].count(1) != 1 or after.shape[1:].count(1) != 1 or None in before.shape[1:]:
        return None
    unit, to = before.shape.index(1), after.shape.index(1)
    if unit == to or [s for s in before.shape[1:] if s != 1] != [s for s in after.shape[1:] if s != 1]:
        return None
    return unit, to


def _move(layout: str, unit: int, to: int) -> str:
    rest = layout[:unit] + layout[unit + 1 :]
    return rest[:to] + layout[unit] + rest[to:]


def unit_move(rb: Rebuild, node: ir.Node) -> ir.Tensor | None:
    """A Reshape moving one size-1 axis and nothing else: the Permute it equals (the same entries in the same
    order; ``to_keras`` writes a Permute of a size-1 axis as a free Keras ``Reshape``, where the model has a
    ``Transpose``: MobileViT's unfold of a map one patch wide, its heads over one token). Its letters are the
    Reshape's by a relabelling View: after it, where only reshapes and flattens read it (``positional_relabel``
    drops that View), else before it, of a View that this Reshape alone reads (``rename_letters`` names that View
    so). Not of a Reshape layer: a Reshape and a Permute of size-1 axes read as the one Reshape Keras writes."""
    if node.is_input or not isinstance(node.layer, L.Reshape) or len(node.inputs) != 1 or id(node) in rb.outputs:
        return None
    source = node.inputs[0]
    x, users, moved = rb.tensor(source), rb.users(node), _moved_unit(source.spec, node.spec)
    if moved is None or x.layout != source.spec.layout or not users or isinstance(source.node.layer, L.Reshape):
        return None
    if all(isinstance(u.layer, (L.Reshape, O.View, L.Flatten)) for u in users):
        out = rb.add(L.Permute(_move(x.layout, *moved)), [x], {}, node)
        return O.View(node.spec.shape[1:], node.spec.layout)(out)
    shaped = source.node
    if shaped.is_input or not isinstance(shaped.layer, O.View) or rb.only_user(shaped) is not node:
        return None
    relabel = O.View(x.shape[1:], _move(node.spec.layout, moved[1], moved[0]))(x)
    return rb.add(L.Permute(node.spec.layout), [relabel], {}, node)


#: the layers Keras computes channels last on a map: convolutions, poolings, paddings, croppings, upsamplings
_MAPPED = L.CONVOLUTIONS
_MAPPED += (L.MaxPool1D, L.MaxPool2D, L.AvgPool1D, L.AvgPool2D, L.ZeroPadding1D, L.ZeroPadding2D)
_MAPPED += (L.Cropping1D, L.Cropping2D, L.UpSampling1D, L.UpSampling2D)
#: what acts on each entry, or each entry of the letter it names, alone: the same wherever the letters stand
_PER_LETTER = (L.BatchNorm, L.Activation, L.ReLU)


def _reshaped(rb: Rebuild, node: ir.Node) -> bool:
    """Whether ``node`` is a Reshape or View, or a per-letter layer over one (a ``BatchNorm``, an activation: each
    the only reader of what it reads, the reshape excepted) whose letters that reshape chose."""
    while not node.is_input and isinstance(node.layer, _PER_LETTER) and len(node.inputs) == 1:
        up = node.inputs[0].node
        if up.is_input or not isinstance(up.layer, (L.Reshape, O.View)) and rb.only_user(up) is not node:
            return False
        node = up
    return not node.is_input and isinstance(node.layer, (L.Reshape, O.View))


def convolved_view(rb: Rebuild, node: ir.Node) -> ir.Tensor | None:
    """Reshape or View (or a ``BatchNorm`` or activation of one, its only reader the Permute) -> a Permute moving
    ``C`` last read only by convolutions (or poolings, paddings, croppings, upsamplings): those on the tensor as it
    is, what follows them following its letters (``Rebuild``; the reshape's other readers read it as before). A
    reshape back to a channels-first map (MobileViT's fold, MaxViT's departition before an MBConv's BatchNorm) is
    read so by ``from_torch``; ``to_keras`` moves it channels last for the convolution, which ``from_keras`` reads
    as that ``Permute``. The same layers on the same data: a convolution acts on ``C`` and the spatial letters
    wherever they stand."""
    if node.is_input or not isinstance(node.layer, L.Permute) or id(node) in rb.outputs:
        return None
    source = node.inputs[0]
    shaped = source.node
    if (
        not _reshaped(rb, shaped)
        or not isinstance(shaped.layer, (L.Reshape, O.View))
        and rb.only_user(shaped) is not node
    ):
        return None
    x, layout = rb.tensor(source), node.spec.layout
    if x.layout != source.spec.layout or layout[-1] != "C" or x.layout[-1] == "C" or x.layout[0] != "N":
        return None
    if [a for a in x.layout if a not in "NC"] != [a for a in layout if a not in "NC"]:
        return None
    users = rb.users(node)
    if not users or not all(isinstance(u.layer, _MAPPED) and letters_only(u.layer) for u in users):
        return None
    return x


def unpermuted_merge(rb: Rebuild, node: ir.Node) -> ir.Tensor | None:
    """A merge (``Add``, ...) of one Permute (its only reader) and tensors that the walk now holds in that
    Permute's input layout, moved there by a rule before (``convolved_view``): the merge of the Permute's input
    and them, in that layout (the Permute only lined the operand up with the others as they were held; what
    follows follows the letters). ``to_keras`` moves a residual channels last for its sum with a convolution's
    result, which ``convolved_view`` gives back channels first (MaxViT's MBConv after a departition)."""
    if node.is_input or not isinstance(node.layer, _MERGES) or len(node.inputs) < 2 or id(node) in rb.outputs:
        return None
    moves = [t for t in node.inputs if not t.node.is_input and isinstance(t.node.layer, L.Permute)]
    if len(moves) != 1 or rb.only_user(moves[0].node) is not node or id(moves[0].node) in rb.outputs:
        return None
    source = moves[0].node.inputs[0]
    x = rb.tensor(source)
    if x.layout != source.spec.layout:
        return None
    inputs, moved = [], False
    for t in node.inputs:
        if t is moves[0]:
            inputs.append(x)
            continue
        new = rb.tensor(t)
        if new.layout != x.layout:
            return None
        moved |= new.layout != t.spec.layout
        inputs.append(new)
    return rb.add(node.layer, inputs, {}, node) if moved else None


_MERGES = (L.Add, L.Subtract, L.Multiply, L.Average, L.Maximum)


#: these rules, in the order ``rewrites.REWRITES`` runs them
RULES = (
    ("pool_unpermuted", pool_unpermuted),
    ("transpose_last", transpose_last),
    ("regrouped_transpose", regrouped_transpose),
    ("plain_add", plain_add),
    ("merge_transposes", merge_transposes),
    ("shared_permute", shared_permute),
    ("unit_move", unit_move),
    ("convolved_view", convolved_view),
    ("unpermuted_merge", unpermuted_merge),
)
