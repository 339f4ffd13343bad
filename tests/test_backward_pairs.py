"""Every ``f`` / ``f_backward`` pair in ``distributions.py``, checked two ways.

- NumPy: ``f_backward(..., grad)`` against central finite differences of ``sum(grad * f(...))``
  (an oracle that shares no code with the backward). Step 1e-6 in float64: truncation error
  O(h^2 f''') ~ 1e-12 and round-off O(eps |f| / h) ~ 1e-10 for values of order 1, so 1e-7
  (relative to the gradient's scale) is far above both and far below any wrong derivative.
- torch: the twin's ``f_backward`` (autograd) against the NumPy one is the ``backward-pairs``
  case of the one parity catalogue, ``tests/test_parity.py``.
"""

from __future__ import annotations

import numpy as np
import pytest

import vaelearn

NP = vaelearn.get_backend("numpy")

RTOL = 1e-7  # finite differences, see the module docstring


def _fd(f, args, index, grad, h=1e-6):
    """d/d args[index] of sum(grad * f(*args)) by central differences, element by element."""
    x = np.array(args[index], dtype=np.float64)
    out = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        hi, lo = x.copy(), x.copy()
        hi[i] += h
        lo[i] -= h
        a_hi = list(args)
        a_lo = list(args)
        a_hi[index], a_lo[index] = hi, lo
        out[i] = (np.sum(grad * f(*a_hi)) - np.sum(grad * f(*a_lo))) / (2 * h)
    return out


def _close(a, b, tol):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    assert a.shape == b.shape, (a.shape, b.shape)
    scale = max(1.0, float(np.max(np.abs(b))))
    assert float(np.max(np.abs(a - b))) <= tol * scale, float(np.max(np.abs(a - b)))


rng = np.random.default_rng(16)
N, D = 4, 3
MU, LV = rng.normal(size=(N, D)), rng.normal(scale=0.7, size=(N, D))
X01 = rng.random((N, D))
LOGITS = rng.normal(scale=2.0, size=(N, D))
MEAN = rng.normal(size=(N, D))
EPS3 = rng.normal(size=(2, N, D))
G_ROW = rng.normal(size=(N,))
G_ROW3 = rng.normal(size=(2, N))
G_DIM = rng.normal(size=(N, D))


# (name, forward, backward, args, differentiated arg indices, grad); the backward returns one
# array per differentiated argument, in that order
CASES = [
    ("kl", lambda m, v: NP.kl_normal_std_normal(m, v),
     lambda m, v, g: NP.kl_normal_std_normal_backward(m, v, g), (MU, LV), (0, 1), G_ROW),
    ("kl_per_dim", lambda m, v: NP.kl_normal_std_normal(m, v, per_dim=True),
     lambda m, v, g: NP.kl_normal_std_normal_backward(m, v, g, per_dim=True), (MU, LV), (0, 1),
     G_DIM),
    ("bernoulli", lambda x, lg: NP.log_px_given_z_bernoulli(x, lg),
     lambda x, lg, g: (NP.log_px_given_z_bernoulli_backward(x, lg, g),), (X01, LOGITS), (1,),
     G_ROW),
    ("gaussian_shared", lambda x, m, s: NP.log_px_given_z_gaussian(x, m, s),
     lambda x, m, s, g: NP.log_px_given_z_gaussian_backward(x, m, s, g),
     (X01, MEAN, np.array([0.3])), (1, 2), G_ROW),
    ("gaussian_per_dim", lambda x, m, s: NP.log_px_given_z_gaussian(x, m, s),
     lambda x, m, s, g: NP.log_px_given_z_gaussian_backward(x, m, s, g),
     (X01, MEAN, np.array([0.3, -0.2, 0.1])), (1, 2), G_ROW),
    ("squared_error", lambda x, h: NP.squared_error(x, h),
     lambda x, h, g: (NP.squared_error_backward(x, h, g),), (X01, MEAN), (1,), G_ROW),
    ("log_normal", lambda z, m, v: NP.log_normal(z, m, v),
     lambda z, m, v, g: NP.log_normal_backward(z, m, v, g), (EPS3, MU, LV), (0, 1, 2), G_ROW3),
    ("log_normal_eps", lambda e, v: NP.log_normal_eps(e, v),
     lambda e, v, g: (NP.log_normal_eps_backward(e, v, g),), (EPS3, LV), (1,), G_ROW3),
    ("logmeanexp", lambda a: NP.logmeanexp(a, axis=0),
     lambda a, g: (NP.logmeanexp_backward(a, 0, g),), (EPS3[:, :, 0] * 3,), (0,), G_ROW),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_numpy_backward_matches_finite_differences(case):
    _, forward, backward, args, wrt, grad = case
    got = backward(*args, grad)
    assert len(got) == len(wrt)
    for g, index in zip(got, wrt, strict=True):
        _close(g, _fd(forward, args, index, grad), RTOL)


def test_scalar_grad_keeps_float32():
    """A Python-float grad keeps a float32 model's arrays float32 (the models rely on it)."""
    m32, v32 = MU.astype(np.float32), LV.astype(np.float32)
    d_mean, d_logvar = NP.kl_normal_std_normal_backward(m32, v32, 0.25)
    assert d_mean.dtype == np.float32 and d_logvar.dtype == np.float32
    lg = LOGITS.astype(np.float32)
    assert NP.log_px_given_z_bernoulli_backward(X01.astype(np.float32), lg, -0.5).dtype == (
        np.float32
    )
