"""train_step() and fit(): minibatch training with a per-epoch history. Lessons 02-08.

``train_step(model, optimizer, x, eps)`` is the body of the training loop (loss and gradients of
one minibatch from the given noise, then one optimizer step); ``fit`` is that loop, written out
once: minibatch order and noise from one generator, ``train_step`` per minibatch, history and
progress bar per epoch.

Randomness: one ``numpy.random.default_rng(seed)`` drives everything, in this order per epoch
(agreement mode, the same in both backends):

1. ``beta = beta_schedule(epoch)`` if given (epochs counted from 0), set on the model;
2. the minibatch order, ``rng.permutation(n_train)``;
3. for every minibatch, in order: ``corrupt(x_batch, rng)`` if given, then the noise
   ``model.sample_eps(batch_size, rng, n_samples)`` (VAE only);
4. after the epoch, with ``x_test``: the test noise ``model.sample_eps(n_test, rng)`` (VAE only).

In fast mode the model is trained in float32 (a float64 model is converted in place) and the noise
is drawn directly in float32 (NumPy) or on the device (torch), so the two backends no longer agree
number for number.
"""

from __future__ import annotations

import math

import numpy as np

from ..common.fitting import (
    _beta,
    _check_fit_args,
    _check_train_data,
    _Diverged,
    _nonfinite_error,
    _postfix,
    _progress_bar,
)
from ..threads import apply_num_threads
from .models import _as_data, _as_eps
from .optim import make_optimizer

__all__ = ["train_step", "fit"]

def _all_finite(arrays):
    """True when every array is finite, in one summing pass each: a finite total of the sums
    proves it (a NaN, an inf, or infs of both signs make the total non-finite); only a total
    that overflowed is checked element by element."""
    total = 0.0
    for a in arrays:
        total += float(np.add.reduce(a, axis=None))
    if math.isfinite(total):
        return True
    return all(np.isfinite(a).all() for a in arrays)


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

    Parameters
    ----------
    model : VAE or Autoencoder
        Trained in place.
    x_train : ndarray, shape (n_train, x_dim)
    x_test : ndarray, shape (n_test, x_dim), optional
        Evaluated after every epoch.
    epochs : int
    batch_size : int, default 128
        The last minibatch of an epoch may be smaller.
    lr : float, default 1e-3
    optimizer : {"adam", "sgd"}, default "adam"
    seed : int, default 0
        Seeds the one ``numpy.random.Generator`` behind batch order and noise (see module doc).
    mode : {"agree", "fast"}, default "agree"
        ``"agree"``: the model's dtype and noise from the generator, identical in both backends.
        ``"fast"``: float32 (the model is converted), noise drawn natively.
    progress : bool, default True
        Show a tqdm bar over epochs with the current losses.
    corrupt : callable, optional
        ``corrupt(x_batch, rng) -> noisy batch``: the model sees the noisy batch and is scored
        against the clean one (denoising autoencoder, Vincent et al. 2010; denoising VAE).
    beta_schedule : callable, optional
        ``beta_schedule(epoch) -> beta`` (epochs from 0), e.g. KL annealing (Bowman et al. 2016).
    loss_kwargs : dict, optional
        Passed to ``model.loss_and_grads`` (VAE: ``estimator``, ``baseline``, ``objective``), plus
        ``n_samples``: the number of noise samples per example (``k`` for ``objective="iwae"``).
    on_epoch_end : callable, optional
        ``on_epoch_end(epoch, history)`` after every epoch (epochs from 0), with the history so
        far; it changes nothing in the training (``vaelearn bench`` times epochs with the same
        per-epoch hook).

    Returns
    -------
    dict of lists, one entry per epoch
        ``epoch``; ``train_loss`` (mean training loss over the epoch's minibatches, nats per
        example: the -ELBO-style objective for a VAE); with ``x_test``: ``test_loss`` (VAE: mean
        -ELBO, analytic KL, one noise sample). A VAE adds ``train_rec``/``train_kl`` (and
        ``test_rec``/``test_kl``): mean -log p(x|z) and KL; with a schedule, ``beta``.

    Raises
    ------
    ValueError
        Bad arguments or data (not 2-D, wrong x_dim, NaN, Bernoulli data outside [0, 1]).
    FloatingPointError
        If the loss or a gradient becomes NaN or infinite, or a step overflows a parameter; the
        message names the epoch and minibatch, and the model keeps the parameters it had after
        the last finite step (bit for bit, in both backends and both modes).
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


def train_step(model, optimizer, x, eps=None, *, x_target=None, **loss_kwargs):
    """One step of training: the loss of a minibatch and its gradients, then an optimizer step.

    The body of the loop in :func:`fit`, which runs this same step (its private ``_train_step``)
    once per minibatch::

        eps = model.sample_eps(len(x_batch), rng)          # VAE only
        loss = train_step(model, optimizer, x_batch, eps)

    Parameters
    ----------
    model : VAE or Autoencoder
        Updated in place.
    optimizer : Adam or SGD
        Built on ``model.params`` (e.g. ``Adam(model.params, lr=1e-3)``).
    x : ndarray, shape (batch_size, x_dim)
    eps : ndarray, shape (batch_size, z_dim) or (n_samples, batch_size, z_dim)
        The noise of the reparameterization step (VAE; ``None`` for an Autoencoder).
    x_target : ndarray, shape (batch_size, x_dim), optional
        What the decoder is scored against when ``x`` is corrupted (denoising); default ``x``.
    **loss_kwargs
        ``estimator``, ``baseline``, ``objective`` of ``VAE.loss_and_grads``.

    Returns
    -------
    loss : float
        The minibatch's training loss before the step (nats per example).

    Raises
    ------
    ValueError
        Bad arguments or data.
    FloatingPointError
        If the loss is not finite (no step is taken) or the step makes a parameter non-finite
        (it is undone bit for bit).
    """
    kind = getattr(model, "kind", None)
    if kind not in ("vae", "autoencoder"):
        raise ValueError(
            f"argument 'model' is {type(model).__name__}; expected a VAE or Autoencoder"
        )
    if not callable(getattr(optimizer, "step", None)):
        raise ValueError(
            f"argument 'optimizer' is {type(optimizer).__name__}; expected an optimizer with a "
            "step(grads) method (Adam or SGD)"
        )
    x = _as_data(x, model.x_dim, model.dtype)
    if x_target is not None:
        x_target = model._check_x(x_target, "x_target")
        if x_target.shape != x.shape:
            raise ValueError(
                f"argument 'x_target' has shape {x_target.shape}; expected {x.shape}"
            )
    else:
        x = model._check_x(x)
    if kind == "vae":
        if eps is None:
            raise ValueError("argument 'eps' is None; a VAE needs noise, model.sample_eps(n, rng)")
        eps = _as_eps(eps, x.shape[0], model.z_dim, model.dtype)
        unknown = sorted(set(loss_kwargs) - {"estimator", "baseline", "objective"})
    else:
        if eps is not None:
            raise ValueError("argument 'eps' must be None for an Autoencoder (it has no noise)")
        unknown = sorted(loss_kwargs)
    if unknown:
        raise ValueError(f"unknown keyword arguments {unknown} for a {type(model).__name__}")
    try:
        # overflow is reported as the FloatingPointError below, not as RuntimeWarnings
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            loss, _ = _train_step(model, optimizer, x, eps, x_target, loss_kwargs)
    except _Diverged as exc:
        raise FloatingPointError(str(exc)) from None
    return loss


def _train_step(model, optimizer, x, eps, x_target, loss_kwargs):
    """:func:`train_step` on checked arrays; returns ``(loss, terms)``, raises ``_Diverged``."""
    if model.kind == "vae":
        loss, grads, terms = model._loss_and_grads(x, eps, x_target=x_target, **loss_kwargs)
    else:
        loss, grads, terms = model._loss_and_grads(x, x if x_target is None else x_target)
    # nothing non-finite may stay in the parameters: a non-finite loss stops before the step; a
    # step that made a parameter non-finite (a NaN or inf gradient always does, through SGD or
    # Adam) is undone bit for bit
    if not math.isfinite(loss):
        raise _Diverged(loss)
    saved = _undo_buffer(optimizer, model.params)
    for k, v in model.params.items():
        np.copyto(saved[k], v)
    optimizer.step(grads)
    if not _all_finite(model.params.values()):
        bad = next(k for k, v in model.params.items() if not np.isfinite(v).all())
        for k, v in model.params.items():
            np.copyto(v, saved[k])
        raise _Diverged(
            f"non-finite in {bad!r}", what="the gradient or the step left the parameter"
        )
    return loss, terms


def _undo_buffer(optimizer, params):
    """Arrays to hold the parameters before a step, kept on the optimizer between steps."""
    saved = getattr(optimizer, "_undo", None)
    if saved is None or saved.keys() != params.keys() or any(
        saved[k].shape != v.shape or saved[k].dtype != v.dtype for k, v in params.items()
    ):
        saved = {k: np.empty_like(v) for k, v in params.items()}
        optimizer._undo = saved
    return saved


def _fit_epochs(
    model, x_train, x_test=None, *, epochs, batch_size=128, lr=1e-3, optimizer="adam", seed=0,
    mode="agree", progress=True, corrupt=None, beta_schedule=None, loss_kwargs=None,
):
    """:func:`fit` as a generator: yields ``None`` once the set-up is done, then
    ``(epoch, history)`` after every epoch (``vaelearn bench`` interleaves runs with it)."""
    loss_kwargs, n_samples = _check_fit_args(
        model, epochs, batch_size, mode, corrupt, beta_schedule, loss_kwargs, seed
    )
    # everything is validated before the model is touched (fast mode converts it to float32)
    x_train, x_test = _check_train_data(model, x_train, x_test, mode == "fast")
    make_optimizer(optimizer, {"w": np.zeros(1)}, lr=lr)  # checks name and lr, changes nothing
    apply_num_threads()  # one thread unless VAELEARN_NUM_THREADS says otherwise
    if mode == "fast":
        model._to_dtype("float32")
        x_train = x_train.astype(np.float32)
        x_test = None if x_test is None else x_test.astype(np.float32)
    is_vae = model.kind == "vae"
    opt = make_optimizer(optimizer, model.params, lr=lr)
    rng = np.random.default_rng(seed)
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
    draw_dtype = np.float32 if mode == "fast" else np.float64

    def draw_eps(size, k=None):
        shape = (size, model.z_dim) if k is None else (k, size, model.z_dim)
        return rng.standard_normal(shape, dtype=draw_dtype).astype(model.dtype, copy=False)

    bar = _progress_bar(epochs, progress, type(model).__name__)
    yield None
    # overflow shows up as a non-finite loss, reported below as a FloatingPointError that names
    # the epoch and minibatch; NumPy's own RuntimeWarnings would only add noise before it
    errstate = np.errstate(over="ignore", invalid="ignore", divide="ignore")
    try:
        errstate.__enter__()
        for epoch in bar:
            if beta_schedule is not None:
                model.beta = _beta(beta_schedule, epoch)
                history["beta"].append(model.beta)
            perm = rng.permutation(n)
            total = rec_total = kl_total = 0.0
            for b in range(n_batches):
                xb = x_train[perm[b * batch_size : (b + 1) * batch_size]]
                nb = xb.shape[0]
                x_in, target = xb, None
                if corrupt is not None:
                    x_in = _as_data(corrupt(xb, rng), model.x_dim, model.dtype, "corrupt(x, rng)")
                    target = xb
                eps = draw_eps(nb, n_samples) if is_vae else None
                try:
                    loss, terms = _train_step(model, opt, x_in, eps, target, loss_kwargs)
                except _Diverged as exc:
                    raise _nonfinite_error(exc.value, epoch, b, n_batches, what=exc.what) from None
                total += loss * nb
                if is_vae:
                    rec_total += float(terms["rec"]) * nb
                    kl_total += float(terms["kl"]) * nb
            history["epoch"].append(epoch + 1)
            history["train_loss"].append(total / n)
            if is_vae:
                history["train_rec"].append(rec_total / n)
                history["train_kl"].append(kl_total / n)
            if x_test is not None:
                if is_vae:
                    t = model._elbo(x_test, draw_eps(x_test.shape[0]))
                    history["test_loss"].append(-float(t.elbo.mean()))
                    history["test_rec"].append(-float(t.log_px_given_z.mean()))
                    history["test_kl"].append(float(t.kl.mean()))
                else:
                    history["test_loss"].append(float(model.loss(x_test).mean()))
            bar.set_postfix(_postfix(history))
            yield epoch, history
    finally:
        errstate.__exit__(None, None, None)
        bar.close()
