"""fit() on torch: the same signature, history and (in agreement mode) the same numbers as
:func:`vaelearn.numpy.fit`. Lessons 02-08.

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

from vaelearn.numpy.optim import make_optimizer as _np_make_optimizer
from vaelearn.numpy.train import (
    _beta,
    _check_fit_args,
    _check_train_data,
    _nonfinite_error,
    _postfix,
    _progress_bar,
)
from vaelearn.threads import apply_num_threads

from .optim import make_optimizer

__all__ = ["fit"]


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
):
    """Train ``model`` by minibatch gradient descent; return the per-epoch history.

    The arguments, history keys and errors are those of :func:`vaelearn.numpy.fit` (read its
    docstring); in agreement mode the histories agree to ~1e-10 in float64.
    """
    loss_kwargs, n_samples = _check_fit_args(
        model, epochs, batch_size, mode, corrupt, beta_schedule, loss_kwargs, seed
    )
    apply_num_threads()  # one thread unless VAELEARN_NUM_THREADS says otherwise
    fast = mode == "fast"
    # everything is validated before the model is touched (fast mode converts it to float32)
    x_train, x_test = _check_train_data(model, x_train, x_test, fast)
    x_train = x_train[0]
    x_test = None if x_test is None else x_test[0]
    _np_make_optimizer(optimizer, {"w": np.zeros(1)}, lr=lr)  # checks name and lr only
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
    topt = opt._opt
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

    params = list(model.params.values())
    # the parameters before the step being taken, and whether every step so far was finite (a
    # device flag: fast mode reads it once per epoch, agreement mode after every step). Once a
    # step fails, every later step is undone too, so the model stays at its last finite state.
    saved = [torch.empty_like(p) for p in params]
    alive = torch.ones((), dtype=torch.bool, device=device)

    def guarded_step(value):
        """Take the optimizer step unless it would make anything non-finite; return ok flag."""
        nonlocal alive
        with torch.no_grad():
            ok = torch.isfinite(value)
            for p in params:
                if p.grad is not None:
                    ok = ok & torch.isfinite(p.grad).all()
            for p, s in zip(params, saved, strict=True):
                s.copy_(p)
            topt.step()
            for p in params:
                ok = ok & torch.isfinite(p).all()
            alive = alive & ok
            for p, s in zip(params, saved, strict=True):
                p.copy_(torch.where(alive, p, s))
        return ok

    bar = _progress_bar(epochs, progress, type(model).__name__)
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
                if is_vae:
                    eps = draw_eps(nb, n_samples)
                    loss, terms = model._loss_t(x_in, eps, x_target=target, **loss_kwargs)
                    recs.append(terms["rec"])
                    kls.append(terms["kl"])
                    value = terms["value"]
                else:
                    loss, _ = model._loss_t(x_in, xb if target is None else target)
                    value = loss.detach()
                if not fast and not math.isfinite(float(value)):
                    raise _nonfinite_error(float(value), epoch, b, n_batches)
                topt.zero_grad(set_to_none=True)
                loss.backward()
                ok = guarded_step(value.detach())
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
            history["train_loss"].append(float(np.dot(batch_losses, w)) / n)
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
    finally:
        bar.close()
    return history
