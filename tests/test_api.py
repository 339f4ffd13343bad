"""The two backends expose the same public API (book/architecture.md, "The parity contract").

Every name in ``vaelearn.numpy.__all__`` and ``vaelearn.torch.__all__`` (all modules, whoever
owns them) must exist in both, with the same ``inspect.signature``; for classes, so must every
public method. Model methods take NumPy arrays and return NumPy arrays on both backends, and the
torch backend returns tensors (with the autograd graph) for tensor inputs.
"""

from __future__ import annotations

import inspect

import numpy as np
import pytest

import vaelearn

torch = pytest.importorskip("torch")

NP = vaelearn.get_backend("numpy")
TH = vaelearn.get_backend("torch")


def _signature(obj):
    try:
        return str(inspect.signature(obj))
    except (TypeError, ValueError):  # builtins, constants
        return None


def _public_methods(cls):
    return {
        name: _signature(member)
        for name, member in inspect.getmembers(cls)
        if not name.startswith("_") and callable(member)
    }


def test_same_names():
    assert sorted(NP.__all__) == sorted(TH.__all__)
    assert len(NP.__all__) == len(set(NP.__all__)), "duplicate exported names"
    for name in NP.__all__:
        assert hasattr(NP, name) and hasattr(TH, name), name


@pytest.mark.parametrize("name", sorted(set(NP.__all__) & set(TH.__all__)))
def test_same_signature(name):
    a, b = getattr(NP, name), getattr(TH, name)
    assert callable(a) == callable(b), name
    if callable(a):
        assert _signature(a) == _signature(b), name
    if inspect.isclass(a):
        assert _public_methods(a) == _public_methods(b), name


def test_core_names_exported():
    core = {
        "Linear", "ReLU", "Tanh", "Sigmoid", "Softplus", "MLP", "reparameterize",
        "kl_normal_std_normal", "log_px_given_z_bernoulli", "log_px_given_z_gaussian",
        "log_normal", "logmeanexp", "ELBOTerms", "Autoencoder", "VAE", "Adam", "SGD", "fit",
        "save_checkpoint", "load_checkpoint", "get_device",
    }
    assert core <= set(NP.__all__)


def test_parameter_keys():
    vae = NP.VAE(9, (7, 5), 2, likelihood="gaussian", sigma="learned")
    assert list(vae.params) == [
        "encoder.0.W", "encoder.0.b", "encoder.1.W", "encoder.1.b",
        "encoder.mean.W", "encoder.mean.b", "encoder.logvar.W", "encoder.logvar.b",
        "decoder.0.W", "decoder.0.b", "decoder.1.W", "decoder.1.b",
        "decoder.out.W", "decoder.out.b", "decoder.logsigma",
    ]
    assert vae.params["encoder.0.W"].shape == (9, 7)  # W is (in, out)
    assert vae.params["decoder.0.W"].shape == (2, 5)  # decoder widths are reversed
    ae = NP.Autoencoder(9, (7,), 2)
    assert list(ae.params) == ["encoder.0.W", "encoder.0.b", "encoder.out.W", "encoder.out.b",
                               "decoder.0.W", "decoder.0.b", "decoder.out.W", "decoder.out.b"]
    assert list(TH.VAE(9, (7, 5), 2, likelihood="gaussian", sigma="learned").params) == list(
        vae.params)


def test_arrays_in_arrays_out(backend):
    rng = np.random.default_rng(0)
    vae = backend.VAE(6, (5,), 2)
    x = rng.uniform(size=(3, 6))
    eps = vae.sample_eps(3, rng)
    outputs = [*vae.encode(x), vae.decode(eps), vae.reconstruct(x), vae.sample(2, rng),
               *vae.elbo(x, eps), vae.iwae_bound(x, eps[None]), eps,
               *vae.loss_and_grads(x, eps)[1].values(), *vae.get_params().values(),
               backend.kl_normal_std_normal(eps, eps), backend.reparameterize(eps, eps, eps)]
    for out in outputs:
        assert type(out) is np.ndarray and out.dtype == np.float64
    assert isinstance(vae.loss_and_grads(x, eps)[0], float)


def test_torch_tensors_in_tensors_out_with_graph():
    vae = TH.VAE(6, (5,), 2)
    x = torch.rand(3, 6, dtype=torch.float64)
    z_mean, z_logvar = vae.encode(x)
    assert isinstance(z_mean, torch.Tensor) and z_mean.requires_grad
    t = vae.elbo(x, torch.zeros(3, 2, dtype=torch.float64))
    assert isinstance(t.elbo, torch.Tensor)
    t.elbo.sum().backward()  # the graph reaches the parameters
    assert vae.params["encoder.0.W"].grad is not None
    mu = torch.zeros(2, 3, dtype=torch.float64, requires_grad=True)
    TH.kl_normal_std_normal(mu + 1, torch.zeros(2, 3, dtype=torch.float64)).sum().backward()
    np.testing.assert_allclose(mu.grad.numpy(), 1.0)  # dKL/dmu = mu
