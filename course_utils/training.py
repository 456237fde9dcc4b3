"""The training loop: epochs of iterations, each one forward → loss → backward → update.

    >>> data = load_dataset("mnist1d")
    >>> model = torch.nn.Sequential(torch.nn.Linear(40, 100), torch.nn.ReLU(), torch.nn.Linear(100, 10))
    >>> history = train(model, data, epochs=5, batch_size=64, lr=0.1, val_data=data)   # doctest: +SKIP
    >>> evaluate(model, (data.x_test, data.y_test))                                     # doctest: +SKIP
    {'loss': 1.21..., 'accuracy': 0.56...}

Written out by hand, one epoch of ``train`` is::

    for xb, yb in Batches(x, y, batch_size):     # one iteration per batch
        loss = loss_fn(model(xb), yb)            # forward + loss
        optimizer.zero_grad(); loss.backward()   # backward
        optimizer.step(); scheduler.step()       # update (the scheduler steps every iteration)
"""
from __future__ import annotations

import gc
import math
import os
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from .batching import Batches
from .checkpoints import CheckpointError, load_checkpoint, save_checkpoint
from .checks import (check_bool, check_finite, check_non_negative_float, check_non_negative_int,
                     check_positive_float, check_positive_int, check_tensor)
from .data import Dataset
from .devices import describe_device, pick_device
from .history import History
from .progress import progress_bar
from .seeding import seed_everything

OPTIMIZERS = ("sgd", "adam", "adamw")
Data = Dataset | tuple[torch.Tensor, torch.Tensor]


class BatchTooLargeError(RuntimeError):
    """The batch does not fit in the device's memory (CUDA/MPS out of memory)."""


def as_pair(data: Data, name: str, split: str = "train") -> tuple[torch.Tensor, torch.Tensor]:
    """``(x, y)`` from a pair or from a ``Dataset`` (its ``split``: "train" or "test"), checked."""
    if isinstance(data, Dataset):
        x, y = getattr(data, f"x_{split}"), getattr(data, f"y_{split}")
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
    if output.dim() == target.dim() + 1 and output.shape[-1] == 1:
        output = output.squeeze(-1)  # a model with one output unit gives (N, 1); targets are (N,)
    return nn.functional.mse_loss(output, target)


def default_loss(y: torch.Tensor) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """Cross-entropy for integer class labels, mean squared error for float targets."""
    return _mse if y.is_floating_point() else nn.functional.cross_entropy


def make_optimizer(params, optimizer: str | Callable, lr: float, momentum: float = 0.0,
                   weight_decay: float = 0.0) -> torch.optim.Optimizer:
    """Build "sgd", "adam" or "adamw", or call ``optimizer(params)`` if it is a function."""
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


def _is_out_of_memory(exc: BaseException) -> bool:
    return isinstance(exc, torch.OutOfMemoryError) or (
        isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower())


def _too_large(batch_size: int, device: torch.device) -> BatchTooLargeError:
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()
        free, total = torch.cuda.mem_get_info(device)
        memory = f"{total / 2**30:.1f} GiB in all, {free / 2**30:.1f} GiB free after emptying the cache"
    else:
        if device.type == "mps":
            torch.mps.empty_cache()
        memory = describe_device(device)
    smaller = max(1, batch_size // 2)
    return BatchTooLargeError(
        f"batch_size={batch_size} does not fit in the memory of the {device.type} device ({memory}). "
        f"Try batch_size={smaller}, or keep the batch and split it with grad_accum_steps=2.")


@torch.no_grad()
def evaluate(model: nn.Module, data: Data, loss: Callable | None = None, batch_size: int = 2048,
             device: str | torch.device | None = None) -> dict:
    """Mean loss over all samples (and accuracy for class labels, else None) without changing the model.

    ``data`` is an ``(x, y)`` pair or a Dataset (its test split).

    >>> evaluate(model, (x, y))            # doctest: +SKIP
    {'loss': 0.93, 'accuracy': 0.71}
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    x, y = as_pair(data, "data", split="test")
    batch_size = check_positive_int("batch_size", batch_size)
    device = torch.device(device) if device is not None else _model_device(model)
    loss_fn = loss or default_loss(y)
    was_training = model.training
    model.eval()
    total_loss, correct = 0.0, 0
    try:
        for xb, yb in Batches(x, y, batch_size, shuffle=False, seed=0):
            xb, yb = xb.to(device), yb.to(device)
            out = model(xb)
            total_loss += float(loss_fn(out, yb)) * len(xb)
            if not y.is_floating_point():
                correct += int((out.argmax(dim=1) == yb).sum())
    except Exception as exc:
        if _is_out_of_memory(exc):
            raise _too_large(batch_size, device) from None
        raise
    finally:
        model.train(was_training)
    return {"loss": total_loss / len(x), "accuracy": None if y.is_floating_point() else correct / len(x)}


def _model_device(model: nn.Module) -> torch.device:
    first = next(iter(model.parameters()), None)
    return first.device if first is not None else torch.device("cpu")


def train(model: nn.Module, train_data: Data, *, epochs: int, batch_size: int, lr: float,
          optimizer: str | Callable = "sgd", momentum: float = 0.0, weight_decay: float = 0.0,
          loss: Callable | None = None, scheduler: Callable | None = None, grad_accum_steps: int = 1,
          val_data: Data | None = None, device: str | torch.device | None = None, seed: int = 0,
          progress: bool = True, checkpoint: str | os.PathLike | None = None, shuffle: bool = True,
          drop_last: bool = False) -> History:
    """Train ``model`` for ``epochs`` epochs of mini-batches of ``batch_size``; return the History.

    One iteration = one batch = one parameter update; one epoch = ⌈N / batch_size⌉ iterations.
    ``scheduler`` is a function ``optimizer -> LRScheduler`` stepped once per iteration.
    ``grad_accum_steps=k`` splits each batch into k micro-batches and adds their gradients before the
    one update, so the update equals that of the whole batch with less memory at a time.
    ``checkpoint=path`` saves at every epoch end and resumes from the file if it exists.
    Stop it any time (Jupyter's stop button): you get the History so far, ``interrupted=True``.

    >>> history = train(model, (x, y), epochs=3, batch_size=32, lr=0.05, progress=False)   # doctest: +SKIP
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module (e.g. nn.Linear(40, 10)), got {type(model).__name__}")
    epochs = check_non_negative_int("epochs", epochs)
    batch_size = check_positive_int("batch_size", batch_size)
    lr = check_positive_float("lr", lr)
    momentum = check_non_negative_float("momentum", momentum)
    weight_decay = check_non_negative_float("weight_decay", weight_decay)
    grad_accum_steps = check_positive_int("grad_accum_steps", grad_accum_steps)
    if grad_accum_steps > batch_size:
        raise ValueError(f"grad_accum_steps={grad_accum_steps} splits each batch into that many micro-batches, "
                         f"so it must be at most batch_size={batch_size}")
    if not (isinstance(optimizer, str) or callable(optimizer)):
        raise TypeError(f"optimizer must be 'sgd', 'adam', 'adamw' or a function, got {optimizer!r}")
    if isinstance(optimizer, str) and optimizer not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of 'sgd', 'adam', 'adamw' or a function params -> Optimizer, "
                         f"got {optimizer!r}")
    if scheduler is not None and not callable(scheduler):
        raise TypeError("scheduler must be a function optimizer -> LRScheduler, e.g. "
                        f"lambda opt: torch.optim.lr_scheduler.LinearLR(opt, 0.1, total_iters=100); got {scheduler!r}")
    if loss is not None and not callable(loss):
        raise TypeError(f"loss must be a function (output, target) -> scalar tensor, got {loss!r}")
    seed = check_non_negative_int("seed", seed)
    check_bool("progress", progress)
    x, y = as_pair(train_data, "train_data")
    val = as_pair(val_data, "val_data", split="test") if val_data is not None else None

    device = pick_device(device)
    model.to(device)
    x, y = x.to(device), y.to(device)
    loss_fn = loss or default_loss(y)
    seed_everything(seed)
    batches = Batches(x, y, batch_size, shuffle=shuffle, drop_last=drop_last, seed=seed)
    opt = make_optimizer(model.parameters(), optimizer, lr, momentum, weight_decay)
    sched = scheduler(opt) if scheduler is not None else None
    if sched is not None and not hasattr(sched, "step"):
        raise TypeError(f"scheduler must return an LRScheduler (something with .step()), got {type(sched).__name__}")
    history = History(iterations_per_epoch=len(batches))
    config = {"n_samples": len(x), "batch_size": batch_size, "lr": lr,
              "optimizer": optimizer if isinstance(optimizer, str) else "function", "momentum": momentum,
              "weight_decay": weight_decay, "grad_accum_steps": grad_accum_steps, "seed": seed,
              "shuffle": shuffle, "drop_last": drop_last}

    first_epoch, time_offset = 0, 0.0
    if checkpoint is not None and Path(checkpoint).exists():
        state = load_checkpoint(checkpoint, device)
        different = {k: (state["config"].get(k), v) for k, v in config.items() if state["config"].get(k) != v}
        if different:
            said = ", ".join(f"{k}: checkpoint {old!r}, now {new!r}" for k, (old, new) in different.items())
            raise CheckpointError(f"checkpoint={str(checkpoint)!r} was made with other settings ({said}); "
                                  "use the same settings to resume, or another path to start afresh")
        if state["epochs_done"] > epochs:
            raise ValueError(f"checkpoint={str(checkpoint)!r} already holds {state['epochs_done']} epochs; "
                             f"ask for epochs >= {state['epochs_done']} (got epochs={epochs})")
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        if sched is not None and state["scheduler"] is not None:
            sched.load_state_dict(state["scheduler"])
        batches.load_state_dict(state["batches"])
        torch.set_rng_state(state["torch_rng"].cpu())
        if device.type == "cuda" and state.get("cuda_rng") is not None:
            torch.cuda.set_rng_state(state["cuda_rng"].cpu(), device)
        history = History.from_dict(state["history"])
        first_epoch = state["epochs_done"]
        time_offset = history.time[-1] if history.time else 0.0

    def save(epochs_done: int) -> None:
        save_checkpoint(checkpoint, {
            "epochs_done": epochs_done, "config": config, "model": model.state_dict(),
            "optimizer": opt.state_dict(), "scheduler": sched.state_dict() if sched is not None else None,
            "batches": batches.state_dict(), "torch_rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state(device) if device.type == "cuda" else None,
            "history": history.to_dict()})

    def one_update(xb: torch.Tensor, yb: torch.Tensor) -> torch.Tensor:
        opt.zero_grad(set_to_none=True)
        if grad_accum_steps == 1:
            batch_loss = loss_fn(model(xb), yb)
            batch_loss.backward()
            batch_loss = batch_loss.detach()
        else:  # micro-batches, each weighted by its share of the batch: the same gradient as one pass
            batch_loss = torch.zeros((), device=device)
            for xm, ym in zip(xb.tensor_split(grad_accum_steps), yb.tensor_split(grad_accum_steps)):
                if len(xm):
                    part = loss_fn(model(xm), ym) * (len(xm) / len(xb))
                    part.backward()
                    batch_loss += part.detach()
        opt.step()
        if sched is not None:
            sched.step()
        return batch_loss

    # Losses stay on the device and are fetched in bulk: on a GPU, reading one number per iteration
    # would make the CPU wait for the GPU every time. On the CPU reading it costs nothing.
    flush_every_iteration = device.type == "cpu"
    pending: list[torch.Tensor] = []
    last_flush = time.perf_counter()

    def flush() -> bool:
        """Move pending losses into the history; False if one is NaN or infinite."""
        nonlocal last_flush
        last_flush = time.perf_counter()
        if not pending:
            return True
        values = torch.stack(pending).tolist()
        pending.clear()
        start = len(history.loss)
        history.loss.extend(values)
        for k, value in enumerate(values):
            if not math.isfinite(value):
                cut = start + k + 1  # keep the first bad value, forget the updates after it
                for record in (history.loss, history.lr, history.batch_size, history.epoch, history.time):
                    del record[cut:]
                return False
        return True

    model.train()
    total = (epochs - first_epoch) * len(batches)
    bar = progress_bar(total=history.iterations + total, initial=history.iterations, enabled=progress)
    t0 = time.perf_counter() - time_offset
    try:
        for epoch in range(first_epoch + 1, epochs + 1):
            bar.set_description(f"epoch {epoch}/{epochs}", refresh=False)
            for xb, yb in batches:
                history.lr.append(opt.param_groups[0]["lr"])
                pending.append(one_update(xb, yb))
                history.batch_size.append(len(xb))
                history.epoch.append(epoch)
                history.time.append(time.perf_counter() - t0)
                bar.update(1)
                if flush_every_iteration or time.perf_counter() - last_flush > 0.5:
                    if not flush():
                        history.diverged = True
                        break
                    bar.set_postfix_str(f"loss={history.loss[-1]:.4f}", refresh=False)
            if history.diverged or not flush():
                history.diverged = True
                break
            done = history.epoch.count(epoch)
            seen = history.batch_size[-done:]
            history.epoch_loss.append(sum(l * b for l, b in zip(history.loss[-done:], seen)) / sum(seen))
            if val is not None:
                result = evaluate(model, val, loss=loss_fn, device=device)
                history.val_loss.append(result["loss"])
                if result["accuracy"] is not None:
                    history.val_accuracy.append(result["accuracy"])
            bar.set_postfix_str(f"loss={history.epoch_loss[-1]:.4f}", refresh=True)
            if checkpoint is not None:
                save(epoch)
    except KeyboardInterrupt:
        pending.clear()  # the interrupted iteration may be half done; keep only whole ones
        n = len(history.loss)
        for record in (history.lr, history.batch_size, history.epoch, history.time):
            del record[n:]
        history.interrupted = True
    except Exception as exc:
        if _is_out_of_memory(exc):
            pending.clear()
            opt.zero_grad(set_to_none=True)
            bar.close()
            raise _too_large(batch_size, device) from None
        raise
    finally:
        bar.close()
    if history.interrupted:
        print(f"Interrupted after {history.iterations} iterations ({history.epochs} full epochs): "
              "the model keeps what it learned so far; the returned History has interrupted=True.")
    if history.diverged:
        print(f"Stopped at iteration {history.iterations} (epoch {history.epoch[-1]}): the loss became "
              f"{history.loss[-1]}. The learning rate lr={lr:g} is too large here: try lr={lr / 10:g}.")
    return history
