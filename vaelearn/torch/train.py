"""train_step() and fit() on torch: the same signatures, history and (in agreement mode) the same
numbers as :func:`vaelearn.numpy.train_step` and :func:`vaelearn.numpy.fit`. Lessons 02-08.

Agreement mode draws the minibatch order and the noise from ``numpy.random.default_rng(seed)`` in
the order documented in :mod:`vaelearn.numpy.train`. Fast mode trains in float32 (a float64 model
is converted in place), keeps the data on the device, takes the minibatch order from the NumPy
generator and draws the noise on the device with a ``torch.Generator`` seeded from it
(``rng.integers(2**63)``, drawn once before the first epoch). Losses are accumulated on the device
and read once per epoch.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from vaelearn.threads import apply_num_threads

from ..common.fitting import (
    _beta,
    _check_fit_args,
    _check_train_data,
    _Diverged,
    _nonfinite_error,
    _postfix,
    _progress_bar,
)
from .optim import make_optimizer

__all__ = ["train_step", "fit"]


def fit(
    model,
    x_train,
    x_test=None,
    *,
    epochs,
    batch_size=128,
    lr=1e-3,
    optimizer="adam",
    seed=0,
    mode="agree",
    progress=True,
    corrupt=None,
    beta_schedule=None,
    loss_kwargs=None,
    on_epoch_end=None,
):
    """Train ``model`` by minibatch gradient descent; return the per-epoch history.

    The arguments, history keys and errors are those of :func:`vaelearn.numpy.fit` (read its
    docstring); in agreement mode the histories agree to ~1e-10 in float64.
    """
    if on_epoch_end is not None and not callable(on_epoch_end):
        raise ValueError("argument 'on_epoch_end' must be a callable on_epoch_end(epoch, history)")
    epochs_run = _fit_epochs(
        model, x_train, x_test, epochs=epochs, batch_size=batch_size, lr=lr, optimizer=optimizer,
        seed=seed, mode=mode, progress=progress, corrupt=corrupt, beta_schedule=beta_schedule,
        loss_kwargs=loss_kwargs,
    )
    next(epochs_run)  # the set-up: arguments checked, model converted in fast mode
    history = None
    for epoch, history in epochs_run:
        if on_epoch_end is not None:
            on_epoch_end(epoch, history)
    return history


class _Stepper:
    """The optimizer step of :func:`train_step`, guarded: it is taken unless it would make
    anything non-finite. ``alive`` is a device flag (no host sync): once a step fails, every later
    step is undone too, so the model stays at its last finite state."""

    def __init__(self, optimizer):
        self.topt = optimizer._opt
        self.params = list(optimizer.params.values())
        self.saved = [torch.empty_like(p) for p in self.params]
        self.alive = torch.ones((), dtype=torch.bool, device=self.params[0].device)

    def __call__(self, loss, value):
        """Backward of ``loss``, then the step; returns the device flag 'this step was finite'."""
        self.topt.zero_grad(set_to_none=True)
        loss.backward()
        with torch.no_grad():
            ok = torch.isfinite(value)
            for p in self.params:
                if p.grad is not None:
                    ok = ok & torch.isfinite(p.grad).all()
            for p, s in zip(self.params, self.saved, strict=True):
                s.copy_(p)
            self.topt.step()
            for p in self.params:
                ok = ok & torch.isfinite(p).all()
            self.alive = self.alive & ok
            for p, s in zip(self.params, self.saved, strict=True):
                p.copy_(torch.where(self.alive, p, s))
        return ok


def _train_step_t(model, stepper, x, eps, x_target, loss_kwargs, check=True):
    """:func:`train_step` on tensors: returns ``(value, terms, ok)`` as device tensors. With
    ``check`` a non-finite loss raises ``_Diverged`` before the step (one host sync)."""
    if model.kind == "vae":
        loss, terms = model._loss_t(x, eps, x_target=x_target, **loss_kwargs)
        value = terms["value"]
    else:
        loss, terms = model._loss_t(x, x if x_target is None else x_target)
        value = loss.detach()
    if check and not math.isfinite(float(value)):
        raise _Diverged(float(value))
    ok = stepper(loss, value.detach())
    return value, terms, ok


def train_step(model, optimizer, x, eps=None, *, x_target=None, **loss_kwargs):
    """One step of training: minibatch loss, gradients by autograd, one optimizer step.

    Same arguments, result and errors as :func:`vaelearn.numpy.train_step` (read its docstring).
    """
    kind = getattr(model, "kind", None)
    if kind not in ("vae", "autoencoder"):
        raise ValueError(
            f"argument 'model' is {type(model).__name__}; expected a VAE or Autoencoder"
        )
    if not isinstance(getattr(optimizer, "_opt", None), torch.optim.Optimizer):
        raise ValueError(
            f"argument 'optimizer' is {type(optimizer).__name__}; expected a vaelearn.torch "
            "optimizer (Adam or SGD)"
        )
    if x_target is not None:
        x, target, _ = model._targets(x, x_target)
    else:
        x, _ = model._check_x(x)
        target = None
    if kind == "vae":
        if eps is None:
            raise ValueError("argument 'eps' is None; a VAE needs noise, model.sample_eps(n, rng)")
        eps = model._eps_tensor(eps, x.shape[0])
        unknown = sorted(set(loss_kwargs) - {"estimator", "baseline", "objective"})
    else:
        if eps is not None:
            raise ValueError("argument 'eps' must be None for an Autoencoder (it has no noise)")
        unknown = sorted(loss_kwargs)
    if unknown:
        raise ValueError(f"unknown keyword arguments {unknown} for a {type(model).__name__}")
    stepper = getattr(optimizer, "_stepper", None)
    if stepper is None:
        stepper = optimizer._stepper = _Stepper(optimizer)
    stepper.alive.fill_(True)
    try:
        value, _, ok = _train_step_t(model, stepper, x, eps, target, loss_kwargs)
    except _Diverged as exc:
        raise FloatingPointError(str(exc)) from None
    if not bool(ok):
        raise FloatingPointError(
            str(_Diverged("non-finite", what="the gradient or the step left a parameter"))
        )
    return float(value)


def _fit_epochs(
    model, x_train, x_test=None, *, epochs, batch_size=128, lr=1e-3, optimizer="adam", seed=0,
    mode="agree", progress=True, corrupt=None, beta_schedule=None, loss_kwargs=None,
):
    """:func:`fit` as a generator: yields ``None`` once the set-up is done, then
    ``(epoch, history)`` after every epoch (``vaelearn bench`` interleaves runs with it)."""
    loss_kwargs, n_samples = _check_fit_args(
        model, epochs, batch_size, mode, corrupt, beta_schedule, loss_kwargs, seed
    )
    apply_num_threads()  # one thread unless VAELEARN_NUM_THREADS says otherwise
    fast = mode == "fast"
    # everything is validated before the model is touched (fast mode converts it to float32)
    x_train, x_test = _check_train_data(model, x_train, x_test, fast)
    x_train = x_train[0]
    x_test = None if x_test is None else x_test[0]
    make_optimizer(optimizer, {"w": torch.zeros(1)}, lr=lr)  # checks name and lr only
    if fast:
        model._to_dtype("float32")
        x_train = x_train.to(model._tdtype)
        x_test = None if x_test is None else x_test.to(model._tdtype)
    is_vae = model.kind == "vae"
    if "baseline" in loss_kwargs and loss_kwargs["baseline"] is not None:
        b = loss_kwargs["baseline"]
        loss_kwargs["baseline"] = (
            b.to(device=model.device, dtype=model._tdtype)
            if isinstance(b, torch.Tensor)
            else torch.as_tensor(np.asarray(b, dtype=model.dtype), device=model.device)
        )
    opt = make_optimizer(optimizer, model.params, lr=lr)
    rng = np.random.default_rng(seed)
    device, tdtype = model.device, model._tdtype
    gen = None
    if fast and is_vae:
        gen = torch.Generator(device=device)
        gen.manual_seed(int(rng.integers(2**63)))
    x_cpu = None
    if corrupt is not None:
        x_cpu = x_train.detach().cpu().numpy()
    n = x_train.shape[0]
    n_batches = -(-n // batch_size)
    history = {"epoch": [], "train_loss": []}
    if is_vae:
        history.update(train_rec=[], train_kl=[])
    if x_test is not None:
        history["test_loss"] = []
        if is_vae:
            history.update(test_rec=[], test_kl=[])
    if beta_schedule is not None:
        history["beta"] = []

    def draw_eps(size, k=None):
        shape = (size, model.z_dim) if k is None else (k, size, model.z_dim)
        if fast:
            return torch.randn(shape, generator=gen, device=device, dtype=tdtype)
        return torch.as_tensor(rng.standard_normal(shape).astype(model.dtype), device=device)

    stepper = _Stepper(opt)

    bar = _progress_bar(epochs, progress, type(model).__name__)
    yield None
    try:
        for epoch in bar:
            if beta_schedule is not None:
                model.beta = _beta(beta_schedule, epoch)
                history["beta"].append(model.beta)
            perm_np = rng.permutation(n)
            perm = torch.as_tensor(perm_np, device=device)
            losses, recs, kls, sizes, oks = [], [], [], [], []
            for b in range(n_batches):
                idx = perm[b * batch_size : (b + 1) * batch_size]
                xb = x_train.index_select(0, idx)
                nb = xb.shape[0]
                x_in, target = xb, None
                if corrupt is not None:
                    noisy = corrupt(x_cpu[perm_np[b * batch_size : (b + 1) * batch_size]], rng)
                    x_in, _ = model._tensor(noisy, model.x_dim, "corrupt(x, rng)")
                    target = xb
                eps = draw_eps(nb, n_samples) if is_vae else None
                try:
                    value, terms, ok = _train_step_t(
                        model, stepper, x_in, eps, target, loss_kwargs, check=not fast
                    )
                except _Diverged as exc:
                    raise _nonfinite_error(exc.value, epoch, b, n_batches) from None
                if is_vae:
                    recs.append(terms["rec"])
                    kls.append(terms["kl"])
                losses.append(value)
                sizes.append(nb)
                oks.append(ok)
                if not fast and not bool(ok):
                    raise _nonfinite_error("non-finite", epoch, b, n_batches,
                                           what="the gradient or the step is")
            batch_losses = torch.stack(losses).tolist()
            batch_oks = torch.stack(oks).tolist()
            for b, (v, good) in enumerate(zip(batch_losses, batch_oks, strict=True)):
                if not math.isfinite(v):
                    raise _nonfinite_error(v, epoch, b, n_batches)
                if not good:
                    raise _nonfinite_error("non-finite", epoch, b, n_batches,
                                           what="the gradient or the step is")
            w = np.asarray(sizes, dtype=np.float64)
            history["epoch"].append(epoch + 1)
            total = 0.0
            for v, nb in zip(batch_losses, sizes, strict=True):  # summed as the NumPy twin does
                total += v * nb
            history["train_loss"].append(total / n)
            if is_vae:
                history["train_rec"].append(float(np.dot(torch.stack(recs).tolist(), w)) / n)
                history["train_kl"].append(float(np.dot(torch.stack(kls).tolist(), w)) / n)
            if x_test is not None:
                with torch.no_grad():
                    if is_vae:
                        t = model._elbo_t(x_test, draw_eps(x_test.shape[0]))
                        history["test_loss"].append(-float(t.elbo.mean()))
                        history["test_rec"].append(-float(t.log_px_given_z.mean()))
                        history["test_kl"].append(float(t.kl.mean()))
                    else:
                        history["test_loss"].append(
                            float(model._per_example_t(x_test, x_test).mean())
                        )
            bar.set_postfix(_postfix(history))
            yield epoch, history
    finally:
        bar.close()
