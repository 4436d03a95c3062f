"""The importer's three tables, joined from the family files (each keyed by the torch object, never a name).

* ``MODULE_TABLE``: ``nn.Module`` class -> converter (``torch_modules.py``
  core, ``torch_spatial.py`` transposed convs / padding / upsampling,
  ``torch_norm_act.py`` GroupNorm and capped ReLUs, ``torch_attention.py``
  MultiheadAttention and the transformer encoder);
* ``FUNCTION_TABLE``: function or operator (``torch_ops.py`` core,
  ``torch_arith.py`` arithmetic with constants, ``torch_slicing.py``
  indexing / split / chunk / narrow, and the families above) as fx records it -> converter;
* ``METHOD_TABLE``: ``torch.Tensor`` method -> converter (``torch_constants.py``: ``expand`` over the batch).
"""
from __future__ import annotations

from typing import Callable

from .torch_arith import ARITH_FUNCTIONS, ARITH_METHODS
from .torch_attention import ATTENTION_FUNCTIONS, ATTENTION_METHODS, ATTENTION_MODULES
from .torch_constants import CONSTANT_METHODS
from .torch_modules import CORE_TABLE
from .torch_norm_act import NORM_ACT_FUNCTIONS, NORM_ACT_METHODS, NORM_ACT_MODULES
from .torch_ops import CORE_FUNCTIONS, CORE_METHODS
from .torch_slicing import SLICING_FUNCTIONS, SLICING_METHODS
from .torch_spatial import SPATIAL_FUNCTIONS, SPATIAL_MODULES

MODULE_TABLE: dict[type, Callable] = {**CORE_TABLE, **SPATIAL_MODULES, **NORM_ACT_MODULES, **ATTENTION_MODULES}
FUNCTION_TABLE: dict[Callable, Callable] = {**CORE_FUNCTIONS, **ARITH_FUNCTIONS, **SLICING_FUNCTIONS,
                                            **SPATIAL_FUNCTIONS, **NORM_ACT_FUNCTIONS, **ATTENTION_FUNCTIONS}
METHOD_TABLE: dict[Callable, Callable] = {**CORE_METHODS, **ARITH_METHODS, **SLICING_METHODS, **NORM_ACT_METHODS,
                                          **ATTENTION_METHODS, **CONSTANT_METHODS}
