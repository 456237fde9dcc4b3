"""The helpers on a real GPU (CUDA or MPS): run with ``pytest -m gpu`` on a machine that has one.

Skipped, with the reason, where there is none. The suite-wide ``COURSE_DEVICE=cpu`` (tests/conftest.py)
is for the notebooks' stored outputs; these tests name their device explicitly.
"""
import time

import pytest
import torch
from torch import nn

import course_utils as cu
import course_utils.history as history_module
from course_utils import BatchTooLargeError, evaluate, train

from test_training import interrupt_at

GPU = "cuda" if torch.cuda.is_available() else "mps" if torch.backends.mps.is_available() else None
pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(GPU is None, reason="no CUDA or MPS device on this machine (the GPU tests need one)")]


def mlp(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(40, 100), nn.ReLU(), nn.Linear(100, 10))


@pytest.fixture(scope="module")
def data():
    return cu.load_dataset("mnist1d")


def test_training_on_the_gpu_matches_the_cpu_loosely(data):
    cpu, gpu = mlp(), mlp()
    h_cpu = train(cpu, data, epochs=3, batch_size=64, lr=0.1, device="cpu", progress=False)
    h_gpu = train(gpu, data, epochs=3, batch_size=64, lr=0.1, device=GPU, progress=False)
    assert h_gpu.batch_size == h_cpu.batch_size and len(h_gpu.loss) == len(h_cpu.loss)
    assert h_gpu.epoch_loss == pytest.approx(h_cpu.epoch_loss, rel=1e-2)
    assert next(gpu.parameters()).device.type == GPU
    assert evaluate(gpu, data.test)["accuracy"] == pytest.approx(evaluate(cpu, data.test)["accuracy"], abs=0.02)


def test_resume_on_the_gpu_is_exact(data, tmp_path):
    def run(model, epochs, path=None):
        return train(model, data, epochs=epochs, batch_size=64, lr=0.1, momentum=0.9, device=GPU, progress=False,
                     checkpoint=path, scheduler=lambda opt: torch.optim.lr_scheduler.StepLR(opt, 50, 0.5))

    whole = mlp()
    h_whole = run(whole, 3)
    path = tmp_path / "gpu.pt"
    run(mlp(), 2, path)
    resumed = mlp(seed=7)
    h = run(resumed, 3, path)  # Generator.set_state used to fail here: the state was mapped to the GPU
    assert h.loss == h_whole.loss
    assert all(torch.equal(a, b) for a, b in zip(whole.parameters(), resumed.parameters()))


def test_out_of_memory_then_a_smaller_batch_in_the_same_process():
    free, total = torch.accelerator.get_memory_info() if hasattr(torch.accelerator, "get_memory_info") else \
        torch.cuda.mem_get_info()
    width = 4096
    rows = int(2 * total / (width * 4)) // 2  # a first layer's output that needs about twice the memory there is
    x = torch.randn(rows, 8)
    y = torch.zeros(rows, dtype=torch.long)
    model = nn.Sequential(nn.Linear(8, width), nn.ReLU(), nn.Linear(width, 2))
    with pytest.raises(BatchTooLargeError, match=f"batch_size={rows}"):
        train(model, (x, y), epochs=1, batch_size=rows, lr=0.01, device=GPU, progress=False)
    torch.accelerator.synchronize()
    h = train(model, (x[:4096], y[:4096]), epochs=1, batch_size=1024, lr=0.01, device=GPU, progress=False)
    assert h.iterations == 4 and all(map(lambda v: v == v, h.loss))
    assert torch.accelerator.memory_allocated() < total / 4  # the failed batch's memory was given back


def test_stop_keeps_every_finished_iteration_on_the_gpu(data, monkeypatch, capsys):
    monkeypatch.setattr(history_module, "FLUSH_SECONDS", 1e9)  # every loss waits on the GPU until the end
    whole = train(mlp(), data, epochs=1, batch_size=64, lr=0.1, device=GPU, progress=False)
    h = train(mlp(), data, epochs=1, batch_size=64, lr=0.1, device=GPU, progress=False, loss=interrupt_at(30))
    assert h.interrupted and h.iterations == 29
    assert h.loss == pytest.approx(whole.loss[:29], rel=1e-5)


def test_timings_wait_for_the_gpu():
    a = torch.randn(4096, 4096, device=GPU)
    cu.synchronize()
    start = time.perf_counter()
    for _ in range(20):
        a @ a
    queued = time.perf_counter() - start
    waited = cu.median_seconds(lambda: [a @ a for _ in range(20)], repeats=3)  # device=None: the accelerator
    assert waited > 2 * queued  # without the wait, only the queueing would be timed


def test_throughput_waits_for_the_gpu(monkeypatch):
    """An iteration of four 4096-wide layers on 4096 samples is tens of ms of GPU work but well under a ms of
    queueing: throughput must time the work (synchronizing the device), as a hand-timed iteration does."""
    import course_utils.measuring as measuring
    waited, real_synchronize = [], measuring.synchronize

    def counting_synchronize(device=None):
        waited.append(torch.device(device).type if device is not None else None)
        real_synchronize(device)

    monkeypatch.setattr(measuring, "synchronize", counting_synchronize)
    width, repeats = 4096, 3
    make_model = lambda: nn.Sequential(*[nn.Linear(width, width) for _ in range(4)])  # noqa: E731
    x, y = torch.randn(width, width), torch.randn(width, width)
    result = cu.throughput(make_model, (x, y), [width], device=GPU, repeats=repeats)
    assert waited.count(GPU) >= 2 * repeats  # before and after each timed iteration

    model = make_model().to(GPU)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    xb, yb = x.to(GPU), y.to(GPU)

    def iteration():
        optimizer.zero_grad(set_to_none=True)
        nn.functional.mse_loss(model(xb), yb).backward()
        optimizer.step()

    iteration()
    times = []
    for _ in range(repeats):
        torch.accelerator.synchronize()
        start = time.perf_counter()
        iteration()
        torch.accelerator.synchronize()
        times.append(time.perf_counter() - start)
    by_hand = sorted(times)[repeats // 2]
    assert result.seconds_per_iteration[0] >= 0.5 * by_hand, (result.seconds_per_iteration, by_hand)
