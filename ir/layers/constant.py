"""LearnedConstant: a trained tensor with no batch axis, repeated over the batch.

What a ViT's class token (``nn.Parameter(1, 1, d)``) and learned positional
embedding (``nn.Parameter(1, n + 1, d)``) are: weights read directly in
``forward`` and combined with activations by ``cat`` / ``+``. The layer holds
the weight ``value`` of shape ``shape`` (the declared axes without ``N``) and
outputs it for every sample, ``(N, *shape)``. Its one input is used only for
its batch size (any tensor of the graph; the model input, typically), which
is how each framework learns how many copies to make.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import show
from ..layout import check_layout, default_layout
from ..tensor import TensorSpec
from .base import Layer, WeightSpec, as_int, register


@register
@dataclass(frozen=True)
class LearnedConstant(Layer):
    """Weight ``value`` of shape ``shape``, broadcast over the batch of its (reference) input.

    ``layout`` names the output axes, batch first (default: the Keras
    convention for the rank, ``"NTC"`` for a ``(T, C)`` shape). Initialised
    uniform in [-0.05, 0.05], as Keras's Embedding (which holds it in Keras).

    >>> from twinnet import ir
    >>> cls = LearnedConstant((1, 16))(ir.Input((3, 16, 16), layout="NCHW"))
    >>> cls.shape, cls.layout
    ((None, 1, 16), 'NTC')
    """

    integer_inputs = True  # only the batch size is read: token ids are a reference as good as any

    shape: tuple[int, ...]
    layout: str | None = None

    def __post_init__(self):
        super().__post_init__()
        shape = self.shape
        if isinstance(shape, int) and not isinstance(shape, bool):
            shape = (shape,)
        if not isinstance(shape, (list, tuple)) or not shape:
            self._fail(f"shape must be a non-empty tuple of sizes (the axes after the batch), got {show(shape)}")
        self._set("shape", tuple(as_int(self, "shape", s) for s in shape))
        layout = self.layout if self.layout is not None else default_layout(len(self.shape) + 1, layer=self.label)
        check_layout(layout, len(self.shape) + 1, layer=self.label)
        if layout[0] != "N":
            self._fail(f"layout must put the batch axis N first (the value is repeated along it), got {layout!r}")
        self._set("layout", layout)

    def infer(self, inputs):
        self._check_arity(inputs)
        return TensorSpec((None, *self.shape), self.layout)

    def weights(self, inputs):
        return {"value": WeightSpec(self.shape, "embedding_uniform")}
