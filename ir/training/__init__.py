"""The framework-free training spec: losses, optimizers, learning-rate schedules, metrics.

Every item is a frozen dataclass that checks its arguments when built and
documents the one rule it stands for; ``twinnet.backends.keras.training`` and
``twinnet.backends.torch.training`` apply that rule in each framework.

>>> from twinnet.ir import training as T
>>> T.TrainingSpec(T.MeanSquaredError(), T.SGD(T.StepDecay(0.1, step_size=5), momentum=0.9)).optimizer.nesterov
False
"""

from . import losses, metrics
from .losses import (
    BinaryCrossentropy,
    CategoricalCrossentropy,
    Huber,
    MeanAbsoluteError,
    MeanSquaredError,
    SparseCategoricalCrossentropy,
)
from .metrics import AUC, BinaryAccuracy, CategoricalAccuracy, SparseCategoricalAccuracy
from .optimizers import SGD, Adam, AdamW, RMSprop
from .schedules import Constant, CosineDecay, StepDecay, WarmUp
from .spec import Regularization, TrainingSpec
