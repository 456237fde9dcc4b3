"""What a training run records: every iteration and every epoch.

    >>> from course_utils import load_dataset, train
    >>> data = load_dataset("mnist1d")
    >>> model = torch.nn.Sequential(torch.nn.Linear(40, 100), torch.nn.ReLU(), torch.nn.Linear(100, 10))
    >>> history = train(model, data, epochs=3, batch_size=64, lr=0.1, progress=False)
    >>> len(history.loss) == 3 * history.iterations_per_epoch           # one loss per iteration
    True
    >>> history.plot(x="epoch")                                          # doctest: +SKIP

``train`` fills a History with ``record`` (after every iteration) and ``end_epoch`` (after every
epoch); ``trim`` keeps it consistent when a run is stopped half-way.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field, fields

import matplotlib.pyplot as plt
import numpy as np
import torch

from .checks import check_choice
from .plots import COLORS, mark_epochs

X_AXES = ("iteration", "epoch", "time", "samples")
PER_ITERATION = ("lr", "batch_size", "epoch", "time")          # ``loss`` is appended last
PER_EPOCH = ("val_loss", "val_accuracy", "train_loss", "train_accuracy")  # ``epoch_loss`` is appended last
FLUSH_SECONDS = 0.5


def stays_on_device(loss: torch.Tensor | float) -> bool:
    """True for a loss on a GPU: reading it would make the CPU wait, so History keeps it there a while."""
    return isinstance(loss, torch.Tensor) and loss.device.type != "cpu"


@dataclass
class History:
    """Per-iteration and per-epoch records of one training run.

    Per iteration (one entry per parameter update): ``loss`` (the batch's mean loss), ``lr``,
    ``batch_size`` (the real size of that batch: the last one can be smaller), ``epoch`` (1, 2, ...),
    ``time`` (seconds since training started).

    Per epoch: ``epoch_loss`` — the mean loss over the epoch's samples *while the model was changing*
    (weighted by batch size, not a mean of batch means); ``train_loss`` / ``train_accuracy`` — the loss
    of the *end-of-epoch* model on the whole training set (only with ``train(..., eval_train=True)``);
    ``val_loss`` / ``val_accuracy`` on the held-out data given as ``val_data``, which ``val_name`` names
    ("test" for ``data.test``, "validation" for another pair).

    ``epoch_iterations`` is the number of iterations each epoch has; ``interrupted`` / ``diverged`` say
    how the run ended.
    """

    epoch_iterations: list[int] = field(default_factory=list)
    loss: list[float] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    batch_size: list[int] = field(default_factory=list)
    epoch: list[int] = field(default_factory=list)
    time: list[float] = field(default_factory=list)
    epoch_loss: list[float] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    train_accuracy: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    val_accuracy: list[float] = field(default_factory=list)
    val_name: str = "validation"
    interrupted: bool = False
    diverged: bool = False

    def __post_init__(self) -> None:
        self._pending: list[torch.Tensor] = []   # GPU losses not yet copied to the host
        self._last_flush = time.perf_counter()

    # ---- what was recorded -------------------------------------------------------------------------
    @property
    def iterations(self) -> int:
        """Number of iterations (parameter updates) recorded."""
        return len(self.loss) + len(self._pending)

    @property
    def epochs(self) -> int:
        """Number of completed epochs."""
        return len(self.epoch_loss)

    @property
    def iterations_per_epoch(self) -> int | None:
        """Iterations in one epoch (⌈N/B⌉, or ⌊N/B⌋ with drop_last); None when it changes from epoch to
        epoch (a batch size that grows): then read ``epoch_iterations``."""
        sizes = set(self.epoch_iterations)
        return sizes.pop() if len(sizes) == 1 else (0 if not sizes else None)

    @property
    def samples_seen(self) -> int:
        return int(sum(self.batch_size))

    # ---- recording (called by train) -----------------------------------------------------------------
    def record(self, loss: torch.Tensor | float, *, lr: float, batch_size: int, epoch: int, seconds: float) -> None:
        """Add one iteration. A loss on a GPU is kept there and copied in bulk every 0.5 s (``flush``):
        reading it every iteration would make the CPU wait for the GPU each time."""
        self.lr.append(lr)
        self.batch_size.append(batch_size)
        self.epoch.append(epoch)
        self.time.append(seconds)
        if stays_on_device(loss):
            self._pending.append(loss)
            if time.perf_counter() - self._last_flush > FLUSH_SECONDS:
                self.flush()
            return
        self._add_losses([float(loss)])

    def flush(self) -> None:
        """Copy the losses waiting on the GPU into ``loss`` (and notice a NaN among them)."""
        self._last_flush = time.perf_counter()
        if self._pending:
            values = torch.stack(self._pending).tolist()
            self._pending = []
            self._add_losses(values)

    def _add_losses(self, values: list[float]) -> None:
        for value in values:
            self.loss.append(value)
            if not math.isfinite(value):  # keep the first bad value, forget the updates after it
                self.diverged = True
                self._pending = []
                self._cut_iterations(len(self.loss))
                return

    def _cut_iterations(self, n: int) -> None:
        for name in ("loss", *PER_ITERATION):
            del getattr(self, name)[n:]

    def end_epoch(self, epoch_loss: float, *, val: dict | None = None, train: dict | None = None) -> None:
        """Add one epoch: ``val`` and ``train`` are ``evaluate`` results (or None)."""
        for prefix, result in (("val", val), ("train", train)):
            if result is not None:
                getattr(self, f"{prefix}_loss").append(result["loss"])
                if result["accuracy"] is not None:
                    getattr(self, f"{prefix}_accuracy").append(result["accuracy"])
        self.epoch_loss.append(epoch_loss)  # last: an epoch counts once all its records are in

    def trim(self) -> None:
        """After a stop: keep whole iterations and whole epochs only, every list aligned."""
        self.flush()
        self._cut_iterations(len(self.loss))
        for name in PER_EPOCH:
            del getattr(self, name)[self.epochs:]

    # ---- saving and plotting -------------------------------------------------------------------------
    def to_dict(self) -> dict:
        """Plain lists and numbers (for checkpoints and saving)."""
        self.flush()
        return {f.name: (list(v) if isinstance(v := getattr(self, f.name), list) else v) for f in fields(self)}

    @classmethod
    def from_dict(cls, state: dict) -> "History":
        return cls(**state)

    def _positions(self, x: str) -> tuple[np.ndarray, list[float], list[float], str]:
        """x positions of iterations, of epoch ends, and of epoch boundaries, with an axis label."""
        self.flush()
        n = len(self.loss)
        ends = np.cumsum([self.epoch.count(e) for e in range(1, self.epochs + 1)]).astype(int)
        partial = n > (ends[-1] if len(ends) else 0)  # a started epoch that did not finish
        if x == "iteration":
            pos = np.arange(1, n + 1, dtype=float)
            at_end = [float(i) for i in ends]
            label = "iteration (parameter update)"
        elif x == "samples":
            pos = np.cumsum(self.batch_size, dtype=float)
            at_end = [float(pos[i - 1]) for i in ends]
            label = "training samples seen"
        elif x == "time":
            pos = np.asarray(self.time, dtype=float)
            at_end = [float(pos[i - 1]) for i in ends]
            label = "seconds of training"
        else:  # epoch: iteration k of epoch e sits at e - 1 + k / (iterations epoch e has)
            pos = np.empty(n)
            start = 0
            for e in range(1, max(self.epoch, default=0) + 1):
                count = self.epoch.count(e)
                planned = self.epoch_iterations[e - 1] if e <= len(self.epoch_iterations) else count
                pos[start:start + count] = e - 1 + np.arange(1, count + 1) / max(planned, count, 1)
                start += count
            at_end = [float(e) for e in range(1, self.epochs + 1)]
            label = "epoch"
        return pos, at_end, at_end if partial else at_end[:-1], label

    def plot(self, x: str = "iteration", ax: plt.Axes | None = None, smooth: int = 0) -> plt.Axes:
        """Loss per iteration (thin), loss per epoch (dots), held-out loss, epoch boundaries dotted.

        ``x`` is "iteration", "epoch", "time" or "samples". ``smooth`` > 1 adds a running mean over that
        many iterations (it lags behind the loss: use it to see a trend, not to compare runs). An epoch
        stopped half-way is drawn as far as it got. Returns the Axes (``history.plot(); plt.show()``).
        """
        check_choice("x", x, X_AXES)
        if self.iterations == 0:
            raise ValueError("this History has no iterations to plot (epochs=0, or stopped before the first)")
        ax = ax or plt.subplots()[1]
        pos, at_end, boundaries, label = self._positions(x)
        ax.plot(pos, self.loss, color=COLORS["sky"], linewidth=1, alpha=0.8, label="loss per iteration (one batch)")
        if smooth > 1 and self.iterations >= smooth:
            kernel = np.ones(smooth) / smooth
            ax.plot(pos[smooth - 1:], np.convolve(self.loss, kernel, mode="valid"), color=COLORS["blue"],
                    label=f"running mean of {smooth} iterations")
        if self.epoch_loss:
            ax.plot(at_end, self.epoch_loss, "o-", color=COLORS["orange"],
                    label="training loss per epoch (mean during the epoch)")
        if self.train_loss:
            ax.plot(at_end[:len(self.train_loss)], self.train_loss, "D-", color=COLORS["green"],
                    label="training loss of the end-of-epoch model")
        if self.val_loss:
            ax.plot(at_end[:len(self.val_loss)], self.val_loss, "s--", color=COLORS["vermillion"],
                    label=f"{self.val_name} loss per epoch")
        mark_epochs(ax, boundaries)
        ax.set_xlabel(label)
        ax.set_ylabel("loss")
        ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1))   # beside the axes: it never hides the curves
        return ax

    def __repr__(self) -> str:
        ending = " (interrupted)" if self.interrupted else " (diverged)" if self.diverged else ""
        last = f", last epoch loss {self.epoch_loss[-1]:.4f}" if self.epoch_loss else ""
        per = self.iterations_per_epoch
        per_text = (f"{per} per epoch" if per is not None
                    else f"{min(self.epoch_iterations)} to {max(self.epoch_iterations)} per epoch")
        return f"History({self.epochs} epochs, {self.iterations} iterations of {per_text}{last}{ending})"
