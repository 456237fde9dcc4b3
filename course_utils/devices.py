"""Which device trains — CUDA GPU, else Apple MPS, else CPU — said out loud; and how many CPU threads.

    >>> device = pick_device()          # cuda if there is one, else mps, else cpu
    >>> describe_device(device)         # 'CPU: 2 cores, 23.4 GiB memory (no GPU found)'
    'CPU: ...'

Set the environment variable ``COURSE_DEVICE=cpu`` (or call ``pick_device("cpu")``) to force one.
Memory and waiting use PyTorch's device-generic ``torch.accelerator`` API, so CUDA and MPS (and any
other accelerator PyTorch supports) take the same path.

**CPU threads, course-wide.** ``import course_utils`` calls ``use_cpu_threads()``, which sets PyTorch to
**one** CPU thread (the environment variable ``COURSE_THREADS=n`` chooses another number). Two reasons:
(1) results are then bitwise the same on every machine — the sum of many numbers split over a
different number of threads is rounded differently — so the stored outputs of the notebooks come out
again on a learner's laptop; (2) the course's models are small: on the 2-core reference machine two
threads made them 4–20× *slower* (see ``benchmarks/README.md``). It does not affect a GPU.
"""
from __future__ import annotations

import gc
import os

import torch

from .checks import check_positive_int

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
    return choose_device("prefer", prefer)


def choose_device(name: str, value: str | torch.device | None) -> torch.device:
    """``pick_device(value)``, with the argument called ``name`` in the error messages.

    The helpers that take ``device=...`` call it with ``name="device"``, so a bad value is reported under
    the name the learner typed:

    >>> choose_device("device", "tpu")
    Traceback (most recent call last):
    ...
    ValueError: device must be None, 'cuda', 'mps', 'cpu' or a torch.device, got 'tpu'
    """
    source = name
    if value is None and os.environ.get("COURSE_DEVICE"):
        value, source = os.environ["COURSE_DEVICE"].strip().lower(), "the environment variable COURSE_DEVICE"
    if value is None:
        for kind in DEVICE_NAMES:
            if _available(kind):
                return torch.device(kind)
    if isinstance(value, torch.device):
        value = str(value)
    if not isinstance(value, str):
        raise TypeError(f"{name} must be None, 'cuda', 'mps', 'cpu' or a torch.device, got {value!r}")
    kind = value.split(":")[0]
    if kind not in DEVICE_NAMES:
        raise ValueError(f"{source} must be None, 'cuda', 'mps', 'cpu' or a torch.device, got {value!r}"
                         if source == name else f"{source} must be one of 'cuda', 'mps', 'cpu', got {value!r}")
    if not _available(kind):
        found = [k for k in DEVICE_NAMES if _available(k)]
        raise ValueError(f"{source} asks for {value!r}, but this machine has no {kind.upper()} device; "
                         f"available here: {', '.join(found)}")
    return torch.device(value)


def accelerator_memory(device: torch.device) -> tuple[int, int] | None:
    """``(free, total)`` bytes of a GPU's memory, or None for the CPU (or if PyTorch cannot tell)."""
    if device.type == "cpu":
        return None
    try:
        if hasattr(torch.accelerator, "get_memory_info"):
            return tuple(torch.accelerator.get_memory_info(device))  # torch >= 2.10, CUDA and others
        if device.type == "cuda":
            return tuple(torch.cuda.mem_get_info(device))
    except (RuntimeError, ValueError):
        pass
    return None


def free_device_memory(device: torch.device) -> None:
    """Collect Python's garbage and, on a GPU, give the allocator's cached blocks back to the device.

    Call it after the big tensors are gone (after leaving an ``except`` block whose traceback held them).
    """
    gc.collect()
    if device.type != "cpu":
        torch.accelerator.empty_cache()


def _system_memory_gib() -> float | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (ValueError, OSError, AttributeError):
        return None


def describe_device(device: str | torch.device | None = None) -> str:
    """One line saying which device is used, its name and memory.

    >>> describe_device("cpu")    # doctest: +SKIP
    'CPU: 2 cores, 23.4 GiB memory, 1 PyTorch thread (no CUDA or MPS GPU found, so the course trains on the CPU)'
    """
    device = choose_device("device", device)
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        return f"CUDA GPU: {props.name}, {props.total_memory / 2**30:.1f} GiB memory"
    if device.type == "mps":
        memory = _system_memory_gib()
        shared = f", sharing {memory:.1f} GiB memory with the CPU" if memory else ""
        return f"Apple MPS GPU{shared}"
    memory = _system_memory_gib()
    size = f", {memory:.1f} GiB memory" if memory else ""
    threads = torch.get_num_threads()
    reason = (" (a GPU is present but CPU was asked for)" if any(_available(k) for k in ("cuda", "mps"))
              else " (no CUDA or MPS GPU found, so the course trains on the CPU)")
    return f"CPU: {os.cpu_count()} cores{size}, {threads} PyTorch thread{'s' * (threads != 1)}{reason}"


def use_cpu_threads(threads: int | None = None) -> int:
    """Set how many CPU threads PyTorch uses: ``threads``, else ``$COURSE_THREADS``, else 1. Returns it.

    The course's policy is one thread (see this module's docstring for why); call
    ``use_cpu_threads(4)`` to try more on a big CPU, e.g. when measuring speed in notebook 07.

    >>> use_cpu_threads()
    1
    """
    source = "threads"
    if threads is None:
        text = os.environ.get("COURSE_THREADS", "").strip()
        if text:
            source = "the environment variable COURSE_THREADS"
            try:
                threads = int(text)
            except ValueError:
                raise ValueError(f"{source} must be a whole number such as 1 or 4, got {text!r}") from None
        else:
            threads = 1
    threads = check_positive_int(source, threads)
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
    return threads
