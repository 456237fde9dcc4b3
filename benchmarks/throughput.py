#!/usr/bin/env python3
"""Time per iteration, samples per second and memory against the batch size: the table in benchmarks/README.md.

    python benchmarks/throughput.py                          # CPU, 1 thread, B = 1, 2, 4, ..., 4096
    python benchmarks/throughput.py --device cuda --largest 65536   # on a GPU

The model and data of notebook 07: an MLP 40-100-100-10 trained with SGD on MNIST-1D (4000 training
samples; a batch larger than that repeats the data). `cu.throughput` makes a fresh model for each batch
size, runs `--warmup` untimed iterations and `--repeats` timed ones on one batch, with the device
synchronized around each, and reports the median; the whole sweep runs `--rounds` times and each batch
size keeps the median of its rounds, so a burst of other work on a shared machine hits one round, not the
table. Memory: on the CPU the bytes autograd saves for the
backward pass (`cu.saved_bytes`, exact), on CUDA the peak memory allocated on the device. Prints a
markdown table; nothing is asserted.
"""
from __future__ import annotations

import argparse
import platform
import statistics
import sys
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import course_utils as cu  # noqa: E402


def make_model() -> nn.Module:
    return nn.Sequential(nn.Linear(40, 100), nn.ReLU(), nn.Linear(100, 100), nn.ReLU(), nn.Linear(100, 10))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cpu", help="cpu (default), cuda or mps")
    parser.add_argument("--largest", type=int, default=4096, help="largest batch size (powers of two from 1)")
    parser.add_argument("--repeats", type=int, default=9, help="timed iterations per batch size (median)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed iterations first")
    parser.add_argument("--rounds", type=int, default=5, help="sweeps over all batch sizes (median per B)")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads (default: the course's 1)")
    args = parser.parse_args()

    if args.threads is not None:
        cu.use_cpu_threads(args.threads)
    device = cu.pick_device(args.device)
    data = cu.load_dataset("mnist1d")
    sizes = [2 ** k for k in range(args.largest.bit_length()) if 2 ** k <= args.largest]
    sweeps = [cu.throughput(make_model, data, sizes, device=device, repeats=args.repeats, warmup=args.warmup)
              for _ in range(args.rounds)]
    speed = sweeps[0]
    for k, b in enumerate(speed.batch_sizes):
        times = [s.seconds_per_iteration[k] for s in sweeps
                 if k < len(s.batch_sizes) and s.seconds_per_iteration[k] is not None]
        if times:
            speed.seconds_per_iteration[k] = statistics.median(times)
            speed.samples_per_second[k] = b / speed.seconds_per_iteration[k]

    print(f"<!-- {cu.describe_device(device)}; {platform.machine()}, Python {platform.python_version()}, "
          f"torch {torch.__version__}, {torch.get_num_threads()} CPU thread(s), per B the median over "
          f"{args.rounds} rounds of the median of {args.repeats} iterations after {args.warmup} warm-up -->")
    memory_title = "saved for backward (bytes)" if speed.memory_kind == "saved for backward" else \
        f"{speed.memory_kind} (MiB)"
    print(f"| batch size B | ms per iteration | samples per second | memory: {memory_title} |")
    print("|---|---|---|---|")
    for row in speed.rows():
        if row["out_of_memory"]:
            print(f"| {row['batch_size']:,} | out of memory | – | – |")
            continue
        memory = row["memory_bytes"]
        shown = f"{memory:,}" if speed.memory_kind == "saved for backward" else f"{memory / 2**20:,.1f}"
        print(f"| {row['batch_size']:,} | {row['seconds_per_iteration'] * 1e3:.3f} | "
              f"{row['samples_per_second']:,.0f} | {shown} |")


if __name__ == "__main__":
    main()
