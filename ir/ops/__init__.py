"""The tensor-op tier: primitive, framework-neutral ops beside the layers (docs/ops.md).

``from twinnet.ir import ops as O; O.Binary("add")([x, y])``. Every op is a
layer kind too (in ``LAYERS``), so models mix both freely.
"""

from .base import OPS, Op, register_op
from .elementwise import BINARY, UNARY, Binary, Cast, Clip, Unary, Where
from .linalg import MatMul
from .movement import Expand, Gather, Pad, Roll, Take, Tile
from .norm import Normalize, ScaledDotProductAttention
from .reduction import REDUCTIONS, Reduce, Softmax
from .shape import Concat, Narrow, Transpose, View
from .tensors import Learned, Positions

__all__ = sorted(OPS) + ["OPS", "Op", "register_op", "BINARY", "UNARY", "REDUCTIONS"]
