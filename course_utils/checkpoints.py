"""Saving a training run at each epoch end so that it can be resumed exactly.

The file is written to a temporary name and then renamed, so a crash mid-save never leaves a
half-written checkpoint (nor the temporary file), and it is read with ``torch.load(...,
weights_only=True)`` onto the CPU; ``load_state_dict`` then puts each tensor where it belongs
(the model's and optimizer's on the training device, the batch order's random state on the CPU).

    >>> save_checkpoint("run.pt", {"epochs_done": 1, "model": {}})   # doctest: +SKIP
    >>> load_checkpoint("run.pt")["epochs_done"]                     # doctest: +SKIP
    1
"""
from __future__ import annotations

import os
from pathlib import Path

import torch

# What every checkpoint written by ``train`` holds; a file without one of these is refused.
REQUIRED_KEYS = ("epochs_done", "config", "model", "optimizer", "scheduler", "batches", "torch_rng",
                 "gpu_rng", "history")


class CheckpointError(RuntimeError):
    """A checkpoint file exists but cannot be used."""


def save_checkpoint(path: str | os.PathLike, state: dict) -> None:
    """Write ``state`` to ``path`` atomically (temporary file, then rename); on failure nothing is left."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    try:
        torch.save(state, temporary)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def load_checkpoint(path: str | os.PathLike, required: tuple[str, ...] = ("epochs_done", "model")) -> dict:
    """Read a checkpoint written by ``save_checkpoint`` onto the CPU; a broken or incomplete file raises
    ``CheckpointError`` (and is left untouched)."""
    path = Path(path)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any failure to read means the same thing to the learner
        raise CheckpointError(
            f"checkpoint={str(path)!r} exists but cannot be read ({type(exc).__name__}: {str(exc)[:120]}). "
            "It was left untouched: delete it to start training from scratch, or pass another path."
        ) from None
    if not isinstance(state, dict):
        raise CheckpointError(f"checkpoint={str(path)!r} is not a course_utils training checkpoint; "
                              "it was left untouched: delete it or pass another path.")
    missing = [key for key in required if key not in state]
    if missing:
        raise CheckpointError(f"checkpoint={str(path)!r} lacks {', '.join(missing)}: it is not a complete "
                              "course_utils training checkpoint (or comes from an older version); it was left "
                              "untouched: delete it to start afresh, or pass another path.")
    return state


def _gpu_rng_state(device: torch.device) -> torch.Tensor | None:
    if device.type == "cuda":
        return torch.cuda.get_rng_state(device)
    if device.type == "mps":
        return torch.mps.get_rng_state()
    return None


def _set_gpu_rng_state(device: torch.device, state: torch.Tensor | None) -> None:
    if state is None:
        return
    if device.type == "cuda":
        torch.cuda.set_rng_state(state, device)
    elif device.type == "mps":
        torch.mps.set_rng_state(state)


def save_training(path: str | os.PathLike, *, epochs_done: int, config: dict, model, optimizer, scheduler,
                  batches, history, device: torch.device) -> None:
    """Save everything ``train`` needs to go on exactly where it stopped."""
    save_checkpoint(path, {
        "epochs_done": epochs_done, "config": config, "model": model.state_dict(),
        "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict() if scheduler is not None else None,
        "batches": batches.state_dict(), "torch_rng": torch.get_rng_state(), "gpu_rng": _gpu_rng_state(device),
        "history": history.to_dict()})


def resume_training(path: str | os.PathLike, *, config: dict, epochs: int, model, optimizer, scheduler,
                    batches, device: torch.device) -> tuple[dict, int]:
    """Load a checkpoint saved by ``save_training`` into the model, optimizer, scheduler and batches.

    Returns ``(history_dict, epochs_done)``. Refuses (``CheckpointError``) a file made with other
    settings, and (``ValueError``) one that already holds more than ``epochs`` epochs.
    """
    state = load_checkpoint(path, required=REQUIRED_KEYS)
    saved = state["config"]
    different = {k: (saved.get(k), v) for k, v in config.items() if saved.get(k) != v}
    different |= {k: (v, None) for k, v in saved.items() if k not in config}
    if different:
        said = ", ".join(f"{k}: checkpoint {old!r}, now {new!r}" for k, (old, new) in different.items())
        raise CheckpointError(f"checkpoint={str(path)!r} was made with other settings ({said}); "
                              "use the same settings to resume, or another path to start afresh")
    if state["epochs_done"] > epochs:
        raise ValueError(f"checkpoint={str(path)!r} already holds {state['epochs_done']} epochs; "
                         f"ask for epochs >= {state['epochs_done']} (got epochs={epochs})")
    try:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])  # moves its state to the parameters' device
        if scheduler is not None:
            scheduler.load_state_dict(state["scheduler"])
        batches.load_state_dict(state["batches"])
        torch.set_rng_state(state["torch_rng"])
        _set_gpu_rng_state(device, state["gpu_rng"])
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise CheckpointError(f"checkpoint={str(path)!r} does not fit this model or optimizer "
                              f"({type(exc).__name__}: {str(exc)[:160]}); it was left untouched: pass another "
                              "path to start afresh") from None
    return state["history"], state["epochs_done"]
