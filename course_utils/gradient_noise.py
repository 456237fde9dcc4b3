"""Gradient noise: how far a mini-batch gradient is from the full-batch gradient, as B changes.

    >>> from course_utils import load_dataset
    >>> data = load_dataset("mnist1d")
    >>> model = torch.nn.Sequential(torch.nn.Linear(40, 100), torch.nn.ReLU(), torch.nn.Linear(100, 10))
    >>> noise = gradient_noise(model, data, [1, 4, 16, 64, 256, 1024])     # doctest: +SKIP
    >>> noise.plot()                                                        # doctest: +SKIP
    >>> b_simple = noise_scale(model, data)     # tr(Σ) / |G|², a batch size   # doctest: +SKIP

Every sample i has its own gradient gᵢ (P numbers, one per parameter). The full-batch gradient G is their
mean; a mini-batch gradient g_B is the mean of B of them. Σ = (1/N) Σᵢ (gᵢ − G)(gᵢ − G)ᵀ is their
covariance, and tr(Σ) = the mean of |gᵢ − G|². For a batch drawn without replacement (as one epoch draws
its batches) the expected squared error is

    E|g_B − G|² = tr(Σ) / B · (N − B) / (N − 1),

which falls as 1/B while B ≪ N and reaches 0 at B = N, where g_B is G. The simple gradient noise scale of
McCandlish et al. 2018 (arXiv:1812.06162) is B_simple = tr(Σ) / |G|²: the batch size at which the noise
in g_B (about tr(Σ)/B) is as large as the signal |G|².
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
import torch
from torch import nn
from torch.func import functional_call, grad, vmap

from .checks import (BatchSizes, check_batch_sizes, check_finite, check_features, check_loss, check_module,
                     check_non_negative_int, check_positive_int, check_tensor, check_trainable)
from .plots import COLORS
from .training import Data, as_pair, default_loss


def _check_model(model: object) -> dict[str, torch.Tensor]:
    """The model's trainable parameters by name (detached), after checking it is a model that has some."""
    check_module("model", model)
    return {name: p.detach() for name, p in check_trainable("model", model).items()}


def per_sample_grads(model: nn.Module, x: torch.Tensor, y: torch.Tensor, loss: Callable | None = None, *,
                     chunk_size: int = 512) -> torch.Tensor:
    """The gradient of each sample's own loss: a tensor of shape (N, P), one row per sample.

    Row i is the gradient of ``loss(model(x[i:i+1]), y[i:i+1])`` — the loss of a batch of one — with
    respect to the model's trainable parameters (those with ``requires_grad``, in the order of
    ``model.parameters()``), each flattened and put one after the other, so P is their number of
    elements. ``loss`` defaults as in ``train``: cross-entropy for class labels, mean squared error for
    float targets; it must return the mean loss of the batch (one number). The gradients are computed
    ``chunk_size`` samples at a time (with ``torch.func``), so memory holds one chunk's work plus the N × P
    result (4·N·P bytes in float32).

    The model is not changed: not its parameters, not their ``.grad``, not its train/eval mode (it runs in
    the mode it is in). A model with dropout or batch norm in training mode is refused: each sample would
    get its own random dropout mask, and batch norm would normalize a batch of one sample with its own
    statistics, so the rows would not be the gradients of one fixed network. Call ``model.eval()`` first.
    ``x`` and ``y`` are moved to the model's device; the result is on that device. They must be finite, and
    ``x`` of the parameters' floating-point type.

    >>> model = nn.Linear(3, 2)                   # P = 3·2 weights + 2 biases = 8
    >>> per_sample_grads(model, torch.randn(5, 3), torch.tensor([0, 1, 1, 0, 1])).shape
    torch.Size([5, 8])
    """
    params = _check_model(model)
    x, y = check_tensor("x", x), check_tensor("y", y)
    if len(x) != len(y):
        raise ValueError(f"x and y must have the same number of samples, got len(x)={len(x)} and len(y)={len(y)}")
    check_loss(loss)
    chunk_size = check_positive_int("chunk_size", chunk_size)
    check_finite("x", x)
    check_finite("y", y)
    check_features("x", x, model)
    _check_no_random_layers(model)
    loss_fn = loss or default_loss(y)
    buffers = {name: b.detach() for name, b in model.named_buffers()}
    device = next(iter(params.values())).device
    x, y = x.to(device), y.to(device)

    def one_sample_loss(p: dict, xi: torch.Tensor, yi: torch.Tensor) -> torch.Tensor:
        out = functional_call(model, (p, buffers), (xi.unsqueeze(0),))  # a batch of one sample
        value = loss_fn(out, yi.unsqueeze(0))
        if not isinstance(value, torch.Tensor) or value.dim() != 0:
            shape = tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
            raise ValueError(f"loss must return the mean loss of the batch, a single number (a 0-d tensor), but "
                             f"it returned {shape} for a batch of one sample; if it is e.g. "
                             "nn.CrossEntropyLoss(reduction='none'), use reduction='mean' (the default)")
        return value

    grads_of_each = vmap(grad(one_sample_loss), in_dims=(None, 0, 0))
    rows = []
    for xc, yc in zip(x.split(chunk_size), y.split(chunk_size)):
        try:
            g = grads_of_each(params, xc, yc)  # {name: (chunk, *shape of that parameter)}
        except RuntimeError as exc:
            if "randomness" not in str(exc):
                raise
            raise ValueError("model draws random numbers in its forward pass (a random layer in training mode), "
                             "so the per-sample gradients would each see a different network; call model.eval() "
                             "first") from None
        rows.append(torch.cat([g[name].reshape(len(xc), -1) for name in params], dim=1))
    return torch.cat(rows, dim=0)


def _check_no_random_layers(model: nn.Module) -> None:
    """Raise if dropout or batch norm is in training mode: then a sample's gradient depends on more than itself."""
    layers = sorted({type(m).__name__ for m in model.modules() if m.training and isinstance(
        m, (nn.modules.dropout._DropoutNd, nn.modules.batchnorm._BatchNorm))})
    if layers:
        raise ValueError(f"model is in training mode and has {', '.join(layers)} layers: in training mode each "
                         "sample would get its own random dropout mask, and batch norm would normalize each "
                         "sample by itself, so the per-sample gradients would not belong to one fixed network. "
                         "Call model.eval() first (and model.train() afterwards to go on training)")


def _deviations(model: nn.Module, data: Data, loss: Callable | None) -> tuple[torch.Tensor, torch.Tensor]:
    """(gᵢ − G for every sample, G), in float64 so that sums of many small numbers stay exact enough."""
    _check_model(model)
    check_loss(loss)
    x, y = as_pair(data, "data")
    g = per_sample_grads(model, x, y, loss).double()
    mean = g.mean(dim=0)
    return g - mean, mean


def noise_scale(model: nn.Module, data: Data, loss: Callable | None = None) -> float:
    """The simple gradient noise scale B_simple = tr(Σ) / |G|² (McCandlish et al. 2018, arXiv:1812.06162).

    G is the mean of the per-sample gradients over all N samples of ``data`` (an ``(x, y)`` pair or a
    Dataset, its train split), and tr(Σ) = the mean over samples of |gᵢ − G|², the trace of their covariance
    (the P × P matrix Σ is never built). Batches much smaller than B_simple give a gradient that is mostly
    noise; batches much larger give little more than B_simple does. Returns ``inf`` if G is exactly 0.
    Needs the N × P per-sample gradients in memory (see ``per_sample_grads``); the model is not changed.

    >>> x, y = torch.tensor([[1.0], [3.0]]), torch.tensor([0.0, 0.0])
    >>> model = nn.Linear(1, 1, bias=False); _ = nn.init.ones_(model.weight)
    >>> noise_scale(model, (x, y))       # gᵢ = 2·w·xᵢ² = 2 and 18: G = 10, tr Σ = 64, 64 / 100
    0.64
    """
    deviations, mean = _deviations(model, data, loss)
    trace = float((deviations ** 2).sum(dim=1).mean())
    grad_norm_sq = float(mean @ mean)
    return math.inf if grad_norm_sq == 0 else trace / grad_norm_sq


@dataclass
class GradientNoise:
    """Measured and predicted E|g_B − G|² for each batch size B (see ``gradient_noise``)."""

    batch_sizes: list[int]
    measured: list[float]
    predicted: list[float]
    trace: float
    grad_norm_sq: float
    n_samples: int
    draws: int

    @property
    def noise_scale(self) -> float:
        """B_simple = tr(Σ) / |G|² (``inf`` if G is 0)."""
        return math.inf if self.grad_norm_sq == 0 else self.trace / self.grad_norm_sq

    def plot(self, ax: plt.Axes | None = None) -> plt.Axes:
        """Draw measured (points) and predicted (line) E|g_B − G|² against B on log–log axes.

        At B = N both are 0, which a log axis cannot show: B = N is left off the axes and its measured
        value is written in the lower left corner instead. A dotted line shows tr(Σ)/B, the error of
        batches drawn with replacement: slope −1 on these axes. The prediction follows it while B ≪ N
        and bends down towards 0 as B nears N. The lines span the batch sizes measured below N.
        Returns the axes.
        """
        if ax is None:
            _, ax = plt.subplots()
        n = self.n_samples
        shown = [(b, m) for b, m in zip(self.batch_sizes, self.measured) if b < n]
        if shown:
            low, high = min(b for b, _ in shown), max(b for b, _ in shown)
            curve = np.geomspace(low, high, 200) if high > low else np.array([float(low)])
            ax.plot(curve, self.trace / curve, ":", color=COLORS["black"], linewidth=1.5,
                    label="tr Σ / B (with replacement)")
            ax.plot(curve, self.trace / curve * (n - curve) / (n - 1), color=COLORS["blue"],
                    label="tr Σ / B · (N − B)/(N − 1)")
        if shown:
            ax.plot([b for b, _ in shown], [m for _, m in shown], "o", color=COLORS["vermillion"],
                    label=f"measured (mean of {self.draws} batches)")
        ax.set_xscale("log")
        ax.set_yscale("log")
        if n in self.batch_sizes:
            at_n = self.measured[self.batch_sizes.index(n)]
            ax.text(0.02, 0.04, f"B = N = {n}: measured {at_n:.1e}, predicted 0\n"
                    "(0 cannot be drawn on a log axis)", transform=ax.transAxes)
        ax.set_xlabel("batch size B (log scale)")
        ax.set_ylabel("E |g_B − G|²  (log scale)")
        ax.set_title(f"Mini-batch gradient noise, N = {n}")
        if ax.get_legend_handles_labels()[0]:   # nothing to label when only B = N was measured
            ax.legend()
        return ax


def gradient_noise(model: nn.Module, data: Data, batch_sizes: BatchSizes, *, draws: int = 200,
                   seed: int = 0, loss: Callable | None = None) -> GradientNoise:
    """Mean of |g_B − G|² over ``draws`` random batches of each size B, beside its prediction.

    ``data`` is an ``(x, y)`` pair or a Dataset (its train split), with N ≥ 2 samples. ``batch_sizes`` is a
    list, tuple, range or 1-D array of whole numbers 1 ≤ B ≤ N; they are measured in increasing order, each
    once. Each batch is B distinct samples drawn at random (without replacement, as one epoch draws
    them), from a generator seeded with ``seed``; g_B is the mean of those B rows of ``per_sample_grads``,
    so no extra forward or backward pass is needed. ``predicted`` is tr(Σ)/B · (N − B)/(N − 1), the exact
    expectation for such batches; ``measured`` scatters around it by a few percent for a few hundred draws,
    and is 0 up to rounding at B = N. Sums are in float64. The model is not changed.

    Cost: one (draws × N) by (N × P) matrix product per B, on top of the per-sample gradients.

    >>> x, y = torch.randn(64, 3), torch.randint(0, 2, (64,))
    >>> noise = gradient_noise(nn.Linear(3, 2), (x, y), [1, 8, 64], draws=100)
    >>> noise.batch_sizes, noise.measured[-1] < 1e-12 * noise.trace, noise.predicted[-1]
    ([1, 8, 64], True, 0.0)
    """
    _check_model(model)
    draws = check_positive_int("draws", draws)
    seed = check_non_negative_int("seed", seed)
    check_loss(loss)
    x, y = as_pair(data, "data")
    n = len(x)
    if n < 2:
        raise ValueError(f"data must hold at least 2 samples to have gradient noise, got {n}")
    sizes = check_batch_sizes("batch_sizes", batch_sizes, at_most=n)
    deviations, mean = _deviations(model, (x, y), loss)
    trace = float((deviations ** 2).sum(dim=1).mean())
    generator = torch.Generator().manual_seed(seed)
    measured, predicted = [], []
    for b in sizes:
        total = 0.0
        for start in range(0, draws, 256):  # 256 batches at a time keeps the selection matrix small
            k = min(256, draws - start)
            picked = torch.rand(k, n, generator=generator).argsort(dim=1)[:, :b]  # k batches of b distinct samples
            select = torch.zeros(k, n, dtype=deviations.dtype).scatter_(1, picked, 1.0 / b)
            errors = select.to(deviations.device) @ deviations  # row j: g_B − G for batch j
            total += float((errors ** 2).sum())
        measured.append(total / draws)
        predicted.append(trace / b * (n - b) / (n - 1))
    return GradientNoise(batch_sizes=sizes, measured=measured, predicted=predicted, trace=trace,
                         grad_norm_sq=float(mean @ mean), n_samples=n, draws=draws)
