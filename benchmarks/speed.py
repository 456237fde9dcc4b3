#!/usr/bin/env python3
"""Speed of the course's data path and training loop, as ratios measured side by side.

    python benchmarks/speed.py                 # CPU, 1 thread, the table for benchmarks/README.md
    python benchmarks/speed.py --sweep         # plus training samples/s for B = 1, 2, 4, ... 8192
    python benchmarks/speed.py --device cuda --sweep   # the same on a GPU

Each ratio is the median over repeats of (time A / time B) with A and B run back to back, so slow
phases of a noisy machine hit both. Nothing here is asserted: the numbers go into the README table.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import statistics
import sys
import time
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import course_utils as cu  # noqa: E402


def make_mlp() -> nn.Module:
    return nn.Sequential(nn.Linear(40, 100), nn.ReLU(), nn.Linear(100, 100), nn.ReLU(), nn.Linear(100, 10))


def timed(fn, device) -> float:
    cu.synchronize(device)
    start = time.perf_counter()
    fn()
    cu.synchronize(device)
    return time.perf_counter() - start


def epoch_with(iterable, model, opt) -> None:
    for xb, yb in iterable:
        loss = nn.functional.cross_entropy(model(xb), yb)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()


def batches_vs_dataloader(x, y, batch_size, device, repeats):
    """Throughput ratio of one training epoch fed by cu.Batches vs DataLoader(TensorDataset)."""
    model = make_mlp().to(device)
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    ours = cu.Batches(x, y, batch_size, shuffle=True, seed=0)
    loader = DataLoader(TensorDataset(x, y), batch_size=batch_size, shuffle=True,
                        generator=torch.Generator().manual_seed(0) if device.type == "cpu" else None)
    epoch_with(ours, model, opt)  # warm-up, both
    epoch_with(loader, model, opt)
    ratios, ours_t, theirs_t = [], [], []
    for _ in range(repeats):
        t_ours = timed(lambda: epoch_with(ours, model, opt), device)
        t_loader = timed(lambda: epoch_with(loader, model, opt), device)
        ratios.append(t_loader / t_ours)
        ours_t.append(t_ours)
        theirs_t.append(t_loader)
    n = len(x)
    return statistics.median(ratios), n / statistics.median(ours_t), n / statistics.median(theirs_t)


def iteration_only(x, y, batch_size, repeats):
    """Ratio for iterating alone (no model): the data path's own speed."""
    ours = cu.Batches(x, y, batch_size, seed=0)
    loader = DataLoader(TensorDataset(x, y), batch_size=batch_size, shuffle=True)
    ratios = []
    for _ in range(repeats):
        a = timed(lambda: [None for _ in ours], x.device)
        b = timed(lambda: [None for _ in loader], x.device)
        ratios.append(b / a)
    return statistics.median(ratios)


def hand_loop(model, x, y, batch_size, epochs, lr):
    """The shortest correct hand-written loop: randperm + slicing, nothing recorded."""
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    for _ in range(epochs):
        order = torch.randperm(len(x), device=x.device)
        for start in range(0, len(x), batch_size):
            idx = order[start:start + batch_size]
            loss = nn.functional.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()


def train_vs_hand(x, y, batch_size, device, repeats, epochs=5):
    """Throughput of cu.train (History recorded, progress bar on) relative to hand_loop.

    Each is a whole 5-epoch run from a fresh model (the length of notebook 00's first run), so train's
    fixed costs (argument and NaN checks, seeding, optimizer and progress bar set-up) are counted.
    """
    ratios = []
    sink = io.StringIO()
    for r in range(repeats + 1):
        model_a, model_b = make_mlp().to(device), make_mlp().to(device)
        t_hand = timed(lambda: hand_loop(model_a, x, y, batch_size, epochs, 0.01), device)
        with contextlib.redirect_stderr(sink), contextlib.redirect_stdout(sink):
            t_train = timed(lambda: cu.train(model_b, (x, y), epochs=epochs, batch_size=batch_size, lr=0.01,
                                             device=device, progress=True), device)
        if r:  # the first round warms up both
            ratios.append(t_hand / t_train)
    return statistics.median(ratios)


def sweep(x, y, device, sizes, repeats=3):
    """Training samples/s for one epoch (capped at 2000 iterations) at each batch size."""
    rows = []
    copies = -(-16 * max(sizes) // len(x))  # tile the data so even the largest batch has 16 iterations
    x, y = x.repeat(copies, 1), y.repeat(copies)
    for b in sizes:
        model = make_mlp().to(device)
        opt = torch.optim.SGD(model.parameters(), lr=0.01)
        n = min(len(x), 2000 * b, max(16 * b, 4000))
        data = cu.Batches(x[:n], y[:n], b, seed=0)
        epoch_with(data, model, opt)
        t = statistics.median(timed(lambda: epoch_with(data, model, opt), device) for _ in range(repeats))
        rows.append((b, n / t))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--sweep", action="store_true", help="also samples/s for batch sizes 1 ... 8192")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = cu.pick_device(args.device)
    data = cu.load_dataset("mnist1d", device=device)
    x, y = data.x_train, data.y_train
    print(f"device: {cu.describe_device(device)}; torch {torch.__version__}; threads {args.threads}; "
          f"MNIST-1D {len(x)} samples; MLP 40-100-100-10; median of {args.repeats} repeats\n")
    print("| batch size | Batches vs DataLoader, training epoch (ratio) | samples/s Batches | samples/s DataLoader "
          "| iterating only (ratio) | train() vs hand-written loop (ratio) |")
    print("|---|---|---|---|---|---|")
    for b in (32, 256):
        ratio, ours, theirs = batches_vs_dataloader(x, y, b, device, args.repeats)
        only = iteration_only(x, y, b, args.repeats)
        vs_hand = train_vs_hand(x, y, b, device, args.repeats)
        print(f"| {b} | {ratio:.2f}× | {ours:,.0f} | {theirs:,.0f} | {only:.1f}× | {vs_hand:.2f}× |")
    if args.sweep:
        print("\n| batch size | training samples/s |\n|---|---|")
        for b, rate in sweep(x, y, device, [2 ** k for k in range(14)]):
            print(f"| {b} | {rate:,.0f} |")


if __name__ == "__main__":
    main()
