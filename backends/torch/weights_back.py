"""Weights back from torch: a trained ``nn.Module`` compiled from a model, its parameters copied into the IR.

The exact inverse of this backend's compile-time transfer, read from that
transfer itself (``backends/lowering/weights_back.py``): the model's
architecture is lowered as ``to_torch`` lowers it, keyed as its state dict.
``BACK`` has one entry per layer kind with weights, joined from the family
files beside their lowerings (``fold_second_bias`` in ``recurrent.py``).
It reads the module ``to_torch`` returns and the one the emitted file loads
(the same class, the same state-dict keys).
"""

from __future__ import annotations

import numpy as np

from ...ir.errors import WeightError
from ...ir.graph import Model
from ..lowering.weights_back import Transfer, pull_back, trace
from ..tables import join_tables
from . import attention, constant, conv, conv_variants, core, lower, norm, ops_tensors, recurrent, state_dict

#: IR layer class -> None (copies only) or its fold, for every kind with weights
BACK = join_tables(
    core.BACK,
    conv.BACK,
    conv_variants.BACK,
    norm.BACK,
    recurrent.BACK,
    attention.BACK,
    constant.BACK,
    ops_tensors.BACK,
    what="torch BACK",
)


def transfer(model: Model) -> Transfer:
    """Where ``to_torch`` puts each IR weight element of ``model``'s architecture, by state-dict key."""
    return trace(model, lambda m: state_dict(lower(m)), _unit)


def _unit(key: str) -> tuple[str, str]:
    unit, _, param = key.rpartition(".")
    return unit, param


def parameters(module) -> dict[str, np.ndarray]:
    """The state dict of a torch module as numpy arrays (on the CPU)."""
    import torch

    if not isinstance(module, torch.nn.Module):
        raise WeightError(f"weights back from torch take a torch.nn.Module, got {type(module).__name__}")
    return {k: v.detach().cpu().numpy() for k, v in module.state_dict().items()}


def load_weights_from(model: Model, module) -> Model:
    """A copy of ``model`` holding the weights of ``module``, a torch module compiled from it (and trained).

    Raises:
        WeightError: ``module`` is not a torch module, or its parameters do not match what ``to_torch`` makes
            of ``model`` (a parameter missing, extra or misshapen, a fixed constant trained); the message
            names the layer.
    """
    params = parameters(module)
    moves = transfer(model)
    return pull_back(model, moves, params, BACK, "torch")
