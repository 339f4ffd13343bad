"""Numerics at the edges (issue 13): each fault found is a test with an independently computed
value (mpmath at 50 digits, scipy, or a closed form), in both backends where both have the
function. The hypothesis property tests for the same kinds are in test_edges_properties.py.

Tolerances: float64 results are compared at rtol 1e-12 (a few hundred ulp: the functions sum a
handful of terms), float32 ones at rtol 1e-5 (~100 ulp of float32), unless a test says otherwise.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import warnings

import mpmath
import numpy as np
import pytest
import torch

import vaelearn.numpy as N
from vaelearn import info
from vaelearn.collapse import ppca_fit, ppca_log_likelihood
from vaelearn.data import load_digits

mpmath.mp.dps = 50


def _mp_log_normal(z, mean, logvar):
    """log N(z; mean, exp(logvar)) in mpmath, one dimension."""
    z, mean, logvar = (mpmath.mpf(float(v)) for v in (z, mean, logvar))
    return -(mpmath.log(2 * mpmath.pi) + logvar + (z - mean) ** 2 / mpmath.exp(logvar)) / 2


# -- item 1: log q(z|x) from eps ---------------------------------------------------------------


def test_log_normal_far_past_the_exp_range_is_finite(backend):
    # z = mu exactly, sigma^2 = exp(-800): the density is exp(399.08); the naive form is 0 * inf
    want = float(_mp_log_normal(1, 1, -800))
    got = float(np.asarray(backend.log_normal(np.array([1.0]), 1.0, -800.0)))
    assert got == pytest.approx(want, rel=1e-12, abs=0)
    # z - mu = 1e-300 with sigma = exp(-400): (z - mu)^2 / sigma^2 = 1e-600 * e^800, finite
    want = float(_mp_log_normal(1e-300, 0, -800))
    got = float(np.asarray(backend.log_normal(np.array([1e-300]), 0.0, -800.0)))
    assert got == pytest.approx(want, rel=1e-12, abs=0)


def test_gaussian_likelihood_with_tiny_sigma_is_finite(backend):
    # x = m exactly and sigma = exp(-400): log p = 400 - 1/2 log 2 pi per dimension, finite
    want = float(-(mpmath.mpf(-400) + mpmath.log(2 * mpmath.pi) / 2) * 3)
    got = backend.log_px_given_z_gaussian(np.ones((1, 3)), np.ones((1, 3)), -400.0)
    got = float(np.asarray(got)[0])
    assert got == pytest.approx(want, rel=1e-12, abs=0)


def _collapsed_vae(B, mean, logvar, dtype, seed=0):
    """A 6-8-2 VAE whose encoder outputs the constant (mean, logvar) for every input."""
    m = B.VAE(6, (8,), 2, dtype=dtype, seed=seed)
    p = m.get_params()
    p["encoder.mean.W"][:] = 0
    p["encoder.mean.b"][:] = mean
    p["encoder.logvar.W"][:] = 0
    p["encoder.logvar.b"][:] = logvar
    m.set_params(p)
    return m


def _by_hand_log_weights(params, x, eps, mean, logvar):
    """log w = log p(x|z) + log p(z) - log q(z|x) in mpmath from the raw weights (ReLU MLP)."""
    W1, b1 = params["decoder.0.W"].astype(float), params["decoder.0.b"].astype(float)
    W2, b2 = params["decoder.out.W"].astype(float), params["decoder.out.b"].astype(float)
    sigma = mpmath.exp(mpmath.mpf(logvar) / 2)
    out = np.empty(eps.shape[:2], dtype=object)
    for k in range(eps.shape[0]):
        for i in range(eps.shape[1]):
            z = [mpmath.mpf(mean) + sigma * mpmath.mpf(float(e)) for e in eps[k, i]]
            h = [max(mpmath.mpf(0), sum(z[a] * W1[a, j] for a in range(2)) + b1[j])
                 for j in range(W1.shape[1])]
            logits = [sum(h[j] * W2[j, d] for j in range(len(h))) + b2[d] for d in range(6)]
            log_px = sum(mpmath.mpf(float(x[i, d])) * lg - mpmath.log1p(mpmath.exp(lg))
                         for d, lg in enumerate(logits))
            log_pz = sum(-(zz**2 + mpmath.log(2 * mpmath.pi)) / 2 for zz in z)
            log_qz = sum(-(mpmath.mpf(float(e)) ** 2 + mpmath.log(2 * mpmath.pi) + logvar) / 2
                         for e in eps[k, i])
            out[k, i] = log_px + log_pz - log_qz
    return out


def test_iwae_and_mc_kl_with_a_collapsed_float32_encoder(backend):
    # encoder mean 0, logvar -90 in float32: exp(90) overflows float32, the naive log q is -inf
    m = _collapsed_vae(backend, 0.0, -90.0, "float32")
    rng = np.random.default_rng(3)
    x = rng.random((3, 6)).astype(np.float32)
    eps = rng.standard_normal((4, 3, 2)).astype(np.float32)
    log_w = _by_hand_log_weights(m.get_params(), x, eps, 0.0, -90)
    want = [float(mpmath.log(sum(mpmath.exp(v) for v in log_w[:, i]) / 4)) for i in range(3)]
    got = np.asarray(m.iwae_bound(x, eps))
    np.testing.assert_allclose(got, want, rtol=1e-5)
    # Monte Carlo KL = mean over samples of log q - log p(z); true analytic KL is 89 nats
    mc = np.asarray(m.elbo(x, eps, kl="mc").kl)
    for i in range(3):
        terms = []
        for k in range(4):
            z = [mpmath.exp(mpmath.mpf(-45)) * mpmath.mpf(float(e)) for e in eps[k, i]]
            lq = sum(-(mpmath.mpf(float(e)) ** 2 + mpmath.log(2 * mpmath.pi) - 90) / 2
                     for e in eps[k, i])
            lp = sum(-(zz**2 + mpmath.log(2 * mpmath.pi)) / 2 for zz in z)
            terms.append(lq - lp)
        assert mc[i] == pytest.approx(float(sum(terms) / 4), rel=1e-5, abs=0)
    assert np.asarray(m.elbo(x, eps).kl) == pytest.approx(89.0, rel=1e-6, abs=0)


# -- item 2: ratios that overflow --------------------------------------------------------------


@pytest.mark.parametrize(
    ("var_q", "var_p"), [(1e-200, 1e200), (5e-324, 1.0), (1e200, 1e200 * (1 + 2**-40))]
)
def test_kl_normal_as_a_difference_of_logs(backend, var_q, var_p):
    vq, vp = mpmath.mpf(var_q), mpmath.mpf(var_p)
    want = float((mpmath.log(vp) - mpmath.log(vq) + vq / vp - 1) / 2)
    got = float(np.asarray(backend.kl_normal(0.0, var_q, 0.0, var_p)))
    assert got >= 0
    assert got == pytest.approx(want, rel=1e-9, abs=1e-30)
    if var_q == 1e-200:
        assert got == pytest.approx(460.0170185988091, rel=1e-14, abs=0)


def test_gaussian_entropy_of_a_huge_variance_is_finite(backend):
    want = float((mpmath.log(2 * mpmath.pi * mpmath.e) + mpmath.log(mpmath.mpf(1e308))) / 2)
    got = float(np.asarray(backend.gaussian_entropy(1e308)))
    assert got == pytest.approx(want, rel=1e-14, abs=0)


def test_normal_pdf_of_a_huge_variance_is_not_zero():
    want = float(1 / mpmath.sqrt(2 * mpmath.pi * mpmath.mpf(1e308)))
    assert float(info.normal_pdf(0.0, 0.0, 1e308)) == pytest.approx(want, rel=1e-14, abs=0)


# -- item 3: cancellation ----------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_kl_to_std_normal_near_a_collapsed_dimension(backend, dtype):
    lv = np.linspace(-3e-3, 3e-3, 2001).astype(dtype)
    got = np.asarray(backend.kl_normal_std_normal(np.zeros((lv.size, 1), dtype), lv[:, None]))
    assert got.dtype == dtype
    assert (got >= 0).all()
    want = np.array([float((mpmath.expm1(mpmath.mpf(float(v))) - mpmath.mpf(float(v))) / 2)
                     for v in lv])
    # relative accuracy: a few ulp of the dtype (float32 eps 1.2e-7, float64 2.2e-16)
    np.testing.assert_allclose(got, want, rtol=50 * np.finfo(dtype).eps, atol=1e-300)


def test_discrete_kl_of_nearly_equal_distributions_is_not_negative(backend):
    rng = np.random.default_rng(0)
    p = rng.random(50)
    p /= p.sum()
    q = p * (1 + 1e-9 * rng.standard_normal(50))
    q /= q.sum()
    # the generalised KL sum p log(p/q) - p + q: equal to the KL when p and q sum to 1, and >= 0
    # for the float arrays as given (which sum to 1 only to round-off)
    want = float(sum(mpmath.mpf(a) * (mpmath.log(mpmath.mpf(a)) - mpmath.log(mpmath.mpf(b)))
                     - mpmath.mpf(a) + mpmath.mpf(b) for a, b in zip(p, q, strict=True)))
    got = float(np.asarray(backend.kl_divergence(p, q)))
    assert got >= 0
    assert got == pytest.approx(want, abs=1e-17)  # ~1e-17: 50 terms of round-off at 1e-19
    assert float(np.asarray(backend.kl_divergence(p, p))) == 0.0
    # the scipy reference for a pair of ordinary distributions
    from scipy.stats import entropy as sp_entropy

    r = rng.random(50)
    r /= r.sum()
    want = sp_entropy(p, r)
    assert float(np.asarray(backend.kl_divergence(p, r))) == pytest.approx(want, rel=1e-12, abs=0)


# -- item 4: a failing fit leaves the model as it was --------------------------------------------


def _params_equal_bitwise(a, b):
    return all(a[k].tobytes() == b[k].tobytes() for k in a) and set(a) == set(b)


@pytest.mark.parametrize("mode", ["agree", "fast"])
def test_failed_fit_keeps_the_last_finite_parameters_bit_for_bit(backend, mode):
    x = load_digits().x_train[:256]
    kw = dict(lr=50, optimizer="sgd", batch_size=256, progress=False, mode=mode, seed=0)

    def model():
        return backend.VAE(64, (32,), 2, likelihood="gaussian", sigma=0.01, seed=1)

    m = model()
    with pytest.raises(FloatingPointError, match=r"at epoch (\d+), batch 1 of 1") as err:
        backend.fit(m, x, epochs=20, **kw)
    epoch = int(err.value.args[0].split("at epoch ")[1].split(",")[0])
    final = m.get_params()
    assert all(np.isfinite(v).all() for v in final.values())
    ref = model()
    if epoch > 1:  # the state after the last finite step: the same run, stopped before it
        backend.fit(ref, x, epochs=epoch - 1, **kw)
    elif mode == "fast":
        ref._to_dtype("float32")
    assert _params_equal_bitwise(final, ref.get_params())


def test_fast_fit_validates_before_converting_the_model(backend):
    m = backend.VAE(4, (3,), 2)
    before = m.get_params()
    with pytest.raises(ValueError, match="x_train"):
        backend.fit(m, np.full((5, 4), 2.0), epochs=1, mode="fast", progress=False)  # not in [0, 1]
    with pytest.raises(ValueError, match="x_train"):
        backend.fit(m, np.zeros((0, 4)), epochs=1, mode="fast", progress=False)
    with pytest.raises(ValueError, match="optimizer"):
        backend.fit(m, np.zeros((5, 4)), epochs=1, mode="fast", optimizer="bogus", progress=False)
    assert m.dtype == "float64" and m.config["dtype"] == "float64"
    assert _params_equal_bitwise(before, m.get_params())


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cli_device_without_cuda_creates_nothing(tmp_path):
    out = tmp_path / "run"
    from vaelearn.cli import main

    assert main(["train", "--data", "digits", "--backend", "torch", "--device", "cuda",
                 "--epochs", "1", "--out", str(out)]) == 1
    assert not out.exists()


# -- item 5: silent casts ----------------------------------------------------------------------


def test_set_params_checks_finiteness_after_the_cast(backend):
    m = backend.VAE(4, (3,), 2, dtype="float32")
    before = m.get_params()
    p = m.get_params()
    p = {k: v.astype(np.float64) for k, v in p.items()}
    p["decoder.out.b"][0] = 1e40  # finite in float64, inf in float32
    with pytest.raises(ValueError, match=r"decoder\.out\.b.*float32"):
        m.set_params(p)
    assert _params_equal_bitwise(before, m.get_params())


# -- item 6: tolerance from the dtype ------------------------------------------------------------


def test_sum_tolerance_follows_the_dtype_not_the_container(backend):
    logits = np.random.default_rng(0).standard_normal(1000).astype(np.float32)
    p32 = np.exp(logits) / np.exp(logits).sum()
    off = abs(float(p32.astype(np.float64).sum()) - 1)
    assert 1e-9 < off < 1e-5  # a float32 softmax's sum is off by more than 1e-9
    h_np = float(np.asarray(backend.entropy(p32)))
    h_t = float(np.asarray(backend.entropy(torch.from_numpy(p32))))
    from scipy.stats import entropy as sp_entropy

    assert h_np == pytest.approx(sp_entropy(p32.astype(np.float64)), rel=1e-6, abs=0)
    assert h_t == pytest.approx(h_np, rel=1e-6, abs=0)
    # the same numbers in float64 are held to the float64 tolerance, in both containers
    p64 = p32.astype(np.float64)
    with pytest.raises(ValueError, match="1e-09"):
        backend.entropy(p64)
    with pytest.raises(ValueError, match="1e-09"):
        backend.entropy(torch.from_numpy(p64))
    assert info.sum_tol(np.float32) == info.sum_tol(torch.float32) == 1e-5
    assert info.sum_tol(np.float64) == info.sum_tol(torch.float64) == 1e-9


# -- item 7: state that drifts from the config ---------------------------------------------------


def test_beta_from_a_schedule_round_trips(backend, tmp_path):
    x = load_digits().x_train[:64]
    m = backend.VAE(64, (16,), 2)
    backend.fit(m, x, epochs=1, beta_schedule=lambda e: 0.25, progress=False)
    assert m.beta == 0.25 and m.config["beta"] == 0.25 and "beta=0.25" in repr(m)
    backend.save_checkpoint(m, tmp_path / "m.npz")
    m2 = backend.load_checkpoint(tmp_path / "m.npz")
    assert m2.beta == 0.25
    eps = m.sample_eps(64, np.random.default_rng(0))
    assert m2.loss_and_grads(x, eps)[0] == m.loss_and_grads(x, eps)[0]


# -- item 8: smaller ones ----------------------------------------------------------------------


def test_numpy_vqvae_sigmoid_does_not_overflow():
    m = N.VQVAE(seed=0)
    p = m.get_params()
    p["decoder.out.b"][:] = -1000.0  # logits about -1000: exp(1000) overflows
    m.set_params(p)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        probs = m.decode(np.zeros((2, m.z_dim)))
        m.loss_and_grads(np.zeros((2, 64)))
    assert (probs >= 0).all() and probs.max() < 1e-300


def test_quantize_picks_the_nearest_of_large_close_codes(backend):
    m = backend.VQVAE(z_dim=2, n_codes=2, dtype="float32")
    p = m.get_params()
    p["codebook"] = np.array([[1000, 1000], [1000.05, 1000.05]], dtype=np.float32)
    m.set_params(p)
    _, codes = m.quantize(np.array([[1000.04, 1000.04]], dtype=np.float32))
    assert codes.tolist() == [1]  # |z - e_1| = 0.01 sqrt 2 < |z - e_0| = 0.04 sqrt 2


def test_encode_of_an_empty_message_is_empty():
    assert info.encode([], ["0", "1"]) == ""
    assert info.encode(np.array([], dtype=np.int64), ["0", "1"]) == ""


def test_huffman_bound_as_documented():
    # a point mass: H = 0 and L = 1 = H + 1 (the strict bound needs no symbol of probability 1)
    for p in ([1.0], [1.0, 0.0]):
        code = info.huffman_code(p)
        assert float(info.expected_code_length(p, code)) == 1.0
        assert float(info.entropy(p, base=2)) == 0.0
    assert "unless one symbol has probability 1" in info.huffman_code.__doc__


def test_information_functions_return_0d_arrays_for_numpy_input(backend):
    h = backend.entropy(np.array([0.5, 0.5]))
    assert type(h) is np.ndarray and h.shape == () and h.dtype == np.float64
    assert float(h) == pytest.approx(math.log(2), rel=1e-15, abs=0)
    p, q = [0.5, 0.5], [0.25, 0.75]
    for v in (backend.cross_entropy(p, q), backend.kl_divergence(p, q),
              backend.gaussian_entropy(2.0), backend.kl_normal(0.0, 2.0)):
        assert type(v) is np.ndarray and v.shape == () and v.dtype == np.float64


def test_ppca_with_fewer_rows_than_columns_raises_the_documented_error():
    x = np.random.default_rng(0).standard_normal((5, 10))  # rank 4 after centring
    with pytest.raises(ValueError, match="discarded eigenvalues are all zero"):
        ppca_fit(x, 4)
    with pytest.raises(ValueError, match="positive definite"):
        ppca_log_likelihood(x, np.ones((10, 1)) * 1e10, np.zeros(10), 1e-300)


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_load_checkpoint_without_a_gpu_blames_the_device(tmp_path):
    N.save_checkpoint(N.VAE(4, (3,), 2), tmp_path / "m.npz")
    code = (
        "import vaelearn.torch as T, sys\n"
        "try:\n    T.load_checkpoint(sys.argv[1])\n"
        "except ValueError as e:\n    print(e)\n"
    )
    env = dict(os.environ, VAELEARN_DEVICE="cuda")
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "m.npz")], env=env,
                         capture_output=True, text=True, check=True).stdout
    assert "VAELEARN_DEVICE" in out and "CUDA" in out and "does not match" not in out


def test_checkpoint_config_is_json_with_the_trained_beta(tmp_path):
    m = N.VAE(4, (3,), 2)
    m.beta = 0.5
    N.save_checkpoint(m, tmp_path / "m.npz")
    with np.load(tmp_path / "m.npz") as f:
        assert json.loads(str(f["__config__"]))["beta"] == 0.5
