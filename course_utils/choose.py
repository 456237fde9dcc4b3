"""Choose the batch size for your model, data and machine: the tuning playbook's procedure in one call.

    >>> make_model = lambda: nn.Sequential(nn.Linear(40, 100), nn.ReLU(), nn.Linear(100, 10))
    >>> from course_utils import load_dataset
    >>> choice = choose_batch_size(make_model, load_dataset("mnist1d"))      # doctest: +SKIP
    >>> print(choice); print(choice.table()); choice.plot()                  # doctest: +SKIP

The steps, each a helper of its own (Google's Deep Learning Tuning Playbook; McCandlish et al. 2018):

1. **Memory** — the largest batch that fits. On a GPU: double B until a training step runs out of
   memory, then bisect between the last B that fitted and the first that did not, freeing the memory each
   time (the process goes on). On the CPU running out of memory can kill the kernel, so nothing is tried:
   the bytes autograd keeps per sample (``saved_bytes``) are measured, and B may grow while the batch's
   memory stays within a budget (default: ``MEMORY_SHARE`` of the memory available now).
2. **Speed** — samples per second for every power of two up to that limit (``throughput``: the least of 3 to
   5 rounds, since other work on the machine only adds time, made non-decreasing in B by ``steady_seconds``),
   and the *knee*: the smallest B within ``knee_fraction`` of the best samples per second.
3. **Statistics** — the simple gradient noise scale B_simple = tr Σ / |G|² (``gradient_noise``) at the
   start and after a short training run, on a few disjoint random subsets of the data (the spread).
4. **Time to a target** — by the model of McCandlish et al., a run needs steps S = S_min · (1 + B_noise/B),
   each of B / (samples per second) seconds, so its time is ∝ (B + B_simple) / (samples per second). The
   recommended B is the power of two that makes this smallest.
5. **Learning rate** — re-tuned at the recommended B (``tune_lr``): the loss after a short run, best inside
   its grid, over 2 seeds.

The answer is a ``BatchSizeChoice``: ``recommended``, ``lr``, one sentence per reason, ``.table()``, ``.plot()``.
"""
from __future__ import annotations

import math
import os
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import matplotlib.pyplot as plt
import torch
from torch import nn

from .batching import Batches
from .checks import (check_bool, check_choice, check_features, check_loss, check_make_model,
                     check_non_negative_int, check_positive_float, check_positive_int)
from .data import Dataset
from .devices import choose_device, free_device_memory
from .gradient_noise import gradient_noise
from .memory import saved_bytes
from .plots import COLORS
from .progress import progress_bar
from .seeding import new_model
from .throughput import Throughput, throughput
from .training import as_pair, default_loss, is_out_of_memory, make_optimizer, train_step
from .tuning import Tuning, tune_lr

MEMORY_SHARE = 0.25        # the CPU memory budget, as a share of the memory available when the call starts
KNEE_FRACTION = 0.9        # the knee: the smallest B with at least this share of the best samples per second
DEFAULT_LRS = {"sgd": [0.01, 0.03, 0.1, 0.3, 1.0], "adam": [1e-4, 3e-4, 1e-3, 3e-3, 1e-2]}
MAX_STACKED = 200_000      # a torch Dataset is read into tensors; larger ones should be passed as tensors
BISECTION_STEPS = 4        # on a GPU: the limit is found to within 1/16 of the last doubling


@dataclass
class BatchSizeChoice:
    """What ``choose_batch_size`` measured and what it recommends; print it for the reasons."""

    recommended: int
    lr: float | None
    optimizer: str
    device: str
    n_samples: int
    largest_fits: int
    memory_note: str
    bytes_per_sample: int
    speed: Throughput
    knee: int
    knee_fraction: float
    b_simple_start: list[float]
    b_simple_trained: list[float]
    predicted_time: dict[int, float]
    tuning: Tuning | None
    tuning_steps: int
    reasons: list[str]
    on_bigger_device: str
    seconds: float
    time_budget: float
    notes: list[str] = field(default_factory=list)

    @property
    def b_simple(self) -> float:
        """B_simple after the short training run: the median over the data subsets."""
        return statistics.median(self.b_simple_trained)

    def __str__(self) -> str:
        lr = f", lr = {self.lr:.3g} ({self.optimizer})" if self.lr is not None else ""
        lines = [f"recommended batch size B = {self.recommended}{lr} on {self.device}; why:"]
        lines += [f"- {reason}" for reason in self.reasons]
        lines.append(f"- on a bigger device: {self.on_bigger_device}")
        lines += [f"note: {note}" for note in self.notes]
        return "\n".join(lines)

    def table(self) -> str:
        """One line per batch size measured: samples/s, memory saved for backward, predicted time to a target."""
        lines = [f"{'batch size':>10}  {'samples / s':>12}  {'memory MiB':>10}  {'time to target':>14}  ",
                 f"{'':>10}  {'':>12}  {'':>10}  {'(× the best)':>14}  "]
        for row in self.speed.rows():
            b = row["batch_size"]
            marks = [m for m, on in (("knee", b == self.knee), ("recommended", b == self.recommended)) if on]
            time_text = f"{self.predicted_time[b]:>14.2f}" if b in self.predicted_time else f"{'-':>14}"
            lines.append(f"{b:>10}  {row['samples_per_second']:>12,.0f}  {row['memory_bytes'] / 2**20:>10.3f}  "
                         f"{time_text}  {', '.join(marks)}")
        return "\n".join(line.rstrip() for line in lines)

    def plot(self) -> plt.Figure:
        """Two panels against B (log₂ axis): samples per second with the knee, and the predicted time to a target
        relative to the best, with B_simple and the recommendation marked. Returns the figure."""
        fig, (left, right) = plt.subplots(1, 2, figsize=(13, 4.5), layout="constrained")
        sizes = self.speed.batch_sizes
        left.plot(sizes, self.speed.samples_per_second, "o-", color=COLORS["blue"])
        left.axvline(self.knee, color=COLORS["black"], linestyle=":",
                     label=f"knee: B = {self.knee} ({self.knee_fraction:.0%} of the best)")
        left.set_ylabel("samples per second")
        left.set_title("1-2. memory limit and speed")
        if self.largest_fits in sizes:
            left.axvline(self.largest_fits, color=COLORS["vermillion"], linestyle="--",
                         label=f"largest that fits: B = {self.largest_fits}")
        right.plot(list(self.predicted_time), list(self.predicted_time.values()), "o-", color=COLORS["green"])
        right.axvline(self.b_simple, color=COLORS["orange"], linestyle="--",
                      label=f"B_simple ≈ {self.b_simple:.3g} (after a short run)")
        right.axvline(self.recommended, color=COLORS["black"], linestyle="-", linewidth=1,
                      label=f"recommended: B = {self.recommended}")
        right.set_yscale("log")
        right.set_ylabel("(B + B_simple) / samples per second\n(× the best; log scale)")
        right.set_title("3-4. predicted time to a target")
        for ax in (left, right):
            ax.set_xscale("log", base=2)
            ax.set_xlabel("batch size B (log₂ scale)")
            ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.22))   # below the panel: off the marked lines
        return fig


# ---- the data ----------------------------------------------------------------------------------------------
def as_tensors(data: object) -> tuple[torch.Tensor, torch.Tensor]:
    """``(x, y)`` from an ``(x, y)`` pair, a course Dataset (its train split) or a ``torch.utils.data.Dataset``.

    A torch Dataset of (x, y) items is read once into two tensors (at most ``MAX_STACKED`` samples).

    >>> from torch.utils.data import TensorDataset
    >>> x, y = as_tensors(TensorDataset(torch.zeros(5, 3), torch.arange(5)))
    >>> x.shape, y.tolist()
    (torch.Size([5, 3]), [0, 1, 2, 3, 4])
    """
    if isinstance(data, torch.utils.data.Dataset) and not isinstance(data, Dataset):
        n = len(data)
        if not 0 < n <= MAX_STACKED:
            raise ValueError(f"data is a torch Dataset of {n} samples; choose_batch_size reads it into memory and "
                             f"takes 1 to {MAX_STACKED:,}: pass a random subset, e.g. torch.utils.data.Subset(data, "
                             f"range({min(n, 20_000)})), or tensors (x, y)")
        first = data[0]
        if not (isinstance(first, (tuple, list)) and len(first) == 2):
            raise TypeError(f"data is a torch Dataset whose items are {type(first).__name__}, not (x, y) pairs; "
                            "give one that returns (x, y) per sample, or pass tensors (x, y)")
        xs, ys = zip(*(data[i] for i in range(n)))
        data = (torch.stack([torch.as_tensor(v) for v in xs]), torch.stack([torch.as_tensor(v) for v in ys]))
    return as_pair(data, "data")


# ---- step 1: memory ------------------------------------------------------------------------------------------
def _tile(x: torch.Tensor, b: int) -> torch.Tensor:
    """b samples: the first b, or the data repeated when there are fewer."""
    return x[:b] if b <= len(x) else x[torch.arange(b, device=x.device) % len(x)]


def _available_bytes() -> int | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def cpu_memory_limit(make_model: Callable[[], nn.Module], x: torch.Tensor, y: torch.Tensor, cap: int,
                     budget: int, loss: Callable, extra_state: int) -> tuple[int, int]:
    """(largest power of two B ≤ ``cap`` whose memory fits ``budget`` bytes, bytes per sample).

    The memory of a batch of B is a·B + c: a from ``saved_bytes`` at B = 8 and 16, c the parameters, their
    gradients and ``extra_state`` copies of them (optimizer state). Nothing is allocated for the large B.

    >>> x, y = torch.zeros(64, 10), torch.zeros(64)
    >>> cpu_memory_limit(lambda: nn.Linear(10, 1), x, y, cap=64, budget=3000, loss=default_loss(y), extra_state=0)
    (32, 48)
    """
    model = make_model()
    a = (saved_bytes(model, _tile(x, 16), _tile(y, 16), loss) - saved_bytes(model, _tile(x, 8), _tile(y, 8), loss)) // 8
    fixed = sum(p.numel() * p.element_size() for p in model.parameters()) * (2 + extra_state)
    b = 1
    while 2 * b <= cap and fixed + a * 2 * b <= budget:
        b *= 2
    return b, int(a)


def gpu_memory_limit(fits: Callable[[int], bool], cap: int, steps: int = BISECTION_STEPS) -> tuple[int, int | None]:
    """(largest B found to fit, smallest B found not to fit or None): doubling from 1, then ``steps`` bisections.

    ``fits(b)`` runs one training step at B and says whether it fitted (it must free the memory itself).

    >>> gpu_memory_limit(lambda b: b <= 100, cap=10_000)      # 64 fits, 128 does not; bisection 64 … 128
    (100, 104)
    """
    if not fits(1):
        return 0, 1
    low, high = 1, None
    while high is None and low < cap:
        b = min(2 * low, cap)
        if fits(b):
            low = b
        else:
            high = b
    if high is None:
        return low, None
    for _ in range(steps):
        if high - low <= 1:
            break
        middle = (low + high) // 2
        low, high = (middle, high) if fits(middle) else (low, middle)
    return low, high


# ---- step 3: statistics -----------------------------------------------------------------------------------------
def noise_scale_estimates(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, subsets: int = 3,
                          samples: int = 1024, seed: int = 0, loss: Callable | None = None) -> list[float]:
    """B_simple of the data's distribution, estimated on ``subsets`` disjoint random subsets of ``samples`` each.

    On each subset of n samples ``gradient_noise`` gives tr Σₙ and |ḡ|²; unbiased for the whole
    distribution are tr Σ ≈ tr Σₙ · n/(n − 1) and |G|² ≈ |ḡ|² − tr Σ / n (the mean of n gradients
    carries noise tr Σ / n). B_simple = tr Σ / |G|², inf where the estimate of |G|² is ≤ 0 (all noise).

    >>> x = torch.randn(4000, 3); y = x @ torch.tensor([1.0, 0.0, 0.0])
    >>> model = nn.Linear(3, 1, bias=False); _ = nn.init.zeros_(model.weight)
    >>> [round(b) for b in noise_scale_estimates(model, x, y, subsets=2, samples=2000)]   # truth: d + 1 = 4
    [4, 4]
    """
    subsets = check_positive_int("subsets", subsets)
    samples = check_positive_int("samples", samples)
    n = min(samples, len(x) // subsets)
    if n < 2:
        raise ValueError(f"subsets={subsets} disjoint subsets of at least 2 samples need 2·{subsets} samples; "
                         f"the data has {len(x)}: use fewer subsets")
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))
    estimates = []
    for k in range(subsets):
        pick = order[k * n:(k + 1) * n].to(x.device)
        noise = gradient_noise(model, (x[pick], y[pick]), [n], draws=1, loss=loss)
        trace = noise.trace * n / (n - 1)
        signal = noise.grad_norm_sq - trace / n
        estimates.append(trace / signal if signal > 0 else math.inf)
    return estimates


# ---- the recommendation ------------------------------------------------------------------------------------------
def steady_seconds(seconds: Sequence[float]) -> list[float]:
    """Seconds per step made non-decreasing in B (pool adjacent violators): a step on a batch twice as large does
    all the work of the smaller one and more, so a smaller time at a larger B is noise; such runs share their mean.

    >>> steady_seconds([1.0, 3.0, 2.0, 4.0])
    [1.0, 2.5, 2.5, 4.0]
    """
    blocks: list[list[float]] = []   # [sum, count]
    for value in seconds:
        blocks.append([float(value), 1])
        while len(blocks) > 1 and blocks[-2][0] / blocks[-2][1] > blocks[-1][0] / blocks[-1][1]:
            total, count = blocks.pop()
            blocks[-1][0] += total
            blocks[-1][1] += count
    return [total / count for total, count in blocks for _ in range(int(count))]


def knee_of(batch_sizes: Sequence[int], samples_per_second: Sequence[float], fraction: float = KNEE_FRACTION) -> int:
    """The smallest batch size whose samples per second are at least ``fraction`` of the best.

    >>> knee_of([8, 16, 32, 64], [100.0, 170.0, 195.0, 200.0])
    32
    """
    best = max(samples_per_second)
    return min(b for b, r in zip(batch_sizes, samples_per_second) if r >= fraction * best)


def predicted_times(batch_sizes: Sequence[int], samples_per_second: Sequence[float], b_noise: float) -> dict[int, float]:
    """Time to a target ∝ (B + B_noise) / (samples per second), relative to the smallest (1.0 = the best).

    Steps S = S_min (1 + B_noise/B) (McCandlish et al. 2018), each taking B / (samples per second).

    >>> predicted_times([8, 16, 32], [80.0, 160.0, 200.0], b_noise=16.0)
    {8: 1.5, 16: 1.0, 32: 1.2}
    """
    raw = {b: (b + b_noise) / r for b, r in zip(batch_sizes, samples_per_second)}
    best = min(raw.values())
    return {b: round(t / best, 12) for b, t in raw.items()}


def _fmt(value: float) -> str:
    """Three significant digits, without an exponent: 0.0123, 1.46, 246, 1,430."""
    if math.isinf(value):
        return "∞ (no signal above the noise)"
    return f"{float(f'{value:.3g}'):,.0f}" if abs(value) >= 100 else f"{value:.3g}"


def choose_batch_size(make_model: Callable[[], nn.Module], data: object, *, optimizer: str = "sgd",
                      lrs: Sequence[float] | None = None, device: str | torch.device | None = None,
                      memory_budget: float | None = None, knee_fraction: float = KNEE_FRACTION,
                      min_batch_size: int = 8, max_batch_size: int | None = None, time_budget: float = 40.0,
                      noise_samples: int = 1024, noise_subsets: int = 3, seed: int = 0,
                      loss: Callable | None = None, progress: bool = True) -> BatchSizeChoice:
    """Measure memory, speed and gradient noise on this device, and recommend a batch size and learning rate.

    ``make_model`` is a function ``() -> nn.Module``; ``data`` an ``(x, y)`` pair, a course Dataset (its train
    split) or a ``torch.utils.data.Dataset`` of (x, y) items. ``optimizer`` is "sgd" or "adam" (the learning
    rate is tuned for it, on the grid ``lrs``; default ``DEFAULT_LRS``). ``memory_budget`` (bytes, CPU only)
    defaults to ``MEMORY_SHARE`` of the memory available now. Batch sizes tried are powers of two from
    ``min_batch_size`` to ``max_batch_size`` (default: the largest power of two ≤ N, the number of samples).
    ``time_budget`` (seconds) sets how many rounds of timing and how many steps the learning-rate sweep and
    the short training run take; the whole call takes about that long. See the module docstring for the steps.

    >>> x, y = torch.randn(256, 4), torch.randint(0, 2, (256,))
    >>> choice = choose_batch_size(lambda: nn.Linear(4, 2), (x, y), device="cpu", time_budget=2, progress=False)
    >>> choice.recommended in choice.speed.batch_sizes, choice.largest_fits
    (True, 256)
    """
    start = time.perf_counter()
    check_make_model(make_model)
    optimizer = check_choice("optimizer", optimizer, ("sgd", "adam"))
    grid = list(DEFAULT_LRS[optimizer] if lrs is None else lrs)
    device = choose_device("device", device)
    if memory_budget is not None:
        memory_budget = check_positive_float("memory_budget", memory_budget, example="2**30 (1 GiB)")
    knee_fraction = check_positive_float("knee_fraction", knee_fraction, example="0.9")
    if knee_fraction > 1:
        raise ValueError(f"knee_fraction must be a share of the best samples per second, between 0 and 1 "
                         f"(e.g. 0.9), got {knee_fraction!r}")
    min_batch_size = check_positive_int("min_batch_size", min_batch_size)
    time_budget = check_positive_float("time_budget", time_budget, example="40 (seconds)")
    noise_samples = check_positive_int("noise_samples", noise_samples)
    noise_subsets = check_positive_int("noise_subsets", noise_subsets)
    seed = check_non_negative_int("seed", seed)
    check_loss(loss)
    progress = check_bool("progress", progress)
    x, y = as_tensors(data)
    n = len(x)
    if max_batch_size is None:
        max_batch_size = 2 ** int(math.log2(n))
    max_batch_size = check_positive_int("max_batch_size", max_batch_size)
    if max_batch_size < min_batch_size:
        raise ValueError(f"max_batch_size={max_batch_size} is smaller than min_batch_size={min_batch_size}; "
                         f"give max_batch_size ≥ min_batch_size, e.g. max_batch_size={2 * min_batch_size}")
    if noise_subsets * 2 > n:
        raise ValueError(f"noise_subsets={noise_subsets} needs at least {2 * noise_subsets} samples (2 per subset), "
                         f"the data has {n}: use fewer subsets or more data")
    check_features("data x", x, new_model(make_model, seed, "cpu"))
    loss_fn = loss or default_loss(y)
    x, y = x.to(device), y.to(device)
    deadline = start + time_budget
    bar = progress_bar(total=6, enabled=progress, unit="step")
    notes: list[str] = []

    # 1. memory
    bar.set_description("memory")
    if device.type == "cpu":
        available = _available_bytes()
        budget = int(memory_budget if memory_budget is not None else MEMORY_SHARE * (available or 2**31))
        largest, per_sample = cpu_memory_limit(make_model, x, y, max_batch_size, budget, loss_fn,
                                               extra_state=2 if optimizer == "adam" else 0)
        how = (f"{memory_budget / 2**20:,.0f} MiB as asked" if memory_budget is not None
               else f"{MEMORY_SHARE:.0%} of the {(available or 2**31) / 2**30:.1f} GiB available")
        memory_note = (f"B ≤ {largest}: {per_sample:,} bytes per sample saved for backward, within a budget of {how}"
                       + (f" (capped at {max_batch_size}, the largest power of two ≤ N = {n})"
                          if largest == max_batch_size else ""))
    else:
        def fits(b: int) -> bool:
            ok = True
            try:
                model = new_model(make_model, seed, device)
                train_step(model, _tile(x, b), _tile(y, b), loss_fn, make_optimizer(model.parameters(), optimizer,
                                                                                     lr=grid[0]))
                torch.accelerator.synchronize(device)
            except Exception as exc:
                if not is_out_of_memory(exc):
                    raise
                ok = False   # memory freed below, outside the except block (its traceback holds the tensors)
            model = None
            free_device_memory(device)
            return ok

        largest, too_large = gpu_memory_limit(fits, cap=max_batch_size)
        if largest == 0:
            raise MemoryError(f"not even a batch of 1 fits in the memory of the {device.type} device: use a smaller "
                              "model, or device='cpu'")
        per_sample = 0
        memory_note = (f"B = {largest} fits and B = {too_large} does not (found by doubling, then "
                       f"{BISECTION_STEPS} bisection steps; the memory was freed after each failure)"
                       if too_large else f"B = {largest} fits (capped at max_batch_size)")
        largest = min(largest, max_batch_size)
    bar.update(1)

    # 2. speed: rounds of throughput; other work on the machine only ever adds time, so each B keeps its least
    bar.set_description("speed")
    sizes = [2 ** k for k in range(int(math.log2(min_batch_size)), int(math.log2(max(largest, 1))) + 1)
             if min_batch_size <= 2 ** k <= largest] or [largest]
    rounds: list[Throughput] = []
    while len(rounds) < 5:
        rounds.append(throughput(make_model, (x, y), sizes, device=device, repeats=3, loss=loss_fn, seed=seed))
        if len(rounds) >= 3 and time.perf_counter() > start + 0.15 * time_budget:
            break
    measured = min(sum(not o for o in r.out_of_memory) for r in rounds)   # a GPU may fail near its limit
    if measured == 0:
        raise MemoryError(f"no batch size from {sizes[0]} up fitted while timing on the {device.type} device")
    if measured < len(sizes):
        notes.append(f"B = {sizes[measured]} ran out of memory while timing (the optimizer's state, or "
                     "fragmentation): the batch sizes above it were left out")
        sizes = sizes[:measured]
    seconds = steady_seconds([min(r.seconds_per_iteration[k] for r in rounds) for k in range(measured)])
    speed = Throughput(sizes, seconds, [b / s for b, s in zip(sizes, seconds)], rounds[0].memory_bytes[:measured],
                       [False] * measured, rounds[0].device, rounds[0].memory_kind)
    knee = knee_of(sizes, speed.samples_per_second, knee_fraction)
    bar.update(1)

    # 3. statistics at the start
    bar.set_description("noise scale")
    b_start = noise_scale_estimates(new_model(make_model, seed, device), x, y, subsets=noise_subsets,
                                    samples=noise_samples, seed=seed, loss=loss_fn)
    bar.update(1)

    # the short runs: loss on a fixed evaluation subset after `steps` steps
    x_eval, y_eval = x[:2048], y[:2048]

    def short_run(b: int, lr: float, run_seed: int, steps: int) -> tuple[nn.Module, float | None]:
        model = new_model(make_model, run_seed, device)
        opt = make_optimizer(model.parameters(), optimizer, lr=lr)
        batches, done = Batches(x, y, batch_size=b, seed=run_seed), 0
        while done < steps:
            for xb, yb in batches:
                value = train_step(model, xb, yb, loss_fn, opt)
                done += 1
                if not math.isfinite(float(value)):
                    return model, None
                if done == steps:
                    break
        with torch.no_grad():
            final = float(loss_fn(model(x_eval), y_eval))
        return model, final if math.isfinite(final) else None

    def steps_for(b: int, share: float) -> int:
        seconds = speed.seconds_per_iteration[sizes.index(b)]
        left = max(deadline - time.perf_counter(), 0.0) * share
        return int(min(max(left / (24 * seconds), 10), 300))   # about 12 learning rates × 2 seeds

    def tune_at(b: int, share: float, lr_grid: Sequence[float]) -> tuple[Tuning, int]:
        steps = steps_for(b, share)
        return tune_lr(lambda lr, s: short_run(b, lr, s, steps)[1], lr_grid, seeds=2, max_extend=2, max_rounds=2,
                       quantity=f"loss after {steps} steps"), steps

    # 4. a short run at the knee, then the statistics again
    bar.set_description("short run")
    first, steps = tune_at(knee, 0.4, grid)
    bar.update(1)
    if first.best_lr is None:
        notes.append("no learning rate of the grid trained without diverging at the knee: B_simple after "
                     "training is the one at the start; give another grid with lrs=[...]")
        b_trained = b_start
    else:
        trained, _ = short_run(knee, first.best_lr, seed, steps)
        b_trained = noise_scale_estimates(trained, x, y, subsets=noise_subsets, samples=noise_samples,
                                          seed=seed, loss=loss_fn)
    b_noise = statistics.median(b_trained)
    b_noise_finite = b_noise if math.isfinite(b_noise) else float(sizes[-1]) * 1e6

    # 5. the recommendation and its learning rate
    bar.set_description("learning rate")
    times = predicted_times(sizes, speed.samples_per_second, b_noise_finite)
    recommended = min(sizes, key=lambda b: (times[b], b))
    if recommended == knee and first.best_lr is not None:
        tuning, tuning_steps = first, steps
    else:
        centre = first.best_lr if first.best_lr is not None else grid[len(grid) // 2]
        scale = math.sqrt(recommended / knee)   # a starting guess by the √ rule; the sweep settles it
        tuning, tuning_steps = tune_at(recommended, 0.9, [centre * scale / 3, centre * scale, centre * scale * 3])
    bar.update(1)
    lr = tuning.best_lr
    if tuning.edge is not None:
        notes.append(f"the best learning rate is the {tuning.edge} tried: it may lie beyond the grid")
    if largest < min_batch_size:
        notes.append(f"only B = {largest} fits, below min_batch_size = {min_batch_size}")

    # the reasons, one sentence each
    spread = lambda values: f"{_fmt(min(values))} to {_fmt(max(values))}"  # noqa: E731
    r_knee, r_best = speed.samples_per_second[sizes.index(knee)], max(speed.samples_per_second)
    reasons = [
        f"memory: {memory_note}.",
        f"speed: above B = {knee} samples/s grows < {1 - knee_fraction:.0%} ({r_knee:,.0f} of at most "
        f"{r_best:,.0f} samples/s).",
        f"statistics: B_simple ≈ {_fmt(b_noise)} after {steps} steps (start ≈ {_fmt(statistics.median(b_start))}; "
        f"{noise_subsets} subsets: {spread(b_trained)}): beyond ~B_simple each doubling buys less than half the steps.",
        f"time: (B + B_simple) / samples per second, the predicted time to a target, is lowest at B = {recommended}"
        + (f" (B = {recommended // 2} takes ×{times[recommended // 2]:.2f})" if recommended // 2 in times else "")
        + (f" (B = {recommended * 2} takes ×{times[recommended * 2]:.2f})" if recommended * 2 in times else "") + ".",
        f"learning rate: {_fmt(lr) if lr is not None else 'none worked'} at B = {recommended}, tuned on the loss "
        f"after {tuning_steps} steps over 2 seeds ({len(tuning.lrs)} tried); re-tune it whenever B changes.",
    ]
    bigger = (f"more memory or a faster device moves the knee to larger B, and the best B with it, towards "
              f"B_simple ≈ {_fmt(b_noise)} (measured after a short run only: it changes during training, and "
              "McCandlish et al. found it grows as the loss falls); past it each doubling of B buys less than half "
              "the steps, so the samples (compute) per target grow: go there only for speed.")
    bar.update(1)
    bar.close()
    return BatchSizeChoice(recommended=recommended, lr=lr, optimizer=optimizer, device=str(device), n_samples=n,
                           largest_fits=largest, memory_note=memory_note, bytes_per_sample=per_sample, speed=speed,
                           knee=knee, knee_fraction=knee_fraction, b_simple_start=b_start,
                           b_simple_trained=b_trained, predicted_time=times, tuning=tuning,
                           tuning_steps=tuning_steps, reasons=reasons, on_bigger_device=bigger,
                           seconds=time.perf_counter() - start, time_budget=time_budget, notes=notes)
