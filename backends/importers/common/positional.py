"""Rules giving one spelling to reshapes, flattens and attention inputs torch and Keras write two ways (run in
``rewrites.REWRITES``, beside ``relabel.rename_letters``): ``unit_flatten``, ``shared_key``, ``channel_shuffle``,
``permuted_shuffle``, ``reshape_first``, ``unit_permute``, ``merge_views``, ``positional_relabel``,
``unit_move_reshape``, ``relabelled_crops``. Each is exact: the same entries in the same order, or an argument
spelled out that means its default."""

from __future__ import annotations

from .... import ir
from ....ir import layers as L
from ....ir import ops as O
from ....ir.layout import FREE_AXES, spatial_axes
from .rebuild import Rebuild, _units_moved
from .relabel import _POSITIONAL, _relabel


def unit_flatten(rb: Rebuild, node: ir.Node) -> ir.Tensor | None:
    """A Flatten of a tensor whose axes after the batch hold one entry each but ``C`` (a selected token,
    ``(N, 1, C)``): the Reshape to ``(C,)`` that drops them, what ``x[:, 0]`` reads as (the same numbers)."""
    if node.is_input or not isinstance(node.layer, L.Flatten) or node.spec.layout != "NC":
        return None
    spec = node.inputs[0].spec
    if spec.layout[0] != "N" or "C" not in spec.layout or spec.dim("C") is None:
        return None
    if any(s != 1 for a, s in zip(spec.layout, spec.shape) if a not in "NC"):
        return None
    return rb.copy(node, L.Reshape((spec.dim("C"),), layout="NC"))


def shared_key(rb: Rebuild, node: ir.Node) -> ir.Tensor | None:
    """A MultiHeadAttention given its value tensor again as the key (torch's ``attn(h, h, h)``): the key left
    out, which means the value (Keras's ``attn(h, h)``)."""
    if node.is_input or not isinstance(node.layer, L.MultiHeadAttention) or len(node.inputs) < 3:
        return None
    value, key = node.inputs[1], node.inputs[2]
    if "C" not in key.spec.layout or key.node is not value.node or key.index != value.index:
        return None
    return rb.copy(node, inputs=[node.inputs[0], value, *node.inputs[3:]])


def _merged_groups(before: ir.TensorSpec, after: ir.TensorSpec) -> list[str] | None:
    """For a Reshape from ``before`` to ``after`` that only merges runs of adjacent axes (the batch first in
    both, every size known and above 1 in both): the run of ``before``'s letters each axis of ``after`` holds."""
    if before.layout[0] != "N" or after.layout[0] != "N":
        return None
    sizes = list(zip(before.layout[1:], before.shape[1:]))
    if any(s is None or s == 1 for _, s in sizes) or any(s is None or s == 1 for s in after.shape[1:]):
        return None
    groups, i = [], 0
    for size in after.shape[1:]:
        run, product = "", 1
        while i < len(sizes) and product < size:
            run, product, i = run + sizes[i][0], product * sizes[i][1], i + 1
        if product != size:
            return None
        groups.append(run)
    return groups if i == len(sizes) else None


def _split_at(before: ir.TensorSpec, after: ir.TensorSpec) -> int | None:
    """The one position of ``before`` (not the batch's) a Reshape to ``after`` splits in two axes of more than one
    entry each, leaving every other axis as it was; None where there is not exactly one."""
    found = [
        i
        for i in range(1, before.rank)
        if isinstance(before.shape[i], int)
        and after.shape[:i] == before.shape[:i]
        and after.shape[i + 2 :] == before.shape[i + 1 :]
        and isinstance(after.shape[i], int)
        and isinstance(after.shape[i + 1], int)
        and min(after.shape[i], after.shape[i + 1]) > 1
        and after.shape[i] * after.shape[i + 1] == before.shape[i]
    ]
    return found[0] if after.rank == before.rank + 1 and len(found) == 1 else None


def _shuffle(rb: Rebuild, node: ir.Node) -> tuple | None:
    """(split, permute, the map's spec, the map as the walk holds it, split position) where ``node`` is a Reshape
    merging back what a Reshape splitting one axis of a map in two and a Permute swapping the two made (each the
    only reader of the last: a channel shuffle), the walk holding the map in another order of its letters."""
    if node.is_input or not isinstance(node.layer, L.Reshape) or node.inputs[0].node.is_input:
        return None
    permute = node.inputs[0].node
    if not isinstance(permute.layer, L.Permute) or rb.only_user(permute) is not node or permute.inputs[0].node.is_input:
        return None
    split = permute.inputs[0].node
    if not isinstance(split.layer, L.Reshape) or rb.only_user(split) is not permute:
        return None
    source = split.inputs[0]
    spec, x = source.spec, rb.tensor(source)
    if x.layout == spec.layout or sorted(x.layout) != sorted(spec.layout) or x.layout[0] != "N":
        return None
    if any(t.layout[0] != "N" for t in (spec, split.spec, permute.spec, node.spec)):
        return None
    i = _split_at(spec, split.spec)
    if i is None:
        return None
    swapped = split.spec.layout[:i] + split.spec.layout[i + 1] + split.spec.layout[i] + split.spec.layout[i + 2 :]
    return (split, permute, spec, x, i) if permute.spec.layout == swapped else None


def _torch_shuffle(rb: Rebuild, found: tuple, merge: ir.Node, merged: L.Reshape) -> ir.Tensor:
    """torch's split and swap of the map as the walk holds it (the split axis keeping its letter for the groups,
    the first free letter for the entries of a group), then ``merged``."""
    split, permute, _, x, i = found
    axis = found[2].layout[i]
    free = next(a for a in "DHW" + FREE_AXES if a not in x.layout)
    j = x.layout.index(axis)
    layout = x.layout[:j] + axis + free + x.layout[j + 1 :]
    target = tuple(x.shape[1:j]) + split.spec.shape[i : i + 2] + tuple(x.shape[j + 1 :])
    groups = rb.add(L.Reshape(target, layout=layout), [x], {}, split)
    moved = rb.add(L.Permute(x.layout[:j] + free + axis + x.layout[j + 1 :]), [groups], {}, permute)
    return rb.add(merged, [moved], {}, merge)


def channel_shuffle(rb: Rebuild, node: ir.Node) -> ir.Tensor | None:
    """Reshape splitting one axis in two -> Permute swapping the two -> Reshape merging them back (each the only
    reader of the last: a channel shuffle) of a tensor the walk holds in another order of its letters (a map
    ``to_keras`` shuffled channels last, read back with its input declared channels first): the same three on
    that tensor in its order, the split axis keeping its letter for the groups and the first free letter for
    the entries of a group, as torch writes ``x.view(n, g, c // g, h, w).transpose(1, 2).reshape(n, c, h, w)``.
    The same entries in the same order: only the split axis's entries move, wherever the others stand."""
    found = _shuffle(rb, node)
    if found is None:
        return None
    spec, x = found[2], found[3]
    if node.spec.shape == spec.shape and node.spec.layout == spec.layout:  # merged back to the map in its letters
        return _torch_shuffle(rb, found, node, L.Reshape(tuple(x.shape[1:]), layout=x.layout))
    # the map's two orders differing in size-1 axes only (its entries in one order), merged to the shape of a
    # reshape reading the entries in order (a 1x1 map's shuffle, then flattened): that merge as it is
    if node.spec.shape != spec.shape and _units_moved(spec, x) and rb.read_in_order(node):
        return _torch_shuffle(rb, found, node, node.layer)
    return None


def permuted_shuffle(rb: Rebuild, node: ir.Node) -> ir.Tensor | None:
    """A channel shuffle merged back to the map's shape (read as the map, axis by axis), then a Permute to the
    order the walk holds the map in, read only by reshapes and flattens (``to_keras``'s shuffle of a map held
    channels last, moved channels first for torch's flatten): torch's shuffle of the map in that order, merged
    to the Permute's shape and letters. The same entries in the same order: the Permute gives the shuffled map
    in the order torch's merge does."""
    if node.is_input or not isinstance(node.layer, L.Permute) or not rb.read_in_order(node):
        return None
    merge = node.inputs[0].node
    found = _shuffle(rb, merge) if rb.only_user(merge) is node else None
    if found is None or merge.spec.shape != found[2].shape:
        return None
    as_map = dict(zip(merge.spec.layout, found[2].layout))  # the merge holds the map's axes in its order
    if "".join(as_map[a] for a in node.spec.layout) != found[3].layout:
        return None
    return _torch_shuffle(rb, found, node, L.Reshape(tuple(node.spec.shape[1:]), layout=node.spec.layout))


def reshape_first(rb: Rebuild, node: ir.Node) -> ir.Tensor | None:
    """Permute -> Reshape that merges axes the Permute left adjacent in their old order (its only reader):
    the Reshape first, merging them where they were, then the Permute (torch's ``flatten(2).transpose(1, 2)``;
    Keras, holding channels last, reads the same tokens as one reshape of ``NHWC``). The same numbers: the
    merged runs are moved whole."""
    if node.is_input or not isinstance(node.layer, L.Reshape) or node.inputs[0].node.is_input:
        return None
    permute = node.inputs[0].node
    if not isinstance(permute.layer, L.Permute) or rb.only_user(permute) is not node:
        return None
    source = permute.inputs[0]
    groups = _merged_groups(permute.spec, node.spec)
    if groups is None or all(len(g) == 1 for g in groups):
        return None
    letters = dict(zip(groups, node.spec.layout[1:]))
    layout, rest = "N", source.spec.layout[1:]
    if source.spec.layout[0] != "N":
        return None
    while rest:
        run = next((g for g in groups if rest.startswith(g)), None)
        if run is None:
            return None
        layout, rest = layout + letters[run], rest[len(run) :]
    target = tuple(node.spec.dim(a) for a in layout[1:])
    x = rb.back(rb.tensor(source), source.spec.layout)
    merged = rb.add(L.Reshape(target, layout=layout), [x], {}, node)
    return merged if layout == node.spec.layout else rb.add(L.Permute(node.spec.layout), [merged], {}, permute)


def _plain_view(node: ir.Node) -> bool:
    layer = node.layer
    return not node.is_input and isinstance(layer, O.View) and not layer.crosses_batch


def merge_views(rb: Rebuild, node: ir.Node) -> ir.Tensor | None:
    """View -> View (its only reader; neither crossing the batch): one View to the last one's shape, which
    reads the same entries in the same order (an unsqueeze then a squeeze: none at all)."""
    if not _plain_view(node) or not _plain_view(inner := node.inputs[0].node) or rb.only_user(inner) is not node:
        return None
    source = inner.inputs[0]
    if rb.tensor(source).layout != source.spec.layout:
        return None
    if node.spec.layout == source.spec.layout and node.spec.shape == source.spec.shape:
        return rb.tensor(source)
    return rb.copy(node, inputs=[source])


def positional_relabel(rb: Rebuild, node: ir.Node) -> ir.Tensor | None:
    """A Reshape, View or Flatten of a relabelled tensor: the same of the tensor before the relabel, which holds
    the same entries in the same order (the relabel goes once nothing else reads it)."""
    if node.is_input or not isinstance(node.layer, _POSITIONAL[:3]) or len(node.inputs) != 1:
        return None
    relabel = node.inputs[0].node
    if not _relabel(relabel) or id(relabel) in rb.outputs:
        return None
    source = relabel.inputs[0]
    x = rb.tensor(source)
    if x.layout != source.spec.layout or _relabel(node) and node.spec.layout == source.spec.layout:
        return None
    return rb.add(node.layer, [x], rb.old_weights(node), node)


def unit_permute(rb: Rebuild, node: ir.Node) -> ir.Tensor | None:
    """Reshape -> Permute that moves only size-1 axes (the Reshape's only reader): one Reshape to the permuted
    shape and letters (torchvision's ``reshape(n, C, 1).permute(0, 2, 1)`` of a single patch is the Reshape to
    ``(1, C)`` Keras writes). The same entries in the same order."""
    if node.is_input or not isinstance(node.layer, L.Permute):
        return None
    inner = node.inputs[0].node
    if inner.is_input or not isinstance(inner.layer, L.Reshape) or len(inner.inputs) != 1:
        return None
    if rb.only_user(inner) is not node or not _units_moved(inner.spec, node.spec):
        return None
    source = inner.inputs[0]
    x = rb.back(rb.tensor(source), source.spec.layout)
    target = tuple(node.spec.dim(a) for a in node.spec.layout[1:])
    return rb.add(L.Reshape(target, layout=node.spec.layout), [x], {}, inner)


def unit_move_reshape(rb: Rebuild, node: ir.Node) -> ir.Tensor | None:
    """Reshape or View -> a Permute or Transpose that moves only axes of size 1 -> a Reshape, View or Flatten (its
    only reader): the last of the first's result, which holds the same entries in the same order (Swin's window
    merge of one window: ``to_keras``'s Keras reshape reads back without the move)."""
    if node.is_input or not isinstance(node.layer, _POSITIONAL[:3]) or len(node.inputs) != 1:
        return None
    move = node.inputs[0].node
    if move.is_input or not isinstance(move.layer, (L.Permute, O.Transpose)) or id(move) in rb.outputs:
        return None
    if move.block != node.block:  # the last layer of a block instance (a LayerNorm2d's Permute back) stays
        return None
    before, after = move.inputs[0].spec, move.spec
    source = move.inputs[0].node
    if source.is_input or not isinstance(source.layer, _POSITIONAL[:2]):  # between two reshapes only
        return None
    if rb.only_user(move) is not node or None in before.shape[1:]:
        return None
    x = rb.tensor(move.inputs[0])
    if not _units_moved(before, after) or x.layout != before.layout:
        return None
    return rb.add(node.layer, [x], rb.old_weights(node), node)


def _steps(node: ir.Node, letters: dict) -> list[L.Layer] | None:
    """A Slice, Cropping2D, Roll or LayerNorm (of letters) as the layers doing the same under ``letters``' names:
    a Cropping2D as one Slice per axis it cuts; None for anything else."""
    layer, spec = node.layer, node.inputs[0].spec
    if isinstance(layer, L.Slice) and isinstance(layer.axis, str):
        return [L.Slice(letters[layer.axis], layer.start, layer.stop)]
    if isinstance(layer, O.Roll):
        return [O.Roll(letters[layer.axis], layer.shift)]
    if isinstance(layer, L.LayerNorm) and isinstance(layer.axis, str) and set(layer.axis) <= set(letters):
        return [layer.replace(axis="".join(letters[a] for a in layer.axis))]
    if type(layer) is not L.Cropping2D:
        return None
    pairs = zip(spatial_axes(spec.layout), layer.cropping)
    return [L.Slice(letters[a], top, spec.dim(a) - end if end else None) for a, (top, end) in pairs if top or end]


def relabelled_crops(rb: Rebuild, node: ir.Node) -> ir.Tensor | None:
    """Reshape -> Rolls, Slices, Cropping2Ds and LayerNorms -> a relabel (each the only reader of the one before):
    the Reshape to the relabel's letters, then the same steps in them, one per axis (torch's ``x[:, :H, :W, :]``
    of a reshaped map that ``from_torch`` letters ``NCHW`` by position: Swin's roll back and crop of its padded
    windows, and Swin V2's norm after them). The same entries in the same order, under the relabel's names."""
    if node.is_input or not _relabel(node) or id(node) in rb.outputs:
        return None
    letters = dict(zip(node.inputs[0].spec.layout, node.spec.layout))
    chain, t = [], node.inputs[0]
    while not t.node.is_input and len(t.node.inputs) == 1 and (steps := _steps(t.node, letters)) is not None:
        if rb.only_user(t.node) is not (chain[-1][0] if chain else node):
            return None
        chain.append((t.node, steps))
        t = t.node.inputs[0]
    source = t.node
    if not chain or source.is_input or not isinstance(source.layer, (L.Reshape, O.View)):
        return None
    if rb.only_user(source) is not chain[-1][0] or rb.tensor(source.inputs[0]).layout != source.inputs[0].spec.layout:
        return None
    x = rb.add(source.layer.replace(layout=node.spec.layout), [rb.tensor(source.inputs[0])], {}, source)
    for old, steps in reversed(chain):
        for i, layer in enumerate(steps):  # a Cropping2D of two axes: two Slices, named apart
            name = f"{old.name}_{layer.axis.lower()}" if i else None
            x = rb.add(layer, [x], rb.old_weights(old) if not i else {}, old, name=name)
    return x


#: these rules, in the order ``rewrites.REWRITES`` runs them
RULES = (
    ("unit_flatten", unit_flatten),
    ("shared_key", shared_key),
    ("reshape_first", reshape_first),
    ("unit_permute", unit_permute),
    ("merge_views", merge_views),
    ("positional_relabel", positional_relabel),
    ("unit_move_reshape", unit_move_reshape),
    ("relabelled_crops", relabelled_crops),
)
