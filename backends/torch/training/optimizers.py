"""torch optimizers for :mod:`twinnet.ir.training.optimizers`.

torch's own ``SGD`` applies the rule without momentum (its L2 ``weight_decay``
equals the decoupled one there: ``w - lr * (g + wd * w)``). Everywhere else
torch's rule differs (momentum without ``lr`` inside, Adam's epsilon after the
bias correction, RMSprop's epsilon outside the root, L2 instead of decoupled
decay), so a small subclass applies twinnet's. Each reads its learning rate
from its parameter group, which :class:`~twinnet.backends.torch.training.schedules.SpecLR`
sets before every update.
"""

from __future__ import annotations

import torch

from ....ir.training import optimizers as O


class _Decoupled(torch.optim.Optimizer):
    """The shared part: per-parameter state, and weight decay ``w <- w - lr * weight_decay * w`` first."""

    def _params(self):
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    if group["weight_decay"]:
                        p.sub_(p * group["weight_decay"] * group["lr"])
                    yield group, p, p.grad, self.state[p]


class KerasSGD(_Decoupled):
    """``v <- mu * v - lr * g; w <- w + v`` (Nesterov: ``w <- w + mu * v - lr * g``)."""

    def __init__(self, params, lr, momentum, nesterov=False, weight_decay=0.0):
        super().__init__(params, {"lr": lr, "momentum": momentum, "nesterov": nesterov, "weight_decay": weight_decay})

    @torch.no_grad()
    def step(self, closure=None):
        for group, p, g, state in self._params():
            mu, lr = group["momentum"], group["lr"]
            v = state.setdefault("velocity", torch.zeros_like(p))
            v.copy_(v * mu - g * lr)
            p.add_(v * mu - g * lr if group["nesterov"] else v)


class KerasAdam(_Decoupled):
    """``m += (g - m)(1 - b1); v += (g^2 - v)(1 - b2); w -= lr sqrt(1 - b2^k) / (1 - b1^k) * m / (sqrt(v) + eps)``."""

    def __init__(self, params, lr, beta_1, beta_2, epsilon, weight_decay=0.0):
        defaults = {"lr": lr, "beta_1": beta_1, "beta_2": beta_2, "epsilon": epsilon, "weight_decay": weight_decay}
        super().__init__(params, defaults)

    @torch.no_grad()
    def step(self, closure=None):
        for group, p, g, state in self._params():
            b1, b2 = group["beta_1"], group["beta_2"]
            if not state:
                state.update(step=0, m=torch.zeros_like(p), v=torch.zeros_like(p))
            state["step"] += 1
            k = state["step"]
            m, v = state["m"], state["v"]
            # In the weight's dtype, as Keras computes it: 1 - beta_2 ** k in float32 is not 1 - 0.999 ** k
            # to 1e-5 at k = 1, and matching Keras means rounding as it does.
            one = torch.ones((), dtype=p.dtype, device=p.device)
            alpha = (one * group["lr"]) * torch.sqrt(1 - (one * b2) ** k) / (1 - (one * b1) ** k)
            m.add_((g - m) * (1 - b1))
            v.add_((g * g - v) * (1 - b2))
            p.sub_((m * alpha) / (v.sqrt() + group["epsilon"]))


class KerasRMSprop(_Decoupled):
    """``v <- rho * v + (1 - rho) * g^2; w <- w - lr * g / sqrt(v + epsilon)``."""

    def __init__(self, params, lr, rho, epsilon, weight_decay=0.0):
        super().__init__(params, {"lr": lr, "rho": rho, "epsilon": epsilon, "weight_decay": weight_decay})

    @torch.no_grad()
    def step(self, closure=None):
        for group, p, g, state in self._params():
            rho = group["rho"]
            v = state.setdefault("velocity", torch.zeros_like(p))
            v.copy_(v * rho + (g * g) * (1 - rho))
            p.sub_((g * group["lr"]) / (v + group["epsilon"]).sqrt())


def build_optimizer(spec, params) -> torch.optim.Optimizer:
    """The torch optimizer applying ``spec.optimizer``'s rule to ``params`` (clipping is the loop's, see fit.py)."""
    opt = spec.optimizer
    lr = opt.learning_rate.rate(0)
    if isinstance(opt, O.SGD) and opt.momentum == 0:
        return torch.optim.SGD(params, lr=lr, weight_decay=opt.weight_decay)
    if isinstance(opt, O.SGD):
        return KerasSGD(params, lr, opt.momentum, opt.nesterov, opt.weight_decay)
    if isinstance(opt, O.Adam):  # AdamW too: the same rule, another default decay
        return KerasAdam(params, lr, opt.beta_1, opt.beta_2, opt.epsilon, opt.weight_decay)
    if isinstance(opt, O.RMSprop):
        return KerasRMSprop(params, lr, opt.rho, opt.epsilon, opt.weight_decay)
    raise TypeError(f"not an optimizer: {type(opt).__name__}")
