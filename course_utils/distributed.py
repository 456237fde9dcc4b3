"""Data parallelism: W processes each train on their own batch of b, and together take one step on W·b.

Run it from a terminal (``W`` processes on this machine; gloo on the CPU, NCCL when each has a GPU)::

    python -m torch.distributed.run --standalone --nproc_per_node=2 -m course_utils.distributed \\
        --batch-size 16 --epochs 3 --save ddp.pt

(with W > 1 torchrun first prints a notice that it sets OMP_NUM_THREADS=1 for each process; set it
yourself, ``OMP_NUM_THREADS=1 python -m torch.distributed.run ...``, and the notice goes away),
or from Python, which launches the same command and returns what rank 0 reported::

    >>> run_data_parallel(2, 16, epochs=3, save="ddp.pt")          # doctest: +SKIP
    {'world_size': 2, 'per_device_batch_size': 16, 'global_batch_size': 32, 'iterations_per_epoch': 44, ...}

How one epoch is cut up. ``DistributedSampler(shuffle=True, seed=s)`` draws the same permutation ``perm`` of
the N samples on every rank (seeded by ``s + epoch``, hence ``set_epoch``), pads it to a multiple of W by
repeating its first samples, and gives rank r every W-th index: ``perm[r::W]``. Each rank's ``DataLoader``
cuts its share into batches of b, so the k-th batches of all ranks together are ``perm[W·b·k : W·b·(k+1)]``
— exactly the k-th batch of a single process with batch size W·b. DDP averages the W gradients, and the
mean of W equal-sized batch means is the mean over the global batch: the update is the one-process update.
So W=2, b=16 and W=1, b=32 end with the same parameters (up to rounding, ~1e-7).

That holds only when no batch is ragged and nothing is padded, so the default data are the first 1408 of
the 1437 "digits" training images: 1408 = 11 · 128 is a multiple of W·b for every W·b that divides 128
(2 × 16, 1 × 32, 4 × 32, 2 × 64, ...). Each rank does ⌈⌈N/W⌉ / b⌉ iterations per epoch
(``iterations_per_epoch_per_device``). On a CPU a job takes about 5 s, nearly all of it starting
the processes (each imports torch); an epoch of 1408 samples takes well under a second.

``--accum-steps k`` accumulates k micro-batches per update. All but the last ``backward()`` of a window run
inside ``model.no_sync()``, which skips DDP's all-reduce, so each update all-reduces once instead of k times
(the report counts them, with a communication hook); W=2, b=8, k=2 trains like W=1, b=32. ``--n-samples
1437`` takes all the images: the sampler then pads (2 ranks × 719 = 1438 slots) and the last batches are
ragged, so W processes no longer equal one. The report also says whether ``SyncBatchNorm`` runs here
(``try_sync_batchnorm``: not on the CPU with gloo).
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import torch
import torch.distributed as dist
from torch import nn
from torch.distributed.algorithms.ddp_comm_hooks import default_hooks
from torch.distributed.elastic.multiprocessing.errors import record
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Dataset, TensorDataset
from torch.utils.data.distributed import DistributedSampler

from .batching import iterations_per_epoch
from .checks import check_bool, check_non_negative_int, check_positive_float, check_positive_int
from .data import load_dataset

N_SAMPLES = 1408  # = 11 · 128: no ragged batch and no padding for any W·b that divides 128
REPO_ROOT = Path(__file__).resolve().parent.parent


def iterations_per_epoch_per_device(n_samples: int, world_size: int, batch_size: int,
                                    drop_last: bool = False) -> int:
    """Iterations per epoch on each of ``world_size`` devices: ⌈⌈N/W⌉ / b⌉ (⌊⌈N/W⌉ / b⌋ with ``drop_last``).

    ``DistributedSampler`` gives each device ⌈N/W⌉ samples (padding by repetition), and the device's
    ``DataLoader(batch_size=b, drop_last=drop_last)`` cuts them into batches: this equals its ``len()``.
    Every device does the same number, and each iteration all of them update together.

    >>> iterations_per_epoch_per_device(1408, 2, 16)       # same as 1 device with batch 32: 1408 / 32
    44
    >>> iterations_per_epoch_per_device(1437, 2, 16), iterations_per_epoch_per_device(1437, 2, 16, True)
    (45, 44)
    """
    n_samples = check_non_negative_int("n_samples", n_samples)
    world_size = check_positive_int("world_size", world_size)
    batch_size = check_positive_int("batch_size", batch_size)
    check_bool("drop_last", drop_last)
    return iterations_per_epoch(-(-n_samples // world_size), batch_size, drop_last)


def rank_epochs(dataset: Dataset, *, world_size: int, rank: int, batch_size: int, epochs: int,
                seed: int = 0) -> Iterator[DataLoader]:
    """Rank ``rank``'s ``DataLoader`` once per epoch: its 1/W share of that epoch, in batches of b.

    ``DistributedSampler(shuffle=True, seed=seed)`` with ``set_epoch(epoch)`` before each epoch: a new
    permutation every epoch (seeded by ``seed + epoch``), the same one on every rank. Without
    ``set_epoch`` every epoch would repeat the first one's order.

    >>> data = list(range(8))
    >>> [[b.tolist() for b in loader] for loader in rank_epochs(data, world_size=2, rank=0, batch_size=2,
    ...                                                          epochs=2)]
    [[[4, 7], [2, 1]], [[5, 2], [7, 1]]]
    """
    world_size = check_positive_int("world_size", world_size)
    batch_size = check_positive_int("batch_size", batch_size)
    epochs = check_non_negative_int("epochs", epochs)
    sampler = DistributedSampler(dataset, num_replicas=world_size, rank=rank, shuffle=True, seed=seed)
    loader = DataLoader(dataset, batch_size=batch_size, sampler=sampler)
    assert len(loader) == iterations_per_epoch_per_device(len(dataset), world_size, batch_size)
    for epoch in range(epochs):
        sampler.set_epoch(epoch)  # a new permutation each epoch, the same one on every rank
        yield loader


def try_sync_batchnorm(device: torch.device) -> str:
    """'works', or the error that ``SyncBatchNorm`` raises on this device (call it inside a process group).

    >>> try_sync_batchnorm(torch.device("cpu"))      # no process group: plain BatchNorm, nothing to sync
    'works'
    """
    if not isinstance(device, torch.device):
        raise TypeError(f"device must be a torch.device such as torch.device('cpu'), got {device!r}")
    try:
        nn.SyncBatchNorm(4).to(device)(torch.randn(8, 4, device=device))
        return "works"
    except ValueError as error:   # e.g. on the CPU: "SyncBatchNorm expected input tensor to be on GPU ..."
        return f"ValueError: {error}"


def _positive_int(text: str) -> int:
    """argparse type: a whole number ≥ 1, with a message that says so."""
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number ≥ 1, got {text!r}")
    return int(text)


@record  # if a process fails, torchrun's summary shows its traceback
def main(argv: list[str] | None = None) -> None:
    """Train with DDP; run by ``torch.distributed.run``, once per process (see the module docstring)."""
    parser = argparse.ArgumentParser(
        prog="course_utils.distributed", description="Data-parallel training on the digits data. Start it "
        "with: python -m torch.distributed.run --standalone --nproc_per_node=W -m course_utils.distributed ...")
    parser.add_argument("--batch-size", type=_positive_int, required=True, help="per-device batch size b")
    parser.add_argument("--epochs", type=_positive_int, required=True)
    parser.add_argument("--save", type=Path, required=True, help="file for the final state_dict")
    parser.add_argument("--lr", type=float, default=0.1)
    parser.add_argument("--n-samples", type=_positive_int, default=N_SAMPLES, help="first N training images")
    parser.add_argument("--accum-steps", type=_positive_int, default=1,
                        help="k micro-batches per update (no_sync() for all but the last of each window)")
    parser.add_argument("--seed", type=int, default=0, help="model init and shuffle seed (same on all ranks)")
    args = parser.parse_args(argv)
    if "LOCAL_RANK" not in os.environ:
        parser.error("start this with torch.distributed.run, which starts the W processes and tells each "
                     "its RANK and LOCAL_RANK, e.g. python -m torch.distributed.run --standalone "
                     "--nproc_per_node=2 -m course_utils.distributed --batch-size 16 --epochs 3 --save ddp.pt")
    data = load_dataset("digits")
    if args.n_samples > len(data.x_train):
        parser.error(f"--n-samples must be at most {len(data.x_train)} (the digits training images), "
                     f"got {args.n_samples}")
    x, y = data.x_train[:args.n_samples] / 16, data.y_train[:args.n_samples]  # pixels 0..16 -> 0..1

    # One process per device. torchrun sets RANK, WORLD_SIZE, LOCAL_RANK and where to meet.
    local_rank, local_world = int(os.environ["LOCAL_RANK"]), int(os.environ["LOCAL_WORLD_SIZE"])
    use_gpu = torch.cuda.is_available() and torch.cuda.device_count() >= local_world
    device = torch.device("cuda", local_rank) if use_gpu else torch.device("cpu")
    if use_gpu:
        torch.cuda.set_device(device)
    dist.init_process_group(backend="nccl" if use_gpu else "gloo")
    rank, world_size = dist.get_rank(), dist.get_world_size()

    sync_batchnorm = try_sync_batchnorm(device)  # what this backend supports, for the report

    torch.manual_seed(args.seed)  # the same initial model on every rank (DDP also copies rank 0's)
    model = nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10)).to(device)
    model = DistributedDataParallel(model)
    optimizer = torch.optim.SGD(model.parameters(), lr=args.lr)

    # Count the all-reduces: DDP calls this hook once per gradient bucket (here the whole small model).
    all_reduces = [0]

    def counting_allreduce(state, bucket):
        all_reduces[0] += 1
        return default_hooks.allreduce_hook(None, bucket)
    model.register_comm_hook(None, counting_allreduce)

    # Each rank sees its own 1/W of every epoch, in batches of b; k = args.accum_steps per update.
    k = args.accum_steps
    for loader in rank_epochs(TensorDataset(x, y), world_size=world_size, rank=rank, batch_size=args.batch_size,
                              epochs=args.epochs, seed=args.seed):
        loss_sum, n_seen = torch.zeros((), device=device), 0  # this rank's share of the epoch
        for i, (xb, yb) in enumerate(loader):
            xb, yb = xb.to(device), yb.to(device)
            window = min(k, len(loader) - i // k * k)  # micro-batches in this window (fewer in a last one)
            last_of_window = (i + 1) % k == 0 or i + 1 == len(loader)
            # no_sync(): backward only adds into .grad, no all-reduce; the window's last backward does it
            with contextlib.nullcontext() if last_of_window else model.no_sync():
                loss = nn.functional.cross_entropy(model(xb), yb)  # forward + loss on this rank's batch
                (loss / window).backward()   # DDP all-reduces here (when synced): the mean of all W
            if last_of_window:
                optimizer.step()       # the same update on every rank, so the copies stay identical
                optimizer.zero_grad()
            loss_sum += loss.detach() * len(xb)
            n_seen += len(xb)

    # The report: the last epoch's mean loss over all samples of all ranks (all_reduce adds them up).
    totals = torch.stack([loss_sum, torch.tensor(float(n_seen), device=device)])
    dist.all_reduce(totals)
    if rank == 0:
        torch.save({name: value.cpu() for name, value in model.module.state_dict().items()}, args.save)
        print(json.dumps({
            "world_size": world_size, "per_device_batch_size": args.batch_size,
            "global_batch_size": world_size * args.batch_size * k, "accum_steps": k,
            "iterations_per_epoch": len(loader), "epochs": args.epochs, "n_samples": len(x),
            "samples_per_epoch": int(totals[1].item()), "last_batch_per_device": len(xb),
            "all_reduces_per_epoch": all_reduces[0] // args.epochs,
            "final_loss": (totals[0] / totals[1]).item(), "sync_batchnorm": sync_batchnorm}),
            flush=True)
    # Leave together, and drop the DDP model (it holds the process group) before destroying the group, so
    # that gloo's threads are stopped while Python is still running: left to the interpreter's exit, one of
    # them sometimes aborted the process ("terminate called without an active exception") after the work
    # was done.
    dist.barrier()
    del model, optimizer
    dist.destroy_process_group()


def run_data_parallel(world_size: int, batch_size: int, epochs: int, save: str | os.PathLike, *,
                      accum_steps: int = 1, n_samples: int = N_SAMPLES, timeout: float = 120) -> dict:
    """Launch ``world_size`` processes with ``torch.distributed.run`` and return rank 0's report.

    Each process trains on batches of ``batch_size`` (global batch: ``world_size · batch_size``) for
    ``epochs`` epochs, one update per ``accum_steps`` batches (global batch ``world_size · batch_size ·
    accum_steps``), on the first ``n_samples`` digits images (1437 is all of them: a ragged last batch, and
    padding when W does not divide it); the final parameters are saved to ``save`` (load them with
    ``torch.load``).
    Raises RuntimeError with the end of the processes' stderr if they fail, TimeoutError after ``timeout`` s.

    >>> report = run_data_parallel(2, 16, epochs=3, save="ddp.pt")      # doctest: +SKIP
    >>> report["global_batch_size"], report["iterations_per_epoch"]    # doctest: +SKIP
    (32, 44)
    """
    world_size = check_positive_int("world_size", world_size)
    batch_size = check_positive_int("batch_size", batch_size)
    epochs = check_positive_int("epochs", epochs)
    accum_steps = check_positive_int("accum_steps", accum_steps)
    n_samples = check_positive_int("n_samples", n_samples)
    timeout = check_positive_float("timeout", timeout, example="120")
    if not isinstance(save, (str, os.PathLike)):
        raise TypeError(f"save must be a file path such as 'ddp.pt', got {save!r}")
    save = Path(save).resolve()
    if not save.parent.is_dir():
        raise ValueError(f"save={str(save)!r}: its folder does not exist; create it first or use a path "
                         "in an existing folder, e.g. 'ddp.pt'")

    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={world_size}",
               "-m", "course_utils.distributed",
               "--batch-size", str(batch_size), "--epochs", str(epochs), "--save", str(save),
               "--accum-steps", str(accum_steps), "--n-samples", str(n_samples)]
    env = dict(os.environ, OMP_NUM_THREADS="1",  # W processes share the cores: one thread each
               PYTHONPATH=os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])),
               # `-m course_utils.distributed` warns if `import course_utils` already imported this module
               PYTHONWARNINGS=",".join(filter(None, [os.environ.get("PYTHONWARNINGS"),
                                   "ignore:'course_utils.distributed' found in sys.modules:RuntimeWarning"])))
    process = subprocess.Popen(command, env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               start_new_session=True)  # its own process group, to stop them all
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _stop(process)
        raise TimeoutError(f"the {world_size} processes did not finish within timeout={timeout} s; "
                           "use fewer epochs or a larger timeout") from None
    return _report(process.returncode, stdout, stderr, save)


def _report(returncode: int, stdout: str, stderr: str, save: Path) -> dict:
    """Rank 0's report from the processes' output; RuntimeError if the training did not finish.

    The report is printed after the last all-reduce, so once it is there and the parameters are saved, every
    rank has finished training. A process that then dies while shutting down (gloo's threads have been seen
    to abort the process at exit, now and then, on a loaded 2-core machine) does not change the result, so
    the report is returned; without it, a non-zero exit code is an error.
    """
    reports = [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]
    if returncode != 0 and not (len(reports) == 1 and save.is_file()):
        raise RuntimeError(f"torch.distributed.run failed (exit code {returncode}); "
                           f"the end of its stderr:\n{stderr[-3000:]}")
    if len(reports) != 1:
        raise RuntimeError(f"expected one JSON line from rank 0, got {len(reports)}; stdout:\n{stdout[-3000:]}")
    return reports[0]


def _stop(process: subprocess.Popen) -> None:
    """Kill torchrun and its worker processes (they share a session), then reap them."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (AttributeError, ProcessLookupError):  # no process groups (Windows), or already gone
        process.kill()
    process.communicate()


if __name__ == "__main__":
    main()
