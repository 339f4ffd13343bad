"""SGD and Adam with the same update equations in both backends. Lesson 05.

Both optimizers update the model's parameter arrays **in place** (the arrays in ``model.params``),
so the model sees the new values without copying.
"""

from __future__ import annotations

import numpy as np

from ..common.checks import _check_adam, _check_lr, _check_momentum

__all__ = ["SGD", "Adam", "make_optimizer"]


class SGD:
    r"""Stochastic gradient descent, optionally with momentum (torch.optim.SGD's equations).

    .. math::
        b_t = \mu\, b_{t-1} + g_t \ (b_1 = g_1), \qquad \theta_t = \theta_{t-1} - \eta\, b_t

    (plain SGD when ``momentum = 0``: :math:`\theta_t = \theta_{t-1} - \eta\, g_t`).

    Parameters
    ----------
    params : dict
        ``{key: ndarray}``, updated in place (pass ``model.params``).
    lr : float, default 1e-3
    momentum : float, default 0.0
    """

    def __init__(self, params, lr=1e-3, momentum=0.0):
        self.params = params
        self.lr = _check_lr(lr)
        self.momentum = _check_momentum(momentum)
        self.buffers = {}
        self.t = 0

    def step(self, grads):
        """Apply one update with ``grads`` (``{key: ndarray}``, the keys of ``params``)."""
        self.t += 1
        for key, p in self.params.items():
            g = grads[key]
            if self.momentum:
                buf = self.buffers.get(key)
                if buf is None:
                    buf = self.buffers[key] = np.array(g, dtype=p.dtype)
                else:
                    buf *= self.momentum
                    buf += g
                g = buf
            p -= self.lr * g


class Adam:
    r"""Adam (Kingma & Ba 2015), exactly torch.optim.Adam's update.

    With gradient :math:`g_t` at step :math:`t`:

    .. math::
        m_t = \beta_1 m_{t-1} + (1-\beta_1) g_t, \quad
        v_t = \beta_2 v_{t-1} + (1-\beta_2) g_t^2, \quad
        \theta_t = \theta_{t-1} - \frac{\eta}{1-\beta_1^t}\,
        \frac{m_t}{\sqrt{v_t}/\sqrt{1-\beta_2^t} + \epsilon}

    i.e. :math:`\eta\,\hat m_t / (\sqrt{\hat v_t} + \epsilon)` with both bias corrections, in
    torch's order of operations (so float64 runs agree with torch to ~1e-14 over many steps).

    Parameters
    ----------
    params : dict
        ``{key: ndarray}``, updated in place (pass ``model.params``).
    lr : float, default 1e-3
    betas : (float, float), default (0.9, 0.999)
    eps : float, default 1e-8
    """

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8):
        self.params = params
        self.lr = _check_lr(lr)
        self.betas, self.eps = _check_adam(betas, eps)
        self.m = {k: np.zeros_like(p) for k, p in params.items()}
        self.v = {k: np.zeros_like(p) for k, p in params.items()}
        self._tmp = {k: np.empty_like(p) for k, p in params.items()}
        self._denom = {k: np.empty_like(p) for k, p in params.items()}
        self.t = 0

    def step(self, grads):
        """Apply one update with ``grads`` (``{key: ndarray}``, the keys of ``params``)."""
        self.t += 1
        b1, b2 = self.betas
        bias_correction1 = 1 - b1**self.t
        bias_correction2_sqrt = (1 - b2**self.t) ** 0.5  # torch uses ** 0.5, not math.sqrt
        step_size = self.lr / bias_correction1
        for key, p in self.params.items():
            g = grads[key]
            m, v, tmp = self.m[key], self.v[key], self._tmp[key]
            # m <- m + (1 - b1) (g - m)        (torch: exp_avg.lerp_(grad, 1 - beta1))
            np.subtract(g, m, out=tmp)
            tmp *= 1 - b1
            m += tmp
            # v <- b2 v + (1 - b2) g^2         (torch: exp_avg_sq.mul_(b2).addcmul_(g, g, 1-b2))
            v *= b2
            np.multiply(g, 1 - b2, out=tmp)
            tmp *= g
            v += tmp
            # p <- p - step_size * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
            denom = self._denom[key]
            np.sqrt(v, out=denom)
            denom /= bias_correction2_sqrt
            denom += self.eps
            np.multiply(m, step_size, out=tmp)
            tmp /= denom
            p -= tmp


def make_optimizer(name, params, lr=1e-3):
    """Build ``"adam"`` or ``"sgd"`` over ``params`` (a dict of arrays updated in place)."""
    key = str(name).lower()
    if key == "adam":
        return Adam(params, lr=lr)
    if key == "sgd":
        return SGD(params, lr=lr)
    raise ValueError(f"argument 'optimizer' is {name!r}; expected 'adam' or 'sgd'")
