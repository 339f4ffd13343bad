"""The fit driver's bookkeeping, shared by both backends: argument checks, the beta schedule,
non-finite errors, the progress bar and its postfix."""

from __future__ import annotations

import io
import math
import os

import numpy as np

_FIT_MODES = ("agree", "fast")


def _check_seed(seed, name="seed"):
    """An int >= 0 (NumPy's own message would not name the argument); returns it as int."""
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ValueError(f"argument {name!r} is {seed!r}; expected an int >= 0")
    return int(seed)


def _check_fit_args(model, epochs, batch_size, mode, corrupt, beta_schedule, loss_kwargs,
                    seed=0):
    """Shared by both backends' ``fit``: validate arguments, return ``(loss_kwargs, n_samples)``."""
    kind = getattr(model, "kind", None)
    if kind not in ("vae", "autoencoder"):
        raise ValueError(
            f"argument 'model' is {type(model).__name__}; expected a VAE or Autoencoder"
        )
    _check_seed(seed)
    if not isinstance(epochs, int | np.integer) or epochs < 1:
        raise ValueError(f"argument 'epochs' is {epochs!r}; expected an int >= 1")
    if not isinstance(batch_size, int | np.integer) or batch_size < 1:
        raise ValueError(f"argument 'batch_size' is {batch_size!r}; expected an int >= 1")
    if mode not in _FIT_MODES:
        raise ValueError(f"argument 'mode' is {mode!r}; expected 'agree' or 'fast'")
    if corrupt is not None and not callable(corrupt):
        raise ValueError("argument 'corrupt' must be a callable corrupt(x_batch, rng)")
    if beta_schedule is not None:
        if not callable(beta_schedule):
            raise ValueError("argument 'beta_schedule' must be a callable beta_schedule(epoch)")
        if kind != "vae":
            raise ValueError("argument 'beta_schedule' applies to a VAE only")
    loss_kwargs = dict(loss_kwargs or {})
    n_samples = loss_kwargs.pop("n_samples", None)
    allowed = {"estimator", "baseline", "objective"} if kind == "vae" else set()
    unknown = sorted(set(loss_kwargs) - allowed)
    if unknown:
        raise ValueError(
            f"argument 'loss_kwargs' has unknown keys {unknown}; a {type(model).__name__} "
            f"accepts {sorted(allowed | ({'n_samples'} if kind == 'vae' else set()))}"
        )
    if n_samples is not None and (int(n_samples) != n_samples or n_samples < 1):
        raise ValueError(f"argument 'loss_kwargs'['n_samples'] is {n_samples!r}; expected int >= 1")
    if loss_kwargs.get("objective") == "iwae" and n_samples is None:
        raise ValueError("objective='iwae' needs loss_kwargs['n_samples'] = k (importance samples)")
    return loss_kwargs, (None if n_samples is None else int(n_samples))


def _beta(beta_schedule, epoch):
    beta = float(beta_schedule(epoch))
    if not (math.isfinite(beta) and beta >= 0):
        raise ValueError(f"beta_schedule({epoch}) returned {beta!r}; expected a finite float >= 0")
    return beta


def _nonfinite_error(loss, epoch, batch, n_batches, what="the loss is"):
    return FloatingPointError(
        f"training diverged: {what} {loss} at epoch {epoch + 1}, batch {batch + 1} of "
        f"{n_batches}; the model keeps its parameters from before that step; try a smaller lr"
    )


class _Diverged(FloatingPointError):
    """A training step met a non-finite loss or left a parameter non-finite (undone)."""

    def __init__(self, value, what="the loss is"):
        self.value, self.what = value, what
        super().__init__(
            f"training diverged: {what} {value}; the model keeps its parameters from before "
            "that step; try a smaller lr"
        )


def _check_train_data(model, x_train, x_test, fast):
    """Validate the data before ``fit`` changes anything: x_train non-empty, both as the model
    checks them and, in fast mode, still finite once cast to float32. Returns the two arrays
    (in the model's current dtype; fast mode casts them after converting the model)."""
    x_train = model._check_x(x_train, "x_train")
    pairs = [("x_train", x_train)]
    if x_test is not None:
        x_test = model._check_x(x_test, "x_test")
        pairs.append(("x_test", x_test))
    for name, x in pairs:
        arr = x[0] if isinstance(x, tuple) else x  # torch's _check_x returns (tensor, tensor_in)
        if arr.shape[0] == 0:
            raise ValueError(f"argument {name!r} has no rows; fit needs at least one example")
        if fast:
            big = float(abs(arr).max())
            if big > float(np.finfo(np.float32).max):
                raise ValueError(
                    f"argument {name!r} has a value of magnitude {big:.3g}, which is inf in "
                    "float32 (mode='fast' trains in float32)"
                )
    return x_train, x_test


PROGRESS_ENV = "VAELEARN_PROGRESS"
_PROGRESS_MODES = ("auto", "text", "final", "off")


def _final_line_bar():
    """A text tqdm bar that writes one line, its final state, when it closes; nothing before."""
    from tqdm.std import tqdm

    class FinalLineBar(tqdm):
        def display(self, msg=None, pos=None):
            return True  # no redraws while training

        def close(self):
            if self.disable or getattr(self, "_final_written", False):
                return super().close()
            self._final_written = True
            line = self.__str__()  # the state a live bar shows last (smoothing=0: overall rate)
            fp, self.fp = self.fp, io.StringIO()  # tqdm's own close writes a "\r": drop it
            try:
                super().close()
            finally:
                self.fp = fp
            fp.write(line + "\n")
            fp.flush()

    return FinalLineBar


def _progress_bar(epochs, progress, name):
    """A tqdm bar over epochs, chosen by ``VAELEARN_PROGRESS``.

    - unset or ``auto``: a widget in a live notebook, a live text bar in a terminal (tqdm.auto);
    - ``text``: a live text bar on stderr, redrawn in place with carriage returns;
    - ``final``: one text line on stderr per training run, the bar's final state, written when
      training ends. ``make lessons``, nbval and ``make book`` use it: a stored or rendered
      output shows exactly that line (a widget would be stored as its first frame, and a live
      bar's every redraw becomes a separate output box in the executed book);
    - ``off``: no bar at all, whatever ``progress`` says (the classroom grader's student
      processes use it: a bar there is noise in the feedback).
    """
    mode = os.environ.get(PROGRESS_ENV, "").strip().lower() or "auto"
    if mode not in _PROGRESS_MODES:
        raise ValueError(
            f"environment variable {PROGRESS_ENV} is {mode!r}; expected one of "
            f"{', '.join(_PROGRESS_MODES)}"
        )
    kwargs = dict(desc=f"fit {name}", unit="epoch", disable=not progress or mode == "off")
    if mode == "final":
        return _final_line_bar()(range(epochs), leave=False, smoothing=0, **kwargs)
    if mode == "text":
        from tqdm.std import tqdm
    else:
        from tqdm.auto import tqdm
    return tqdm(range(epochs), leave=True, **kwargs)


def _postfix(history):
    post = {"train_loss": f"{history['train_loss'][-1]:.3f}"}
    if "test_loss" in history:
        post["test_loss"] = f"{history['test_loss'][-1]:.3f}"
    return post
