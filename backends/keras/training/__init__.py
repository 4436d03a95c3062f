"""Training by a :class:`twinnet.ir.training.TrainingSpec` in Keras: ``compile`` with what applies its rules.

Mirrors ``backends/torch/training/`` file for file; what differs between the
frameworks, and what twinnet does about it, is in ``docs/training.md``.
"""

from __future__ import annotations

import warnings

from .data import SpecDataset, as_dataset
from .losses import Crossentropy, build_loss
from .metrics import build_metric
from .optimizers import build_optimizer
from .parity import prepare
from .schedules import SpecSchedule, build_schedule


def compile_for(km, spec):
    """Compile ``km`` for ``spec`` (optimizer, loss, metrics, regularisation, parity) and return it.

    XLA stays off (``jit_compile=False``): its fused kernels round differently
    from the plain ones, and the point is to match torch step for step.
    """
    off = prepare(km, spec)
    if off:
        warnings.warn(f"parity mode: dropout turned off in {', '.join(off)}", stacklevel=2)
    km.compile(
        optimizer=build_optimizer(spec),
        loss=build_loss(spec.loss),
        metrics=[build_metric(m) for m in spec.metrics],
        jit_compile=False,
    )
    return km
