"""Indexing, split, chunk and narrow of a tensor -> IR Cropping1D/2D, Slice and Reshape.

Bounds are constants read with the recorded sizes (every non-batch size is
fixed in an import), step 1 only:

* ``x[:, :, 1:4, 2:]``: the spatial axes (of a tensor with channels and one
  or two spatial axes) -> one ``Cropping1D``/``Cropping2D``; any other axis
  (``x[:, a:b]`` on channels) -> one IR ``Slice`` each;
* ``x[:, i]``, ``x[:, -1]`` (select one step) -> the same, keeping one
  entry, then a ``Reshape`` that drops the axis (its letter leaves the layout);
* ``split`` / ``chunk`` (several results, read through ``getitem``) -> one
  ``Slice`` per piece; ``narrow`` -> one ``Slice``.

The batch axis is never sliced; ``None`` (a new axis), a tensor index and a
step other than 1 are refused.
"""

from __future__ import annotations

import math

import torch

from .... import ir
from ....ir import layers as L
from ....ir.errors import UnsupportedError
from ....ir.layout import spatial_axes
from .modules import letter

__all__ = ["SLICING_FUNCTIONS", "SLICING_METHODS", "index_tensor"]


def _size(x: ir.Tensor, dim: int) -> int:
    size = x.shape[dim]
    if size is None:
        raise UnsupportedError(f"axis {x.layout[dim]!r} has no fixed size to slice")
    return size


def _axis_size(x: ir.Tensor, dim) -> int:
    """The fixed size of torch axis ``dim`` (never the batch axis)."""
    letter(x, dim)
    return _size(x, dim % x.spec.rank)


def _ranges(x: ir.Tensor, index) -> tuple[dict, list]:
    """{torch dim: (start, stop)} for the kept ranges, and the dims an int index drops."""
    items = list(index) if isinstance(index, tuple) else [index]
    if sum(i is Ellipsis for i in items) > 1:
        raise UnsupportedError("more than one ... in an index")
    if Ellipsis in items:
        at = items.index(Ellipsis)
        items[at : at + 1] = [slice(None)] * (x.spec.rank - len(items) + 1)
    if len(items) > x.spec.rank:
        raise UnsupportedError(f"index {index!r} has more entries than the tensor's {x.spec.rank} axes")
    ranges, dropped = {}, []
    for dim, item in enumerate(items):
        if item is None:
            raise UnsupportedError("indexing with None (a new axis) is not supported; use unsqueeze")
        if isinstance(item, slice) and item == slice(None):
            continue
        if x.layout[dim] == "N":
            raise UnsupportedError("indexing or slicing the batch axis is not supported")
        size = _size(x, dim)
        if isinstance(item, int) and not isinstance(item, bool):
            if not -size <= item < size:
                raise UnsupportedError(f"index {item} is out of range for axis {x.layout[dim]!r} of size {size}")
            ranges[dim] = (item % size, item % size + 1)
            dropped.append(dim)
        elif isinstance(item, slice) and all(
            v is None or isinstance(v, int) for v in (item.start, item.stop, item.step)
        ):
            start, stop, step = item.indices(size)
            if step != 1:
                raise UnsupportedError(f"a slice with step {step} is not supported (step 1 only)")
            if start >= stop:
                raise UnsupportedError(f"slice {item} of axis {x.layout[dim]!r} (size {size}) is empty")
            if (start, stop) != (0, size):
                ranges[dim] = (start, stop)
        else:
            raise UnsupportedError(f"index entry {item!r} is not supported (constant ints and slices only)")
    return ranges, dropped


def _crop_layers(x: ir.Tensor, ranges: dict) -> list:
    """The IR layers that keep ``ranges`` of ``x``: one Cropping for the spatial axes (of a tensor with channels
    and one or two of them), one Slice for each other axis."""
    spatial = spatial_axes(x.layout)
    croppable = "C" in x.layout and len(spatial) in (1, 2)
    crops = {d: r for d, r in ranges.items() if croppable and x.layout[d] in spatial}
    layers = [L.Slice(x.layout[d], start, stop) for d, (start, stop) in sorted(ranges.items()) if d not in crops]
    if crops:
        pairs = []
        for axis in spatial:
            d = x.layout.index(axis)
            start, stop = crops.get(d, (0, x.shape[d]))
            pairs.append((start, x.shape[d] - stop))
        layers.append(L.Cropping1D(pairs[0]) if len(pairs) == 1 else L.Cropping2D(tuple(pairs)))
    return layers


def _chain(ctx, call, x: ir.Tensor, layers: list) -> ir.Tensor:
    """Apply ``layers`` in turn; the last is named after the call and its shape checked against torch's."""
    for i, layer in enumerate(layers):
        if i == len(layers) - 1:
            return ctx.add(call, layer, [x])
        x = layer.replace(name=ctx.claim(f"{call.name}_{type(layer).__name__.lower()}"))(x)
    return x


def index_tensor(ctx, call, x: ir.Tensor, index) -> ir.Tensor:
    """``x[index]`` for constant ints and step-1 slices."""
    ranges, dropped = _ranges(x, index)
    layers = _crop_layers(x, ranges) if ranges else []
    if dropped:
        kept = [d for d in range(x.spec.rank) if d not in dropped]
        if len(kept) < 2:
            raise UnsupportedError(
                "selecting every non-batch axis leaves a rank-1 tensor, which the IR has no layout for"
            )
        # the selected axes have size 1 now: a Reshape drops them, their letters leave the layout
        sizes = tuple(ranges[d][1] - ranges[d][0] if d in ranges else x.shape[d] for d in kept if x.layout[d] != "N")
        layers.append(L.Reshape(sizes, layout="".join(x.layout[d] for d in kept)))
    return _chain(ctx, call, x, layers) if layers else x


def _pieces(ctx, call, x: ir.Tensor, dim: int, sizes: list) -> tuple:
    axis = letter(x, dim)
    if len(sizes) == 1:
        return (x,)
    out, start = [], 0
    for i, size in enumerate(sizes):
        name = ctx.claim(f"{call.name}_{i}")
        out.append(L.Slice(axis, start, start + size, name=name)(x))
        start += size
    return tuple(out)


def split(ctx, call):
    x = ctx.tensor(call.arg(0, "tensor"))
    sections, dim = call.arg(1, "split_size_or_sections"), call.arg(2, "dim", 0)
    if sections is None:
        sections = call.kwargs.get("split_size")
    total = _axis_size(x, dim)
    if isinstance(sections, int):
        sizes = [min(sections, total - s) for s in range(0, total, sections)]
    elif isinstance(sections, (list, tuple)) and all(isinstance(s, int) for s in sections) and sum(sections) == total:
        sizes = list(sections)
    else:
        raise UnsupportedError(f"split sizes {sections!r} are not constant ints covering the axis")
    if 0 in sizes:
        raise UnsupportedError("a split with an empty piece is not supported")
    return _pieces(ctx, call, x, dim, sizes)


def chunk(ctx, call):
    x = ctx.tensor(call.arg(0, "input"))
    chunks, dim = call.arg(1, "chunks"), call.arg(2, "dim", 0)
    if isinstance(chunks, bool) or not isinstance(chunks, int) or chunks < 1:
        raise UnsupportedError(f"chunks={chunks!r} is not a constant positive int")
    total = _axis_size(x, dim)
    step = math.ceil(total / chunks)  # torch's rule: equal chunks of ceil(size / chunks), the last smaller
    return _pieces(ctx, call, x, dim, [min(step, total - s) for s in range(0, total, step)])


def narrow(ctx, call):
    x = ctx.tensor(call.arg(0, "input"))
    dim, start, length = call.arg(1, "dim"), call.arg(2, "start"), call.arg(3, "length")
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in (dim, start, length)):
        raise UnsupportedError("narrow needs constant int dim, start and length")
    total = _axis_size(x, dim)
    start %= total
    return ctx.add(call, L.Slice(letter(x, dim), start, start + length), [x])


SLICING_FUNCTIONS = {torch.split: split, torch.chunk: chunk, torch.narrow: narrow}
SLICING_METHODS = {torch.Tensor.split: split, torch.Tensor.chunk: chunk, torch.Tensor.narrow: narrow}
