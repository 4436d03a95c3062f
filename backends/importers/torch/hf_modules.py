"""Hugging Face's own layer modules, converted whole: ``transformers.pytorch_utils.Conv1D`` (GPT-2's
linear layer, its weight stored ``(in, out)``) is an IR ``Dense``.

twinnet never imports ``transformers``: a model holding such a module has
imported it already, so :func:`hf_leaves` and :func:`hf_module` (which the
importer asks for a class ``MODULE_TABLE`` lacks) find the class in
``sys.modules``. The capture keeps
each such module's calls as one node (like a stock ``torch.nn`` module), so
the graph has one ``call_module`` where ``torch.export`` would record
``view``, ``addmm``, ``view``.
"""

from __future__ import annotations

import sys

from torch import nn

from ....ir import layers as L
from .modules import array, channels_last


def conv1d(ctx, call):
    """``x @ weight + bias`` over the last axis, ``weight`` ``(in, out)``: a ``Dense`` layer, kernel as is."""
    m, x = call.module, channels_last(ctx, call, ctx.tensor(call.args[0]))
    weights = {"kernel": array(m.weight), "bias": array(m.bias)}
    return ctx.add(call, L.Dense(m.nf), [x], weights)


def _classes() -> dict:
    """Hugging Face module class -> converter, for the classes ``transformers`` has loaded."""
    utils = sys.modules.get("transformers.pytorch_utils")
    return {utils.Conv1D: conv1d} if utils is not None and hasattr(utils, "Conv1D") else {}


def hf_leaves(module: nn.Module) -> set[int]:
    """The ids of ``module``'s Hugging Face layer modules to keep whole (one node each)."""
    found = _classes()
    return {id(m) for m in module.modules() if type(m) in found}


def hf_module(cls: type):
    """The converter of a Hugging Face layer module class (None for any other class)."""
    return _classes().get(cls)
