"""SGD and Adam on torch, with the same update equations as :mod:`vaelearn.numpy.optim`.

Both wrap ``torch.optim`` (Adam: ``lr * m_hat / (sqrt(v_hat) + eps)`` with both bias corrections),
and update the model's parameter tensors in place.
"""

from __future__ import annotations

import numpy as np
import torch

from ..common.checks import _check_adam, _check_lr, _check_momentum

__all__ = ["SGD", "Adam", "make_optimizer"]


class _TorchOptimizer:
    params: dict
    _opt: torch.optim.Optimizer

    def step(self, grads):
        """Apply one update with ``grads`` (``{key: array or tensor}``, the keys of ``params``)."""
        for key, p in self.params.items():
            g = grads[key]
            if not isinstance(g, torch.Tensor):
                g = torch.as_tensor(np.asarray(g), dtype=p.dtype, device=p.device)
            p.grad = g.detach().to(dtype=p.dtype, device=p.device)
        self._opt.step()
        for p in self.params.values():
            p.grad = None


class SGD(_TorchOptimizer):
    r"""Stochastic gradient descent with optional momentum (``torch.optim.SGD``).

    Parameters
    ----------
    params : dict
        ``{key: tensor}`` (pass ``model.params``), updated in place.
    lr : float, default 1e-3
    momentum : float, default 0.0
    """

    def __init__(self, params, lr=1e-3, momentum=0.0):
        self.params = params
        self.lr = _check_lr(lr)
        self.momentum = _check_momentum(momentum)
        self._opt = torch.optim.SGD(list(params.values()), lr=self.lr, momentum=self.momentum)


class Adam(_TorchOptimizer):
    r"""Adam (``torch.optim.Adam``): :math:`\theta \leftarrow \theta - \eta\,\hat m_t /
    (\sqrt{\hat v_t} + \epsilon)`, both bias corrections.

    Parameters
    ----------
    params : dict
        ``{key: tensor}`` (pass ``model.params``), updated in place.
    lr : float, default 1e-3
    betas : (float, float), default (0.9, 0.999)
    eps : float, default 1e-8
    """

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8):
        self.params = params
        self.lr = _check_lr(lr)
        self.betas, self.eps = _check_adam(betas, eps)
        self._opt = torch.optim.Adam(list(params.values()), lr=self.lr, betas=self.betas,
                                     eps=self.eps)


def make_optimizer(name, params, lr=1e-3):
    """Build ``"adam"`` or ``"sgd"`` over ``params`` (a dict of tensors updated in place)."""
    key = str(name).lower()
    if key == "adam":
        return Adam(params, lr=lr)
    if key == "sgd":
        return SGD(params, lr=lr)
    raise ValueError(f"argument 'optimizer' is {name!r}; expected 'adam' or 'sgd'")
