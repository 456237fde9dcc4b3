"""Saving a training run at each epoch end so that it can be resumed exactly.

The file is written to a temporary name and then renamed, so a crash mid-save never leaves a
half-written checkpoint, and it is read with ``torch.load(..., weights_only=True)``.

    >>> save_checkpoint("run.pt", {"epochs_done": 1})       # doctest: +SKIP
    >>> load_checkpoint("run.pt")["epochs_done"]             # doctest: +SKIP
    1
"""
from __future__ import annotations

import os
from pathlib import Path

import torch


class CheckpointError(RuntimeError):
    """A checkpoint file exists but cannot be used."""


def save_checkpoint(path: str | os.PathLike, state: dict) -> None:
    """Write ``state`` to ``path`` atomically (temporary file, then rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    torch.save(state, temporary)
    os.replace(temporary, path)


def load_checkpoint(path: str | os.PathLike, device: str | torch.device = "cpu") -> dict:
    """Read a checkpoint written by ``save_checkpoint``; a broken file raises ``CheckpointError``."""
    path = Path(path)
    try:
        state = torch.load(path, map_location=device, weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any failure to read means the same thing to the learner
        raise CheckpointError(
            f"checkpoint={str(path)!r} exists but cannot be read ({type(exc).__name__}: {str(exc)[:120]}). "
            "It was left untouched: delete it to start training from scratch, or pass another path."
        ) from None
    if not isinstance(state, dict) or "epochs_done" not in state or "model" not in state:
        raise CheckpointError(f"checkpoint={str(path)!r} is not a course_utils training checkpoint; "
                              "it was left untouched: delete it or pass another path.")
    return state
