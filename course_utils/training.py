"""The training loop: epochs of iterations, each one forward → loss → backward → update.

    >>> from course_utils import load_dataset
    >>> data = load_dataset("mnist1d")
    >>> model = torch.nn.Sequential(torch.nn.Linear(40, 100), torch.nn.ReLU(), torch.nn.Linear(100, 10))
    >>> history = train(model, data, epochs=5, batch_size=64, lr=0.1, val_data=data.test)   # doctest: +SKIP
    >>> evaluate(model, data.test)                                                        # doctest: +SKIP
    {'loss': 1.21..., 'accuracy': 0.56...}

The code is the loop you write by hand: ``train_step`` is one iteration, ``train_epoch`` one pass over
the batches, ``train`` the epochs around them (plus checks, checkpoints and the progress bar).
What each iteration and epoch leaves behind is recorded by ``History``; saving and resuming live in
``checkpoints``.
"""
from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from .batching import Batches, iterations_per_epoch
from .checkpoints import CheckpointError, resume_training, save_training
from .checks import (check_bool, check_features, check_finite, check_loss, check_module, check_momentum,
                     check_non_negative_float, check_non_negative_int, check_positive_float, check_positive_int,
                     check_tensor, check_trainable)
from .data import Dataset
from .devices import accelerator_memory, choose_device, describe_device, free_device_memory
from .history import History
from .progress import progress_bar
from .schedules import check_schedule_lengths
from .seeding import private_torch_seed

OPTIMIZERS = ("sgd", "adam", "adamw")
Data = Dataset | tuple[torch.Tensor, torch.Tensor]
Loss = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


class BatchTooLargeError(RuntimeError):
    """The batch does not fit in the device's memory (CUDA/MPS out of memory)."""


# ---- data and loss ---------------------------------------------------------------------------------------
def as_pair(data: Data, name: str, split: str = "train") -> tuple[torch.Tensor, torch.Tensor]:
    """``(x, y)`` from a pair, a ``data.train`` / ``data.test`` split, or (for training data) a Dataset."""
    if isinstance(data, Dataset):
        if split != "train":
            raise TypeError(f"{name}={data!r} is a whole Dataset: say which part you mean, e.g. "
                            f"{name}=data.test (the held-out test split) or {name}=(x_val, y_val)")
        x, y = data.x_train, data.y_train
    elif isinstance(data, (tuple, list)) and len(data) == 2:
        x, y = data
    else:
        raise TypeError(f"{name} must be an (x, y) pair of tensors or a Dataset from load_dataset(...), "
                        f"got {type(data).__name__}")
    check_tensor(f"{name} x", x)
    check_tensor(f"{name} y", y)
    if len(x) != len(y):
        raise ValueError(f"{name}: x and y must have the same number of samples, got len(x)={len(x)} "
                         f"and len(y)={len(y)}")
    if len(x) == 0:
        raise ValueError(f"{name} has no samples; give at least one (x, y) pair")
    check_finite(f"{name} x", x)
    check_finite(f"{name} y", y)
    return x, y


def _mse(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean squared error; a model with one output unit gives (N, 1) for targets (N,): that is accepted.

    Any other difference in shape would be broadcast by ``mse_loss`` into a wrong (N, N) or (N, k)
    comparison, so it is refused. The shapes are compared once per batch, as the old squeeze test was.
    """
    if output.shape != target.shape:
        if output.dim() == target.dim() + 1 and output.shape[-1] == 1:
            output = output.squeeze(-1)
        else:
            raise ValueError(_shape_mismatch(output, target))
    return nn.functional.mse_loss(output, target)


def _shape_mismatch(output: torch.Tensor, target: torch.Tensor) -> str:
    shown = lambda t: "(" + ", ".join(["B", *map(str, t.shape[1:])]) + (",)" if t.dim() == 1 else ")")  # noqa: E731
    fixes = [f"give y the shape {shown(output)}"]
    if target.dim() == 1:
        fixes.insert(0, "for regression (one number per sample) make the model end in one output unit, "
                        "e.g. nn.Linear(100, 1)")
        if output.dim() == 2:
            fixes.append(f"for {output.shape[1]} classes give y as integer class labels, y.long(), to train "
                         "with cross-entropy")
    return (f"the model's output has shape {shown(output)} but the targets y have shape {shown(target)}, and the "
            f"default loss for float targets (mean squared error) needs them to match: {'; or '.join(fixes)}")


def default_loss(y: torch.Tensor) -> Loss:
    """Cross-entropy for integer class labels, mean squared error for float targets."""
    return _mse if y.is_floating_point() else nn.functional.cross_entropy


def make_optimizer(params, optimizer: str | Callable, lr: float, momentum: float = 0.0,
                   weight_decay: float = 0.0) -> torch.optim.Optimizer:
    """Build "sgd", "adam" or "adamw", or call ``optimizer(params)`` if it is a function.

    ``params`` is turned into a list first, so a function may use it more than once (e.g. for two
    parameter groups).

    >>> make_optimizer(nn.Linear(2, 1).parameters(), "sgd", lr=0.1).defaults["lr"]
    0.1
    """
    params = list(params)
    if callable(optimizer):
        made = optimizer(params)
        if not isinstance(made, torch.optim.Optimizer):
            raise TypeError("optimizer, when a function, must return a torch.optim.Optimizer, e.g. "
                            f"lambda p: torch.optim.SGD(p, lr=0.1); it returned {type(made).__name__}")
        return made
    if optimizer == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay)
    if optimizer in ("adam", "adamw"):
        if momentum:
            raise ValueError(f"momentum={momentum} applies to optimizer='sgd' only; Adam has its own betas")
        maker = torch.optim.Adam if optimizer == "adam" else torch.optim.AdamW
        return maker(params, lr=lr, weight_decay=weight_decay)
    raise ValueError(f"optimizer must be one of 'sgd', 'adam', 'adamw' or a function params -> Optimizer, "
                     f"got {optimizer!r}")


# ---- out of memory -----------------------------------------------------------------------------------------
ALLOCATION_FAILURES = ("out of memory", "cublas_status_alloc_failed", "cudnn_status_alloc_failed",
                       "cudnn_status_not_enough_workspace", "failed to allocate")


def is_out_of_memory(exc: BaseException) -> bool:
    """True for a device allocation failure: ``torch.OutOfMemoryError`` or a cuBLAS/cuDNN/MPS one."""
    return isinstance(exc, torch.OutOfMemoryError) or (
        isinstance(exc, RuntimeError) and any(words in str(exc).lower() for words in ALLOCATION_FAILURES))


def batch_too_large(what: str, batch_size: int, device: torch.device) -> BatchTooLargeError:
    """Free the device's cached memory and build the error to raise.

    Call it *after* leaving the ``except`` block: while the exception is being handled its traceback
    still holds the failed step's tensors, and emptying the cache then frees nothing.
    """
    free_device_memory(device)
    memory = accelerator_memory(device)
    said = (f"{memory[1] / 2**30:.1f} GiB in all, {memory[0] / 2**30:.1f} GiB free after emptying the cache"
            if memory else describe_device(device))
    smaller = max(1, batch_size // 2)
    advice = (f"Try {what}={smaller}, or keep the batch and split it with grad_accum_steps=2."
              if what == "batch_size" else f"Try {what}={smaller}.")
    return BatchTooLargeError(f"{what}={batch_size} does not fit in the memory of the {device.type} device "
                              f"({said}). {advice}")


# ---- evaluation ----------------------------------------------------------------------------------------------
@torch.no_grad()
def evaluate(model: nn.Module, data: Data, loss: Loss | None = None, batch_size: int = 2048,
             device: str | torch.device | None = None) -> dict:
    """Mean loss over all samples (and accuracy for class labels, else None) without changing the model.

    ``data`` is an ``(x, y)`` pair or a split such as ``data.test`` or ``data.train``.

    >>> evaluate(model, data.test)            # doctest: +SKIP
    {'loss': 0.93, 'accuracy': 0.71}
    """
    check_module("model", model)
    check_loss(loss)
    x, y = as_pair(data, "data", split="test")
    check_features("data x", x, model)
    batch_size = check_positive_int("batch_size", batch_size)
    device = choose_device("device", device) if device is not None else _model_device(model)
    loss_fn = loss or default_loss(y)
    was_training = model.training
    model.eval()
    total_loss, correct, out_of_memory = 0.0, 0, False
    try:
        for xb, yb in Batches(x, y, batch_size, shuffle=False, seed=0):
            xb, yb = xb.to(device), yb.to(device)
            out = model(xb)
            total_loss += float(loss_fn(out, yb)) * len(xb)
            if not y.is_floating_point():
                correct += int((out.argmax(dim=1) == yb).sum())
    except Exception as exc:  # noqa: BLE001 - re-raised unless it is an allocation failure
        if not is_out_of_memory(exc):
            raise
        out_of_memory = True
    finally:
        model.train(was_training)
    if out_of_memory:  # outside the except block, so the failed batch's tensors can be freed
        raise batch_too_large("evaluate's batch_size", batch_size, device)
    return {"loss": total_loss / len(x), "accuracy": None if y.is_floating_point() else correct / len(x)}


def _model_device(model: nn.Module) -> torch.device:
    first = next(iter(model.parameters()), None)
    return first.device if first is not None else torch.device("cpu")


# ---- the loop --------------------------------------------------------------------------------------------------
def train_step(model: nn.Module, xb: torch.Tensor, yb: torch.Tensor, loss_fn: Loss,
               optimizer: torch.optim.Optimizer, scheduler=None, grad_accum_steps: int = 1) -> torch.Tensor:
    """One iteration: forward → loss → backward → update. Returns the batch's mean loss (0-d, detached).

    With ``grad_accum_steps=k`` the batch is split into k micro-batches whose gradients add up, each
    loss weighted by its share of the batch, before the one update: the same step, less memory at a time.

    >>> loss = train_step(model, xb, yb, nn.functional.cross_entropy, optimizer)   # doctest: +SKIP
    """
    optimizer.zero_grad(set_to_none=True)
    if grad_accum_steps == 1:
        loss = loss_fn(model(xb), yb)                 # forward + loss
        loss.backward()                               # backward: a gradient for every parameter
    else:
        loss = torch.zeros((), device=xb.device)
        for xm, ym in zip(xb.tensor_split(grad_accum_steps), yb.tensor_split(grad_accum_steps)):
            if len(xm):
                part = loss_fn(model(xm), ym) * (len(xm) / len(xb))
                part.backward()                       # gradients add up in .grad
                loss += part.detach()
    optimizer.step()                                  # update: p -= lr * p.grad (for plain SGD)
    if scheduler is not None:
        scheduler.step()                              # schedules count iterations, not epochs
    return loss.detach()


def train_epoch(model: nn.Module, batches: Batches, loss_fn: Loss, optimizer: torch.optim.Optimizer, *,
                scheduler=None, grad_accum_steps: int = 1, history: History, epoch: int,
                clock: Callable[[], float] = time.perf_counter, bar=None) -> None:
    """One epoch: a ``train_step`` for every batch, each recorded in ``history``; stops if the loss is NaN."""
    for xb, yb in batches:
        lr = optimizer.param_groups[0]["lr"]
        loss = train_step(model, xb, yb, loss_fn, optimizer, scheduler, grad_accum_steps)
        history.record(loss, lr=lr, batch_size=len(xb), epoch=epoch, seconds=clock())
        if bar is not None:
            bar.update(1)
        if history.diverged:
            return
    history.flush()


def _check_batch_size(batch_size: int | Callable[[int], int], epochs: int, n: int, drop_last: bool,
                      grad_accum_steps: int) -> list[int]:
    """The batch size of each epoch 1..epochs, checked."""
    if callable(batch_size):
        sizes = []
        for epoch in range(1, epochs + 1):
            value = batch_size(epoch)
            try:
                sizes.append(check_positive_int(f"batch_size({epoch})", value))
            except (TypeError, ValueError) as exc:
                raise type(exc)(f"{exc}; batch_size, when a function, maps the epoch (1, 2, ...) to a "
                                "batch size, e.g. lambda epoch: 32 * 2 ** ((epoch - 1) // 5)") from None
    else:
        sizes = [check_positive_int("batch_size", batch_size)] * epochs
    for epoch, size in enumerate(sizes, start=1):
        name = "batch_size" if not callable(batch_size) else f"batch_size({epoch})"
        if drop_last and size > n:
            raise ValueError(f"{name}={size} is larger than the {n} samples, so with drop_last=True an epoch "
                             f"has no batch at all; use {name} <= {n} or drop_last=False")
        if grad_accum_steps > size:
            raise ValueError(f"grad_accum_steps={grad_accum_steps} splits each batch into that many micro-batches, "
                             f"so it must be at most {name}={size}")
    return sizes


def _make_scheduler(scheduler: Callable | None, optimizer: torch.optim.Optimizer):
    """``scheduler(optimizer)``, checked: something train can step once per iteration without a metric."""
    if scheduler is None:
        return None
    sched = scheduler(optimizer)
    if not hasattr(sched, "step"):
        raise TypeError(f"scheduler must return an LRScheduler (something with .step()), got {type(sched).__name__}")
    if isinstance(sched, torch.optim.lr_scheduler.ReduceLROnPlateau):
        raise TypeError("scheduler returned ReduceLROnPlateau, which needs a metric at every step; train steps "
                        "its scheduler every iteration without one. Use a schedule of the iteration count "
                        "(LinearLR, CosineAnnealingLR, OneCycleLR, ...), or write the loop by hand and call "
                        "scheduler.step(val_loss) once per epoch")
    check_schedule_lengths(sched)
    return sched


def _describe(optimizer: torch.optim.Optimizer, scheduler) -> dict:
    """What a checkpoint remembers of the optimizer and scheduler, to refuse resuming with others."""
    plain = (bool, int, float, str, type(None))
    settings = {k: v for k, v in optimizer.defaults.items() if isinstance(v, plain)}
    return {"optimizer_used": f"{type(optimizer).__name__}({settings})",
            "scheduler_used": type(scheduler).__name__ if scheduler is not None else None}


def train(model: nn.Module, train_data: Data, *, epochs: int, batch_size: int | Callable[[int], int], lr: float,
          optimizer: str | Callable = "sgd", momentum: float = 0.0, weight_decay: float = 0.0,
          loss: Loss | None = None, scheduler: Callable | None = None, grad_accum_steps: int = 1,
          val_data: Data | None = None, eval_train: bool = False, device: str | torch.device | None = None,
          seed: int = 0, progress: bool = True, checkpoint: str | os.PathLike | None = None,
          shuffle: bool = True, drop_last: bool = False) -> History:
    """Train ``model`` for ``epochs`` epochs of mini-batches of ``batch_size``; return the History.

    One iteration = one batch = one parameter update; one epoch = ⌈N / batch_size⌉ iterations.
    ``batch_size`` may be a function ``epoch -> B`` (epochs counted from 1) for a batch that grows.
    ``scheduler`` is a function ``optimizer -> LRScheduler``, stepped once per iteration.
    ``grad_accum_steps=k`` splits each batch into k micro-batches (see ``train_step``).
    ``val_data`` is held-out data, e.g. ``data.test``, evaluated at every epoch end; ``eval_train=True``
    also evaluates the end-of-epoch model on the whole training set (``History.train_loss``).
    ``seed`` fixes the batch order and the random numbers the run draws (e.g. dropout) without
    touching Python's, NumPy's or torch's global random state.
    ``checkpoint=path`` saves at every epoch end and resumes from the file if it exists.
    Stop it any time (Jupyter's stop button): you get the History so far, ``interrupted=True``.

    >>> history = train(model, (x, y), epochs=3, batch_size=32, lr=0.05, progress=False)   # doctest: +SKIP
    """
    # -- check every argument before touching anything
    check_module("model", model)
    check_trainable("model", model)
    epochs = check_non_negative_int("epochs", epochs)
    if not callable(batch_size):
        check_positive_int("batch_size", batch_size)
    lr = check_positive_float("lr", lr)
    momentum = check_momentum(momentum)
    weight_decay = check_non_negative_float("weight_decay", weight_decay)
    grad_accum_steps = check_positive_int("grad_accum_steps", grad_accum_steps)
    if not (isinstance(optimizer, str) or callable(optimizer)):
        raise TypeError(f"optimizer must be 'sgd', 'adam', 'adamw' or a function, got {optimizer!r}")
    if isinstance(optimizer, str) and optimizer not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of 'sgd', 'adam', 'adamw' or a function params -> Optimizer, "
                         f"got {optimizer!r}")
    if scheduler is not None and not callable(scheduler):
        raise TypeError("scheduler must be a function optimizer -> LRScheduler, e.g. "
                        f"lambda opt: torch.optim.lr_scheduler.LinearLR(opt, 0.1, total_iters=100); got {scheduler!r}")
    check_loss(loss)
    seed = check_non_negative_int("seed", seed)
    check_bool("progress", progress)
    check_bool("eval_train", eval_train)
    check_bool("shuffle", shuffle)
    check_bool("drop_last", drop_last)
    x, y = as_pair(train_data, "train_data")
    check_features("train_data x", x, model)
    val = as_pair(val_data, "val_data", split="test") if val_data is not None else None
    if val is not None:
        check_features("val_data x", val[0], model)
    sizes = _check_batch_size(batch_size, epochs, len(x), drop_last, grad_accum_steps)
    device = choose_device("device", device)

    # -- set up and train. The stop button (KeyboardInterrupt) may come at any moment from here on, the set-up
    # included (moving the model, building the optimizer, the first batch: on a busy machine that takes
    # seconds): it always ends in the History so far, marked interrupted, never in a traceback.
    per_epoch = [iterations_per_epoch(len(x), b, drop_last) for b in sizes]
    history = History(epoch_iterations=per_epoch, val_name=getattr(val_data, "name", "validation"))
    bar = opt = sched = batches = None
    out_of_memory = False
    try:
        model.to(device)
        x, y = x.to(device), y.to(device)
        loss_fn = loss or default_loss(y)
        batches = Batches(x, y, sizes[0] if sizes else 1, shuffle=shuffle, drop_last=drop_last, seed=seed)
        opt = make_optimizer(model.parameters(), optimizer, lr, momentum, weight_decay)
        sched = _make_scheduler(scheduler, opt)
        config = {"n_samples": len(x), "batch_size": batch_size if not callable(batch_size) else "function",
                  "lr": lr, "optimizer": optimizer if isinstance(optimizer, str) else "function",
                  "momentum": momentum, "weight_decay": weight_decay, "grad_accum_steps": grad_accum_steps,
                  "seed": seed, "shuffle": shuffle, "drop_last": drop_last, **_describe(opt, sched)}

        with private_torch_seed(seed, device):
            first_epoch, time_offset = 0, 0.0
            if checkpoint is not None and Path(checkpoint).exists():
                saved, first_epoch = resume_training(checkpoint, config=config, epochs=epochs, model=model,
                                                     optimizer=opt, scheduler=sched, batches=batches, device=device)
                history = History.from_dict(saved | {"epoch_iterations": per_epoch})
                firsts = [history.batch_size[history.epoch.index(e)] for e in range(1, first_epoch + 1)]
                if firsts != [min(b, len(x)) for b in sizes[:first_epoch]]:
                    raise CheckpointError(f"checkpoint={str(checkpoint)!r} was trained with batch sizes {firsts} "
                                          "in its epochs; use the same batch_size function to resume")
                time_offset = history.time[-1] if history.time else 0.0

            bar = progress_bar(total=sum(per_epoch), initial=sum(per_epoch[:first_epoch]), enabled=progress)
            start = time.perf_counter() - time_offset
            clock = lambda: time.perf_counter() - start  # noqa: E731 - seconds since training started
            model.train()
            for epoch in range(first_epoch + 1, epochs + 1):
                bar.set_description(f"epoch {epoch}/{epochs}", refresh=False)
                batches.batch_size = sizes[epoch - 1]
                done_before = history.iterations
                train_epoch(model, batches, loss_fn, opt, scheduler=sched, grad_accum_steps=grad_accum_steps,
                            history=history, epoch=epoch, clock=clock, bar=bar)
                if history.diverged:
                    break
                seen = history.batch_size[done_before:]
                epoch_loss = sum(l * b for l, b in zip(history.loss[done_before:], seen)) / sum(seen)
                history.end_epoch(epoch_loss,
                                  val=evaluate(model, val, loss=loss_fn, device=device) if val else None,
                                  train=evaluate(model, (x, y), loss=loss_fn, device=device) if eval_train else None)
                bar.set_postfix_str(f"loss={epoch_loss:.4f}", refresh=True)
                if checkpoint is not None:
                    save_training(checkpoint, epochs_done=epoch, config=config, model=model, optimizer=opt,
                                  scheduler=sched, batches=batches, history=history, device=device)
    except KeyboardInterrupt:
        history.interrupted = True  # the finished iterations stay; the half-done one is dropped below
    except Exception as exc:  # noqa: BLE001 - re-raised unless it is an allocation failure
        if not is_out_of_memory(exc):
            raise
        out_of_memory = True
    finally:
        if bar is not None:
            bar.close()
    history.trim()
    if out_of_memory:  # outside the except block: the failed step's tensors are gone, so memory can be freed
        if opt is not None:
            opt.zero_grad(set_to_none=True)
        del opt, sched
        raise batch_too_large("batch_size", batches.batch_size if batches is not None else sizes[0], device)
    if history.interrupted:
        print(f"Interrupted after {history.iterations} iterations ({history.epochs} full epochs): "
              "the model keeps what it learned so far; the returned History has interrupted=True.")
    if history.diverged:
        print(f"Stopped at iteration {history.iterations} (epoch {history.epoch[-1]}): the loss became "
              f"{history.loss[-1]}. The learning rate lr={lr:g} is too large here: try lr={lr / 10:g}.")
    return history
