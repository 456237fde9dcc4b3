"""Sharpness: the largest curvature of the training loss at the current parameters.

    >>> model = torch.nn.Sequential(torch.nn.Linear(40, 100), torch.nn.ReLU(), torch.nn.Linear(100, 10))
    >>> sharpness(model, load_dataset("mnist1d"))          # doctest: +SKIP
    3.1...

The Hessian H of the loss (the matrix of its second derivatives with respect to all P parameters) says
how fast the loss curves along each direction; its largest eigenvalue λ_max is the curvature along the
steepest direction. A "sharp" minimum has a large λ_max, a "flat" one a small λ_max (Keskar et al. 2017,
arXiv:1609.04836). H is never built: power iteration needs only products H·v, one pass over the data each.
"""
from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn
from torch.func import functional_call, grad, vjp

from .checks import (check_features, check_loss, check_module, check_non_negative_int, check_positive_int,
                     check_trainable)
from .training import Data, as_pair, default_loss


def sharpness(model: nn.Module, data: Data, *, iterations: int = 20, loss: Callable | None = None,
              seed: int = 0, batch_size: int = 1024) -> float:
    """Largest eigenvalue of the Hessian of the mean training loss over all samples of ``data``.

    ``data`` is an ``(x, y)`` pair or a Dataset (its train split). ``loss`` is a function
    ``(output, target) -> mean loss of the batch`` (default: cross-entropy for class labels, mean squared
    error for float targets, as in ``train``). Power iteration runs ``iterations`` Hessian-vector products
    from a random unit vector drawn from ``seed``, then returns the Rayleigh quotient vᵀHv. Each product
    goes through the data in batches of ``batch_size`` samples, each weighted by its share of the samples,
    so the answer is that of the whole data set (up to rounding) whatever ``batch_size`` is, and memory
    stays bounded.

    Power iteration finds the eigenvalue of largest *magnitude*. Near a minimum the Hessian has no large
    negative eigenvalue, so that is the largest one; elsewhere (at initialization, early in training) a
    negative eigenvalue can be the largest in magnitude, and then the answer is negative. It converges
    slowly when the two largest eigenvalues are close in magnitude: raise ``iterations`` to check.

    The model is evaluated in eval mode (dropout off, batch norm uses its running statistics) and left as it
    was: its parameters, their ``.grad``, its train/eval mode and the global random state do not change.

    >>> x, y = torch.tensor([[1.0], [3.0]]), torch.tensor([0.0, 0.0])
    >>> round(sharpness(nn.Linear(1, 1, bias=False), (x, y)), 4)   # loss = mean((w·x)²): H = 2·mean(x²) = 10
    10.0
    """
    check_module("model", model)
    iterations = check_positive_int("iterations", iterations)
    seed = check_non_negative_int("seed", seed)
    batch_size = check_positive_int("batch_size", batch_size)
    check_loss(loss)
    x, y = as_pair(data, "data")
    params = {name: p.detach() for name, p in check_trainable("model", model).items()}
    check_features("data x", x, model)
    loss_fn = loss or default_loss(y)
    first = next(iter(params.values()))
    device, dtype = first.device, first.dtype
    n = len(x)
    splits = list(zip(x.split(batch_size), y.split(batch_size)))

    def batch_loss(p: dict, xb: torch.Tensor, yb: torch.Tensor) -> torch.Tensor:
        return loss_fn(functional_call(model, p, (xb,)), yb)

    def hessian_times(v: dict) -> dict:
        """H·v for the mean loss over all n samples: Σ over batches of (batch size / n) · H_batch·v."""
        total = {name: torch.zeros_like(t) for name, t in params.items()}
        for xb, yb in splits:
            xb, yb = xb.to(device), yb.to(device)
            _, vjp_of_gradient = vjp(lambda p: grad(batch_loss)(p, xb, yb), params)  # reverse-over-reverse
            (hv,) = vjp_of_gradient(v)  # vᵀH = (Hv)ᵀ: the Hessian is symmetric
            for name in total:
                total[name] += hv[name] * (len(xb) / n)
        return total

    def dot(a: dict, b: dict) -> torch.Tensor:
        return sum((a[k] * b[k]).sum() for k in a)

    generator = torch.Generator().manual_seed(seed)  # the global random state stays untouched
    sizes = [t.numel() for t in params.values()]
    flat = torch.randn(sum(sizes), generator=generator, dtype=dtype).to(device)
    flat = flat / flat.norm()
    v = {name: part.view_as(t) for (name, t), part in zip(params.items(), flat.split(sizes))}

    was_training = model.training
    model.eval()
    try:
        for _ in range(iterations):
            hv = hessian_times(v)
            norm = dot(hv, hv).sqrt()
            if norm == 0:  # from a random start this happens (with probability 1) only when H = 0
                return 0.0
            v = {name: t / norm for name, t in hv.items()}
        return float(dot(v, hessian_times(v)))
    finally:
        model.train(was_training)
