"""Which device trains: CUDA GPU, else Apple MPS, else CPU — and saying so out loud.

    >>> device = pick_device()          # cuda if there is one, else mps, else cpu
    >>> describe_device(device)         # 'CPU: 2 cores, 23.4 GiB memory (no GPU found)'
    'CPU: ...'

Set the environment variable ``COURSE_DEVICE=cpu`` (or call ``pick_device("cpu")``) to force one.
"""
from __future__ import annotations

import os

import torch

DEVICE_NAMES = ("cuda", "mps", "cpu")


def _available(kind: str) -> bool:
    if kind == "cuda":
        return torch.cuda.is_available()
    if kind == "mps":
        return hasattr(torch.backends, "mps") and torch.backends.mps.is_available()
    return kind == "cpu"


def pick_device(prefer: str | torch.device | None = None) -> torch.device:
    """Return the device to train on: CUDA, else Apple MPS, else CPU.

    ``prefer`` ("cuda", "mps", "cpu" or a ``torch.device``) or the environment variable
    ``COURSE_DEVICE`` forces one; asking for a device that is not there raises ``ValueError``.

    >>> pick_device("cpu")
    device(type='cpu')
    """
    source = "prefer"
    if prefer is None and os.environ.get("COURSE_DEVICE"):
        prefer, source = os.environ["COURSE_DEVICE"].strip().lower(), "the environment variable COURSE_DEVICE"
    if prefer is None:
        for kind in DEVICE_NAMES:
            if _available(kind):
                return torch.device(kind)
    if isinstance(prefer, torch.device):
        prefer = str(prefer)
    if not isinstance(prefer, str):
        raise TypeError(f"prefer must be None, 'cuda', 'mps', 'cpu' or a torch.device, got {prefer!r}")
    kind = prefer.split(":")[0]
    if kind not in DEVICE_NAMES:
        raise ValueError(f"{source} must be one of 'cuda', 'mps', 'cpu', got {prefer!r}")
    if not _available(kind):
        found = [k for k in DEVICE_NAMES if _available(k)]
        raise ValueError(f"{source} asks for {prefer!r}, but this machine has no {kind.upper()} device; "
                         f"available here: {', '.join(found)}")
    return torch.device(prefer)


def _system_memory_gib() -> float | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (ValueError, OSError, AttributeError):
        return None


def describe_device(device: str | torch.device | None = None) -> str:
    """One line saying which device is used, its name and memory.

    >>> describe_device("cpu")    # doctest: +SKIP
    'CPU: 2 cores, 23.4 GiB memory (no CUDA or MPS GPU found, so the course trains on the CPU)'
    """
    device = pick_device(device)
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        return f"CUDA GPU: {props.name}, {props.total_memory / 2**30:.1f} GiB memory"
    if device.type == "mps":
        memory = _system_memory_gib()
        shared = f", sharing {memory:.1f} GiB memory with the CPU" if memory else ""
        return f"Apple MPS GPU{shared}"
    memory = _system_memory_gib()
    size = f", {memory:.1f} GiB memory" if memory else ""
    reason = ("" if not any(_available(k) for k in ("cuda", "mps"))
              else " (a GPU is present but CPU was asked for)")
    if not reason:
        reason = " (no CUDA or MPS GPU found, so the course trains on the CPU)"
    return f"CPU: {os.cpu_count()} cores{size}{reason}"
