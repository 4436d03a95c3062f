"""Symbolic sequence lengths and image sizes for ``from_torch``: which input axes may vary, and checking the IR there.

The recorded runs give concrete sizes, so the importer learns which sizes follow a
sequence length (or an image's height and width) by running the captured graph once more at another length
(:func:`probe_lengths`): an input axis is declared None when the module runs
with it stretched. Every converted node is then checked twice
(:class:`LengthCheck`): where torch's size followed the length the IR's
must be None, and the IR's own shape rules, replayed at the probe's lengths,
must give exactly torch's sizes there. A converter that baked the example's
size in (a reshape target, a ``ceil_mode`` pool whose partial window only
appears at other lengths) fails that check, and the importer falls back to
the example's lengths.
"""

from __future__ import annotations

import torch

from ....ir.graph import output_spec
from ....ir.layers import AvgPool1D, AvgPool2D, MaxPool1D, MaxPool2D
from ....ir.layout import spatial_axes
from ....ir.tensor import TensorSpec
from .capture import Info, Recorder

#: the layout letters of the axes :func:`probe_lengths` tries: a sequence's T, a 1-D signal's W (NCW), an image's H W
LENGTH_AXES = {"NTC": "T", "TNC": "T", "NT": "T", "TN": "T", "NCW": "W", "NCHW": "HW"}


def _stretched(x: torch.Tensor, axis: int, size: int) -> torch.Tensor:
    """``x`` repeated along ``axis`` and cut to ``size`` (values all from the example: valid token ids)."""
    return x.index_select(axis, torch.arange(size) % x.shape[axis])


def _runs(gm, xs) -> dict | None:
    rec = Recorder(gm)
    try:
        with torch.no_grad():
            rec.run(*xs)
    except Exception:  # the module refuses that length (a literal size in forward, a fixed-size weight)
        return None
    return rec.seen


def probe_lengths(gm, inputs: list[torch.Tensor], layouts: list[str], images: bool = True) -> tuple[dict | None, set]:
    """Which length axes of the inputs may vary: ``(run at the new lengths, {(input index, axis)})``.

    The candidate axes (:data:`LENGTH_AXES`) are grouped by their example size,
    so a token tensor and its padding mask (both ``(B, T)``) change together.
    Each group is stretched to ``2 * size + 1`` (a length no stride folds back onto
    the example's) and kept only if the module still runs; the groups kept are
    then run together once more: that run is what the importer compares shapes with.
    ``images=False`` leaves the height and width of ``NCHW`` inputs at the example's.
    """
    groups: dict[int, list] = {}
    for i, (x, layout) in enumerate(zip(inputs, layouts)):
        for letter in LENGTH_AXES.get(layout, "") if images or "H" not in layout else "":
            axis = layout.index(letter)
            groups.setdefault(x.shape[axis], []).append((i, axis))

    def stretched(axes):
        xs = list(inputs)
        for i, axis in axes:
            xs[i] = _stretched(xs[i], axis, 2 * xs[i].shape[axis] + 1)
        return xs

    kept = [axes for axes in groups.values() if _runs(gm, stretched(axes)) is not None]
    together = [a for axes in kept for a in axes]
    run = _runs(gm, stretched(together)) if together else None
    return (run, set(together)) if run is not None else (None, set())


def symbolic_shape(info: Info, other) -> tuple:
    """``info``'s shape with None where the probe run (``other``) had another size."""
    if not isinstance(other, Info) or len(other.shape) != len(info.shape):
        return info.shape
    return tuple(a if a == b else None for a, b in zip(info.shape, other.shape))


class LengthCheck:
    """The IR's shapes at the probe's lengths, replayed with the layers' own shape rules."""

    def __init__(self, probe_run: dict):
        self.run = probe_run
        self.specs: dict[int, TensorSpec] = {}  # id(IR node) -> its spec at the probe's lengths

    def bind(self, tensor, placeholder) -> None:
        """An IR input: its spec at the probe's input sizes (batch symbolic, as declared)."""
        info = self.run[placeholder]
        n = tensor.layout.index("N")
        shape = tuple(None if i == n else s for i, s in enumerate(info.shape))
        self.specs[id(tensor.node)] = TensorSpec(shape, tensor.layout, tensor.spec.dtype)

    def spec(self, tensor) -> TensorSpec | None:
        """``tensor``'s spec at the probe's lengths (None behind a stand-in for a refused node)."""
        node = tensor.node
        if id(node) not in self.specs:
            inputs = [self.spec(t) for t in node.inputs]
            self.specs[id(node)] = None if node.is_input or None in inputs else output_spec(node.layer, inputs)
        return self.specs[id(node)]

    def mismatch(self, tensor, torch_node) -> str | None:
        """Why the IR's size at the probe's lengths differs from torch's (None: they agree)."""
        other = self.run.get(torch_node)
        if not isinstance(other, Info):
            return None
        spec = self.spec(tensor)
        if spec is None:
            return None
        ours = tuple(s for a, s in zip(spec.layout, spec.shape) if a != "N")
        n = tensor.layout.index("N")
        theirs = other.shape[:n] + other.shape[n + 1 :]
        if ours != theirs:
            return f"at another sequence length the IR infers {spec.shape} {spec.layout} where torch has {other.shape}"
        return None


def size_bound_layer(model) -> str | None:
    """A layer that a backend lowers only at a known spatial size, on an unknown one (None: there is none).

    A max pool (or an average pool that does not count the padding) with torch's explicit pads has no
    Keras form at an unknown size unless its pads are TensorFlow's 'same' pads at every size
    (docs/limits.md, keras-pool-pads-unknown-size): the importer then keeps the example's image size.
    """
    for node in model.nodes:
        layer = node.layer
        if not isinstance(layer, (MaxPool1D, MaxPool2D, AvgPool1D, AvgPool2D)) or isinstance(layer.padding, str):
            continue
        if isinstance(layer, (AvgPool1D, AvgPool2D)) and layer.count_include_pad:
            continue
        spec = node.inputs[0].spec
        if all(spec.dim(a) is not None for a in spatial_axes(spec.layout)):
            continue
        same = all(s == 1 for s in layer.strides) and all(
            pads == ((k - 1) // 2, k // 2) for k, pads in zip(layer.pool_size, layer.padding)
        )
        if not same:
            return node.name
    return None
