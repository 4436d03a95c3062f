"""The importer's three tables, joined from the family files (each keyed by the torch object, never a name).

* ``MODULE_TABLE``: ``nn.Module`` class -> converter (``modules.py``
  core, ``spatial.py`` transposed convs / padding / upsampling,
  ``norm_act.py`` GroupNorm and capped ReLUs, ``attention.py``
  MultiheadAttention and the transformer encoder);
* ``FUNCTION_TABLE``: function or operator (``ops.py`` core,
  ``arith.py`` arithmetic with constants, ``slicing.py``
  indexing / split / chunk / narrow, and the families above) as fx records it, and the ATen ops
  ``torch.export`` records (``aten.py``), and the functions the Hugging Face rewrites add (``hf_table.py``)
  -> converter;
* ``METHOD_TABLE``: ``torch.Tensor`` method -> converter (``constants.py``: ``expand`` over the batch).

Each is joined by ``join_tables`` (``backends/tables.py``), which refuses a key two family files claim.
"""

from __future__ import annotations

import operator
from typing import Callable

from .... import ir
from ...tables import join_tables
from .arith import ARITH_FUNCTIONS, ARITH_METHODS
from .aten import ATEN_TABLE
from .aten_shape import getitem as getitem_ops
from .aten_values import prefer
from .attention import ATTENTION_FUNCTIONS, ATTENTION_METHODS, ATTENTION_MODULES
from .constants import CONSTANT_METHODS
from .einsum import EINSUM
from .hf_table import HF_FUNCTIONS
from .modules import CORE_TABLE
from .norm_act import NORM_ACT_FUNCTIONS, NORM_ACT_METHODS, NORM_ACT_MODULES
from .ops import CORE_FUNCTIONS, CORE_METHODS
from .slicing import SLICING_FUNCTIONS, SLICING_METHODS
from .spatial import SPATIAL_FUNCTIONS, SPATIAL_MODULES

MODULE_TABLE: dict[type, Callable] = join_tables(
    CORE_TABLE, SPATIAL_MODULES, NORM_ACT_MODULES, ATTENTION_MODULES, what="torch MODULE_TABLE"
)
FUNCTION_TABLE: dict[Callable, Callable] = join_tables(
    CORE_FUNCTIONS,
    ARITH_FUNCTIONS,
    SLICING_FUNCTIONS,
    SPATIAL_FUNCTIONS,
    NORM_ACT_FUNCTIONS,
    ATTENTION_FUNCTIONS,
    ATEN_TABLE,
    EINSUM,
    HF_FUNCTIONS,
    what="torch FUNCTION_TABLE",
)
# x[index]: the slicing layers first (Cropping, a Narrow-free crop), the op tier where they refuse (a step, an int
# index that drops an axis of a value read in forward)
_GETITEM = FUNCTION_TABLE[operator.getitem]
_GETITEM_OR_OPS = prefer(_GETITEM, getitem_ops)


def _getitem(ctx, call):
    """Tensors: the slicing layers, else ops; anything else (an RNN's outputs, a tuple): the layer entry alone."""
    return (_GETITEM_OR_OPS if isinstance(call.args[0], ir.Tensor) else _GETITEM)(ctx, call)


FUNCTION_TABLE[operator.getitem] = _getitem
METHOD_TABLE: dict[Callable, Callable] = join_tables(
    CORE_METHODS,
    ARITH_METHODS,
    SLICING_METHODS,
    NORM_ACT_METHODS,
    ATTENTION_METHODS,
    CONSTANT_METHODS,
    what="torch METHOD_TABLE",
)
