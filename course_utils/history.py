"""What a training run records: every iteration and every epoch.

    >>> history = train(model, data, epochs=3, batch_size=64, lr=0.1)   # doctest: +SKIP
    >>> len(history.loss) == 3 * history.iterations_per_epoch           # one loss per iteration
    True
    >>> history.plot(x="epoch")                                          # doctest: +SKIP
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

import matplotlib.pyplot as plt
import numpy as np

from .checks import check_choice
from .plots import COLORS, mark_epochs

X_AXES = ("iteration", "epoch", "time", "samples")


@dataclass
class History:
    """Per-iteration and per-epoch records of one training run.

    Per iteration (one entry per parameter update): ``loss`` (the batch's mean loss), ``lr``,
    ``batch_size`` (the real size of that batch: the last one can be smaller), ``epoch`` (1, 2, ...),
    ``time`` (seconds since training started). Per epoch: ``epoch_loss`` (mean loss over all the
    epoch's samples — weighted by batch size, not a mean of batch means), ``val_loss`` and
    ``val_accuracy`` (when validation data is given). ``interrupted`` / ``diverged`` say how it ended.
    """

    iterations_per_epoch: int = 0
    loss: list[float] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    batch_size: list[int] = field(default_factory=list)
    epoch: list[int] = field(default_factory=list)
    time: list[float] = field(default_factory=list)
    epoch_loss: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    val_accuracy: list[float] = field(default_factory=list)
    interrupted: bool = False
    diverged: bool = False

    @property
    def iterations(self) -> int:
        """Number of iterations (parameter updates) recorded."""
        return len(self.loss)

    @property
    def epochs(self) -> int:
        """Number of completed epochs."""
        return len(self.epoch_loss)

    @property
    def samples_seen(self) -> int:
        return int(sum(self.batch_size))

    def to_dict(self) -> dict:
        """Plain lists and numbers (for checkpoints and saving)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, state: dict) -> "History":
        return cls(**state)

    def _positions(self, x: str) -> tuple[np.ndarray, list[float], list[float], str]:
        """x positions of iterations, of epoch ends, and of epoch boundaries, with an axis label."""
        n = self.iterations
        ends = np.cumsum([self.epoch.count(e) for e in range(1, self.epochs + 1)]).astype(int)
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
        else:  # epoch: iteration k of epoch e sits at e - 1 + k / (iterations in e)
            pos = np.empty(n)
            start = 0
            for e in range(1, max(self.epoch, default=0) + 1):
                count = self.epoch.count(e)
                pos[start:start + count] = e - 1 + np.arange(1, count + 1) / max(count, 1)
                start += count
            at_end = [float(e) for e in range(1, self.epochs + 1)]
            label = "epoch"
        return pos, at_end, at_end[:-1], label

    def plot(self, x: str = "iteration", ax: plt.Axes | None = None, smooth: int = 0) -> plt.Axes:
        """Loss per iteration (thin), loss per epoch (dots) and validation loss, epoch boundaries dotted.

        ``x`` is "iteration", "epoch", "time" or "samples". ``smooth`` > 1 adds a running mean over that
        many iterations. Returns the Axes (write ``history.plot(); plt.show()`` in a notebook).
        """
        check_choice("x", x, X_AXES)
        if self.iterations == 0:
            raise ValueError("this History has no iterations to plot (epochs=0, or stopped before the first)")
        ax = ax or plt.subplots()[1]
        pos, at_end, boundaries, label = self._positions(x)
        ax.plot(pos, self.loss, color=COLORS["sky"], linewidth=1, alpha=0.8, label="loss per iteration")
        if smooth > 1 and self.iterations >= smooth:
            kernel = np.ones(smooth) / smooth
            ax.plot(pos[smooth - 1:], np.convolve(self.loss, kernel, mode="valid"), color=COLORS["blue"],
                    label=f"running mean of {smooth}")
        if self.epoch_loss:
            ax.plot(at_end, self.epoch_loss, "o-", color=COLORS["orange"], label="training loss per epoch")
        if self.val_loss:
            ax.plot(at_end[:len(self.val_loss)], self.val_loss, "s--", color=COLORS["vermillion"],
                    label="validation loss per epoch")
        mark_epochs(ax, boundaries)
        ax.set_xlabel(label)
        ax.set_ylabel("loss")
        ax.legend()
        return ax

    def __repr__(self) -> str:
        ending = " (interrupted)" if self.interrupted else " (diverged)" if self.diverged else ""
        last = f", last epoch loss {self.epoch_loss[-1]:.4f}" if self.epoch_loss else ""
        return (f"History({self.epochs} epochs, {self.iterations} iterations of "
                f"{self.iterations_per_epoch} per epoch{last}{ending})")
