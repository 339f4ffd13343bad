"""VQ-VAE (lesson 08): hand-written NumPy backward vs finite differences.

NumPy vs torch (loss, gradients, codes, training, checkpoints): tests/test_parity.py.
"""

import numpy as np
import pytest

from vaelearn.data import load_digits
from vaelearn.numpy import vq as npvq

H = 1e-6  # central differences: truncation ~h^2, round-off ~1e-16/h, so errors ~1e-8


@pytest.fixture(scope="module")
def setup():
    x = load_digits().x_train[:12]
    model = npvq.VQVAE(x_dim=64, hidden_dims=(8,), z_dim=3, n_codes=5, seed=1)
    return model, x


def _fd(f, a, idx):
    old = a[idx]
    a[idx] = old + H
    up = f()
    a[idx] = old - H
    down = f()
    a[idx] = old
    return (up - down) / (2 * H)


def _sample_indices(shape, rng, k=6):
    return [tuple(int(rng.integers(s)) for s in shape) for _ in range(k)]


def test_decoder_and_codebook_grads_match_finite_differences(setup):
    # The codes are piecewise constant in the parameters; away from ties a small step does not
    # change them. Decoder weights: the gradient is the exact derivative of the loss. Codebook:
    # stop-gradients route only the codebook term ||sg[z_e] - e_k||^2 to e_k (the decoder's
    # gradient goes to the encoder instead), so it is the derivative of that term alone.
    model, x = setup
    _, grads = model.loss_and_grads(x)
    rng = np.random.default_rng(0)
    for key in [k for k in model.params if k.startswith("decoder")]:
        for idx in _sample_indices(model.params[key].shape, rng):
            num = _fd(lambda: model.loss_and_grads(x)[0], model.params[key], idx)
            assert grads[key][idx] == pytest.approx(num, abs=1e-6), (key, idx)
    used = np.unique(model.quantize(model.encode(x))[1])
    for k in range(model.n_codes):
        for j in range(model.z_dim):
            num = _fd(lambda: model.loss_terms(x)["codebook"].mean(), model.params["codebook"],
                      (k, j))
            assert grads["codebook"][k, j] == pytest.approx(num, abs=1e-6), (k, j)
            if k not in used:
                assert grads["codebook"][k, j] == 0.0  # unused codes get no gradient at all


def test_encoder_grads_are_the_straight_through_surrogate(setup):
    # The true derivative of the loss with respect to an encoder weight is only the commitment
    # term's (z_q does not move). Straight-through instead differentiates the surrogate
    # rec(decoder(z_e + c)) + beta ||z_e - e_k||^2 with c = z_q - z_e frozen at the current point.
    model, x = setup
    _, grads = model.loss_and_grads(x)
    z_e0 = model.encode(x)
    z_q0, codes = model.quantize(z_e0)
    offset = z_q0 - z_e0

    def surrogate():
        z_e = model.encode(x)
        logits = model._dec(z_e + offset)
        rec = (np.logaddexp(0, logits) - x * logits).sum(1)
        commit = model.commitment * ((z_e - z_q0) ** 2).sum(1)
        return float((rec + commit).mean())

    rng = np.random.default_rng(1)
    for key in [k for k in model.params if k.startswith("encoder")]:
        for idx in _sample_indices(model.params[key].shape, rng):
            num = _fd(surrogate, model.params[key], idx)
            assert grads[key][idx] == pytest.approx(num, abs=1e-6), (key, idx)
    # and the straight-through gradient is not the true one (which ignores the decoder)
    true_num = _fd(lambda: model.loss_and_grads(x)[0], model.params["encoder.out.W"], (0, 0))
    assert abs(true_num - grads["encoder.out.W"][0, 0]) > 1e-4


def test_perplexity_oracles():
    assert npvq.codebook_perplexity([5, 0, 0]) == pytest.approx(1.0)
    assert npvq.codebook_perplexity([3, 3, 3, 3]) == pytest.approx(4.0)
    with pytest.raises(ValueError, match="'counts'"):
        npvq.codebook_perplexity([0, 0])


def test_bad_input_raises():
    with pytest.raises(ValueError, match="'n_codes'"):
        npvq.VQVAE(n_codes=0)
    m = npvq.VQVAE()
    with pytest.raises(ValueError, match="'x'"):
        m.loss_and_grads(np.full((2, 64), np.nan))
    with pytest.raises(ValueError, match="'x'"):
        m.encode(np.zeros((2, 63)))
