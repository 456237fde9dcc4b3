"""The memory of a batch: what the forward pass produces, and what autograd keeps of it for backward.

    >>> model = nn.Sequential(nn.Linear(40, 100), nn.ReLU(), nn.Linear(100, 10))
    >>> activation_bytes(model, torch.zeros(64, 40))    # every layer's output: (6400 + 6400 + 640) · 4 bytes
    53760
    >>> saved_bytes(model, torch.zeros(64, 40), torch.zeros(64, dtype=torch.long))   # doctest: +SKIP

Both grow linearly with the batch size B: this memory, not the weights, is what a larger batch costs.
``activation_bytes`` is the simple count; ``saved_bytes`` is the true one (see their docstrings).
"""
from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from .checks import check_features, check_loss, check_module, check_tensor
from .training import default_loss


def activation_bytes(model: nn.Module, x: torch.Tensor) -> int:
    """Bytes of the outputs of every leaf layer in one forward pass of ``x``: the simple count.

    It grows linearly with the batch size. It is *not* what backward keeps: autograd saves only
    what each operation's backward needs (a Linear its input, a ReLU its output, so a tensor that one
    layer outputs and the next takes in is kept once) — ``saved_bytes`` measures that.

    >>> activation_bytes(nn.Linear(10, 15), torch.zeros(4, 10))   # 4 samples × 15 outputs × 4 bytes
    240
    """
    check_module("model", model)
    x = check_tensor("x", x)
    total = 0

    def count(_module, _inputs, output):
        nonlocal total
        if isinstance(output, torch.Tensor):
            total += output.numel() * output.element_size()

    leaves = [m for m in model.modules() if not list(m.children())]
    hooks = [m.register_forward_hook(count) for m in leaves]
    try:
        with torch.no_grad():
            model(x)
    finally:
        for h in hooks:
            h.remove()
    return total


def saved_bytes(model: nn.Module, x: torch.Tensor, y: torch.Tensor, loss: Callable | None = None) -> int:
    """Bytes that autograd keeps from the forward pass and the loss until ``backward`` — activation memory.

    Runs ``loss(model(x), y)`` once with gradients on, and sees every tensor that autograd saves for the
    backward pass (``torch.autograd.graph.saved_tensors_hooks``). Each block of memory (storage) is counted
    once, even when several operations save it (a ReLU's output is saved by the ReLU and, as the next
    Linear's input, by that Linear too): from the first to the last byte the saved tensors reach in it.
    Not counted: the parameters and buffers of the model (a Linear saves its weight, which exists anyway).
    Counted: everything else saved, including the input batch ``x`` (the first Linear saves it) and the
    targets (cross-entropy saves them), and small constants (cross-entropy saves a 4-byte scalar). So the
    count is a·B + c for a batch of B samples, with c a few bytes. No backward runs, nothing is changed.
    ``loss`` defaults as in ``train``: cross-entropy for class labels, mean squared error for float targets.

    >>> model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 1))
    >>> saved_bytes(model, torch.zeros(10, 8), torch.zeros(10))   # float32: 4 bytes per number
    1040

    Here: x (10·8·4 = 320, saved by the first Linear), the ReLU output (10·16·4 = 640, saved by the ReLU
    and by the second Linear: counted once), the model output and the targets (10·4 = 40 each, saved by
    the mean squared error).
    """
    check_module("model", model)
    x, y = check_tensor("x", x), check_tensor("y", y)
    if len(x) != len(y):
        raise ValueError(f"x and y must have the same number of samples, got len(x)={len(x)} and len(y)={len(y)}")
    if len(x) == 0:
        raise ValueError(f"x is an empty batch (shape {tuple(x.shape)}): saved_bytes measures the memory of a "
                         "batch, so give it at least one sample, e.g. x[:1] and y[:1]")
    check_loss(loss)
    check_features("x", x, model)
    loss_fn = loss or default_loss(y)
    own = {t.untyped_storage().data_ptr() for t in (*model.parameters(), *model.buffers())}
    spans: dict[int, tuple[int, int]] = {}  # storage address -> (first byte, end byte) that saved tensors reach

    def pack(t: torch.Tensor) -> torch.Tensor:
        address = t.untyped_storage().data_ptr()
        if address in own or t.numel() == 0:
            return t
        size = t.element_size()
        first = t.storage_offset() * size
        last = first + (1 + sum((n - 1) * s for n, s in zip(t.shape, t.stride()))) * size
        old = spans.get(address, (first, last))
        spans[address] = (min(old[0], first), max(old[1], last))
        return t

    with torch.enable_grad(), torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        loss_fn(model(x), y)
    return sum(end - start for start, end in spans.values())
