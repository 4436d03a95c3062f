"""torch losses for :mod:`twinnet.ir.training.losses`, each the mean over the batch of the per-sample rule.

From logits, torch's own losses apply the rule (``BCEWithLogitsLoss``,
``CrossEntropyLoss`` with class indices or one-hot probabilities as targets);
so do ``MSELoss``, ``L1Loss`` and ``HuberLoss``. From probabilities torch has
no clipped cross-entropy (``BCELoss`` clamps the log at -100 instead, and
``CrossEntropyLoss`` wants logits), so :class:`ProbabilityCrossentropy` applies
the rule's clip to ``[EPSILON, 1 - EPSILON]``.
"""

from __future__ import annotations

from torch import nn

from ....ir.training import losses as L


class ProbabilityCrossentropy(nn.Module):
    """Cross-entropy on probabilities, clipped to ``[EPSILON, 1 - EPSILON]`` (``kind``: binary, categorical, sparse)."""

    def __init__(self, kind: str):
        super().__init__()
        self.kind = kind

    def forward(self, y_pred, y_true):
        eps = L.EPSILON
        if self.kind == "binary":
            p = y_pred.clamp(eps, 1.0 - eps)
            y = y_true.to(y_pred.dtype)
            return (-(y * p.log() + (1.0 - y) * (1.0 - p).log())).mean(dim=-1).mean()
        p = (y_pred / y_pred.sum(dim=-1, keepdim=True)).clamp(eps, 1.0 - eps)
        if self.kind == "sparse":
            index = y_true.long()
            if index.dim() == y_pred.dim():
                index = index.squeeze(-1)
            return -p.log().gather(-1, index.unsqueeze(-1)).squeeze(-1).mean()
        return (-(y_true.to(y_pred.dtype) * p.log()).sum(dim=-1)).mean()


class SparseCrossEntropy(nn.CrossEntropyLoss):
    """torch's ``CrossEntropyLoss`` taking Keras-shaped integer targets (``(N,)`` or ``(N, 1)``, any int dtype)."""

    def forward(self, logits, target):
        target = target.long()
        if target.dim() == logits.dim():
            target = target.squeeze(-1)
        return super().forward(logits, target)


class FloatTargets(nn.Module):
    """A torch loss fed float targets of the output's dtype (Keras casts them so too)."""

    def __init__(self, loss: nn.Module):
        super().__init__()
        self.loss = loss

    def forward(self, y_pred, y_true):
        return self.loss(y_pred, y_true.to(y_pred.dtype))


def build_loss(loss) -> nn.Module:
    """The torch loss applying ``loss``'s rule, called as ``loss(prediction, target)``."""
    if isinstance(loss, L.MeanSquaredError):
        return FloatTargets(nn.MSELoss())
    if isinstance(loss, L.MeanAbsoluteError):
        return FloatTargets(nn.L1Loss())
    if isinstance(loss, L.Huber):
        return FloatTargets(nn.HuberLoss(delta=loss.delta))
    kind = {
        L.BinaryCrossentropy: "binary",
        L.CategoricalCrossentropy: "categorical",
        L.SparseCategoricalCrossentropy: "sparse",
    }[type(loss)]
    if not loss.from_logits:
        return ProbabilityCrossentropy(kind)
    return {
        "binary": lambda: FloatTargets(nn.BCEWithLogitsLoss()),
        "categorical": lambda: FloatTargets(nn.CrossEntropyLoss()),
        "sparse": SparseCrossEntropy,
    }[kind]()
