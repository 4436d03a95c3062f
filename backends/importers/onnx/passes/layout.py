"""Layout inference: which axis letters an ONNX tensor's positions carry.

An imported tensor is declared in ONNX's own axis order, so every ``axis``
attribute is a position in the IR layout. What the importer must decide is
the *letters* of a tensor that enters with no history: a graph input, or the
result of a Reshape/Squeeze/Unsqueeze. It follows the tensor's consumers
forward until an op that fixes the meaning of each position:

  * Conv, ConvTranspose, pooling, Batch/Group/InstanceNormalization and
    Resize/Upsample read channels at position 1: ``NCW``, ``NCHW``, ``NCDHW``;
  * LSTM/GRU/RNN read ``(T, N, C)`` (``layout=0``) or ``(N, T, C)`` (``layout=1``);
  * MatMul/Gemm read features last: ``NC``, ``NTC``;
  * LayerNormalization and a composed layer norm (``twinnet.LayerNorm``) pass their result's
    letters through; when nothing downstream decides, a norm over axes including the last reads
    features last, one over axis 1 alone channels first (``NCT``, ``NCHW``...);
  * an attention block (``twinnet.MultiHeadAttention``) reads the orders its rule measured
    (``NTC`` or ``TNC``; a mask ``NT`` or ``TN``);
  * ReduceMean/ReduceMax over every axis after the second (before the last)
    are global pools of a channels-first (channels-last) tensor;
  * Transpose moves the letters; Gather on an embedding table adds a ``C``;
    element-wise ops pass them through.

With no such consumer a tensor gets ONNX's usual convention for its rank
(``NC``, ``NTC``, ``NCHW``; ``NT`` for integer token ids), and a rank with
no convention (an integer tensor of rank 3, any tensor of rank 6 to 8) gets
``N`` then free letters, which only the op tier reads. The letters
decide nothing about the numbers (the graph is converted position by
position); they decide what each IR layer treats as channels, time and space.
"""

from __future__ import annotations

from .....ir.layout import MAX_RANK, free_letters
from ...common.passes import Pass, PassResult
from ..graph import Graph
from ..match import axes_of

_CHANNELS_FIRST = {
    "Conv",
    "MaxPool",
    "AveragePool",
    "GlobalAveragePool",
    "GlobalMaxPool",
    "BatchNormalization",
    "ConvTranspose",
    "InstanceNormalization",
    "LpPool",
    "GroupNormalization",
    "Resize",
    "Upsample",
    "twinnet.GroupNorm",
}
_RECURRENT = {"LSTM", "GRU", "RNN"}
_FEATURES_LAST = {"MatMul", "Gemm"}
_PASS_THROUGH = {
    "Relu",
    "Sigmoid",
    "Tanh",
    "Softmax",
    "LogSoftmax",
    "Gelu",
    "Erf",
    "Elu",
    "Selu",
    "LeakyRelu",
    "Softplus",
    "HardSigmoid",
    "HardSwish",
    "Identity",
    "Dropout",
    "Add",
    "Sub",
    "Mul",
    "Div",
    "Max",
    "Min",
    "Concat",
    "Sum",
    "Mean",
    "Pad",
    "Where",
    "Greater",
    "Slice",
    "Clip",
    "twinnet.Affine",
    "twinnet.Silu",
    "twinnet.Roll",
    *("Sqrt", "Reciprocal", "Exp", "Log", "Abs", "Neg", "Floor", "Ceil", "Sin", "Cos", "Sign", "Not", "Cast"),
    *("Pow", "Equal", "Less", "LessOrEqual", "GreaterOrEqual", "And", "Or", "Xor"),
}  # the pattern rules' ops (../patterns/) count too
_SPATIAL = {1: "", 2: "", 3: "W", 4: "HW", 5: "DHW"}
_MAX_DEPTH = 200


def channels_first(rank: int) -> str:
    """``NC`` followed by the spatial letters: ``NCW``, ``NCHW``."""
    return "NC" + _SPATIAL.get(rank, "")


def features_last(rank: int) -> str | None:
    return {2: "NC", 3: "NTC", 4: "NHWC", 5: "NDHWC"}.get(rank)


def _layer_norm_layout(axes, rank: int) -> str | None:
    """The letters a layer norm over positions ``axes`` implies; None (undecided) for other sets of axes."""
    if rank - 1 in axes:
        return features_last(rank)
    if list(axes) == [1] and rank >= 3:
        # a rank-3 tensor normalised along axis 1 is most likely a token sequence held channels first
        # (twinnet's backend composes the norm for such ViT tokens)
        return "NCT" if rank == 3 else channels_first(rank)
    return None


def free_layout(rank: int) -> str | None:
    """``N`` then free letters (``NABE``...): a tensor whose axes no consumer gives a meaning (the op tier's)."""
    return "N" + free_letters("N", rank - 1) if 1 <= rank <= MAX_RANK else None


def default_layout(rank: int, integer: bool) -> str | None:
    """ONNX's convention when nothing downstream says otherwise."""
    if integer:
        return {1: "N", 2: "NT"}.get(rank)
    return {1: "N", 2: "NC", 3: "NTC", 4: "NCHW", 5: "NCDHW"}.get(rank)


class LayoutInference:
    """Memoised forward search for the letters of a value (see the module docstring)."""

    def __init__(self, graph: Graph):
        self.graph = graph
        self.memo: dict[str, str | None] = {}

    def layout(self, name: str, rank: int, integer: bool = False) -> str | None:
        """The letters of value ``name`` (of ``rank``); None if no layout of that rank exists."""
        found = self._wanted(name, rank, 0)
        if found is None or len(found) != rank:
            return default_layout(rank, integer) or free_layout(rank)
        return found

    def _wanted(self, name: str, rank: int, depth: int) -> str | None:
        if name in self.memo:
            return self.memo[name]
        self.memo[name] = None  # guards against revisiting through a diamond
        found = None
        if depth < _MAX_DEPTH:
            for op in self.graph.consumers.get(name, []):
                try:
                    found = self._through(op, name, rank, depth)
                except (ValueError, TypeError, KeyError, IndexError, AttributeError):
                    found = None  # an odd attribute decides nothing; the op's own conversion reports it
                if found is not None and len(found) == rank and found.count("N") == 1:
                    break
                found = None
        self.memo[name] = found
        return found

    def _through(self, op, name: str, rank: int, depth: int) -> str | None:
        kind = op.op_type
        first = op.inputs[0] == name
        if kind in _CHANNELS_FIRST and first:
            return channels_first(rank)
        if kind in _RECURRENT and first:
            return "NTC" if op.attr("layout", 0) else "TNC"
        if kind in _FEATURES_LAST and first:
            return features_last(rank)
        if kind in ("ReduceMean", "ReduceMax") and first:  # a global pool: the reduced axes are the spatial ones
            axes = sorted({a % rank for a in axes_of(self.graph, op) or []})
            if axes == list(range(2, rank)):
                return channels_first(rank)
            if axes == list(range(1, rank - 1)):
                return features_last(rank)
            return None
        if kind in ("LayerNormalization", "twinnet.LayerNorm") and first:
            # a norm keeps its input's positions, so what reads its result decides first (a MatMul behind a
            # Transpose(0, 2, 1), a Dense after a norm over time, a Conv after a norm over C, H, W); the axes
            # only when nothing does
            axes = op.attrs["axes"] if kind == "twinnet.LayerNorm" else range(op.attr("axis", -1) % rank, rank)
            return self._wanted(op.outputs[0], rank, depth + 1) or _layer_norm_layout(axes, rank)
        if kind == "twinnet.MultiHeadAttention":  # the attention rule measured each input's axis order
            return op.attrs["twinnet_layouts"][op.inputs.index(name)]
        if kind == "Transpose":
            out = self._wanted(op.outputs[0], rank, depth + 1)
            perm = op.attr("perm", list(range(rank))[::-1])
            if out is None or len(perm) != rank:
                return None
            letters = [""] * rank
            for i, p in enumerate(perm):
                letters[p] = out[i]
            return "".join(letters)
        if (
            kind == "Gather"
            and len(op.inputs) > 1
            and op.inputs[1] == name
            and self.graph.const(op.inputs[0]) is not None
        ):
            out = self._wanted(op.outputs[0], rank + 1, depth + 1)
            return out[:-1] if out is not None and out.endswith("C") else None
        if kind in _PASS_THROUGH and op.outputs:
            return self._wanted(op.outputs[0], rank, depth + 1)
        return None


class InferLayouts(Pass):
    """Layout inference as a read-only pass: changes nothing, and its ``analysis`` is a :class:`LayoutInference`
    that answers the letters of any value of the graph (searched on demand, memoised)."""

    def run(self, graph: Graph) -> PassResult:
        return PassResult(graph, modified=False, analysis=LayoutInference(graph))
