"""Data parallelism: W processes with batch b take the same steps as one process with batch W·b."""
import time

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.utils.data import DataLoader
from torch.utils.data.distributed import DistributedSampler

from course_utils.distributed import (N_SAMPLES, iterations_per_epoch_per_device, main, rank_epochs,
                                      run_data_parallel)

EPOCHS = 2
slow = pytest.mark.slow  # launches processes with torch.distributed.run: about 5 s each on 2 CPU cores


@pytest.fixture(scope="module")
def jobs(tmp_path_factory):
    """Run each (world_size, per-device batch) job once; give back its report, parameters and seconds."""
    folder, done = tmp_path_factory.mktemp("ddp"), {}

    def job(world_size, batch_size, accum_steps=1, n_samples=N_SAMPLES):
        key = world_size, batch_size, accum_steps, n_samples
        if key not in done:
            save = folder / f"w{world_size}_b{batch_size}_k{accum_steps}_n{n_samples}.pt"
            start = time.perf_counter()
            report = run_data_parallel(world_size, batch_size, EPOCHS, save, accum_steps=accum_steps,
                                       n_samples=n_samples)
            seconds = time.perf_counter() - start
            print(f"\nW={world_size}, b={batch_size}, k={accum_steps}, N={n_samples}: {seconds:.1f} s")
            done[key] = report, torch.load(save), seconds
        return done[key]
    return job


def max_abs_difference(a: dict, b: dict) -> float:
    assert a.keys() == b.keys()
    return max((a[k] - b[k]).abs().max().item() for k in a)


@slow
def test_two_processes_of_16_equal_one_process_of_32(jobs):
    report2, params2, _ = jobs(2, 16)
    report1, params1, _ = jobs(1, 32)
    assert max_abs_difference(params2, params1) <= 1e-5
    assert abs(report2["final_loss"] - report1["final_loss"]) <= 1e-5
    for report, world_size, batch_size in ((report2, 2, 16), (report1, 1, 32)):
        assert report == {**report, "world_size": world_size, "per_device_batch_size": batch_size,
                          "global_batch_size": 32, "accum_steps": 1, "iterations_per_epoch": N_SAMPLES // 32,
                          "epochs": EPOCHS, "n_samples": N_SAMPLES, "samples_per_epoch": N_SAMPLES,
                          "last_batch_per_device": batch_size, "all_reduces_per_epoch": N_SAMPLES // 32}
        assert set(report) == {"world_size", "per_device_batch_size", "global_batch_size", "accum_steps",
                               "iterations_per_epoch", "epochs", "n_samples", "samples_per_epoch",
                               "last_batch_per_device", "all_reduces_per_epoch", "final_loss",
                               "sync_batchnorm"}
        assert report["sync_batchnorm"].startswith("ValueError: SyncBatchNorm expected input tensor to be on GPU")
        assert 0 < report["final_loss"] < 2.3  # below ln(10): it learned something
    assert all(p.device.type == "cpu" for p in params2.values())


@slow
def test_accumulation_with_no_sync_equals_the_global_batch_with_fewer_all_reduces(jobs):
    """2 × 8 × k = 2 with no_sync(): the training of 1 × 32, one all-reduce per update, not per backward."""
    report, params, _ = jobs(2, 8, accum_steps=2)
    _, params1, _ = jobs(1, 32)
    assert max_abs_difference(params, params1) <= 1e-5
    assert report["global_batch_size"] == 32 and report["accum_steps"] == 2
    assert report["iterations_per_epoch"] == N_SAMPLES // 16 == 2 * report["all_reduces_per_epoch"]


@slow
def test_accumulation_with_a_partial_window_equals_one_process(jobs):
    """k = 3 on 44 micro-batches: 14 full windows and one of 2 per epoch, the same on 2 ranks as on 1."""
    report, params, _ = jobs(2, 16, accum_steps=3)
    report1, params1, _ = jobs(1, 32, accum_steps=3)
    assert report["all_reduces_per_epoch"] == report1["all_reduces_per_epoch"] == 15
    assert report["global_batch_size"] == report1["global_batch_size"] == 96
    assert max_abs_difference(params, params1) <= 1e-5
    assert 0 < report["final_loss"] < 2.3


@slow
def test_a_ragged_data_set_is_padded_by_the_sampler(jobs):
    """N = 1437 on 2 ranks: 719 each (one sample repeated), last batches of 15, and no longer 1 × 32."""
    report, params, _ = jobs(2, 16, n_samples=1437)
    assert (report["iterations_per_epoch"], report["samples_per_epoch"], report["last_batch_per_device"]) == (
        45, 1438, 15)
    report1, params1, _ = jobs(1, 32, n_samples=1437)
    assert (report1["samples_per_epoch"], report1["last_batch_per_device"]) == (1437, 29)
    assert max_abs_difference(params, params1) > 1e-4


@slow
def test_a_different_global_batch_ends_elsewhere(jobs):
    """The control: the comparison above can fail. Global batch 16 takes twice the steps."""
    report16, params16, _ = jobs(1, 16)
    _, params32, _ = jobs(1, 32)
    assert report16["global_batch_size"] == 16 and report16["iterations_per_epoch"] == N_SAMPLES // 16
    assert max_abs_difference(params16, params32) > 1e-2


@settings(max_examples=200, deadline=None)
@given(n=st.integers(0, 300), world_size=st.integers(1, 8), batch_size=st.integers(1, 64),
       drop_last=st.booleans(), draw=st.data())
def test_iterations_per_device_match_dataloader(n, world_size, batch_size, drop_last, draw):
    rank = draw.draw(st.integers(0, world_size - 1), label="rank")
    data = list(range(n))
    sampler = DistributedSampler(data, num_replicas=world_size, rank=rank, shuffle=True, seed=0)
    loader = DataLoader(data, batch_size=batch_size, sampler=sampler, drop_last=drop_last)
    assert iterations_per_epoch_per_device(n, world_size, batch_size, drop_last) == len(loader)


def batches_by_epoch(data, world_size, rank, batch_size, epochs, seed):
    """What ``course_utils.distributed`` gives rank ``rank``: its batches, epoch after epoch."""
    return [[b.tolist() for b in loader] for loader in rank_epochs(
        data, world_size=world_size, rank=rank, batch_size=batch_size, epochs=epochs, seed=seed)]


@settings(max_examples=100, deadline=None)
@given(world_size=st.integers(1, 6), batch_size=st.integers(1, 12), batches=st.integers(1, 8),
       seed=st.integers(0, 2**31), epochs=st.integers(1, 3))
def test_ranks_together_see_the_global_batch(world_size, batch_size, batches, seed, epochs):
    """When N is a multiple of W·b, in every epoch the k-th batches of the W ranks are the k-th batch of
    one process with batch W·b, and together the ranks see every sample once."""
    n = world_size * batch_size * batches
    data = list(range(n))
    per_rank = [batches_by_epoch(data, world_size, r, batch_size, epochs, seed) for r in range(world_size)]
    one_process = batches_by_epoch(data, 1, 0, world_size * batch_size, epochs, seed)
    assert len(one_process) == epochs and all(len(epoch) == batches for epoch in one_process)
    for e in range(epochs):
        assert sorted(i for r in range(world_size) for batch in per_rank[r][e] for i in batch) == data
        for k, global_batch in enumerate(one_process[e]):
            assert sorted(sum((per_rank[r][e][k] for r in range(world_size)), [])) == sorted(global_batch)


@pytest.mark.parametrize("seed", [0, 3])
def test_each_epoch_has_a_new_order_as_with_set_epoch(seed):
    """W = 2: epoch 2 is not epoch 1 again, and each epoch is DistributedSampler's after set_epoch."""
    data = list(range(40))
    for rank in (0, 1):
        got = batches_by_epoch(data, 2, rank, 4, epochs=3, seed=seed)
        assert got[1] != got[0] and got[2] != got[1]
        for epoch in range(3):
            sampler = DistributedSampler(data, num_replicas=2, rank=rank, shuffle=True, seed=seed)
            sampler.set_epoch(epoch)
            assert got[epoch] == [b.tolist() for b in DataLoader(data, batch_size=4, sampler=sampler)]


@pytest.mark.parametrize("kwargs, error, words", [
    ({"world_size": 0}, ValueError, "world_size"),
    ({"world_size": 2.0}, TypeError, "world_size"),
    ({"batch_size": 0}, ValueError, "batch_size"),
    ({"batch_size": True}, TypeError, "batch_size"),
    ({"epochs": 0}, ValueError, "epochs"),
    ({"accum_steps": 0}, ValueError, "accum_steps"),
    ({"n_samples": 2.5}, TypeError, "n_samples"),
    ({"timeout": -1}, ValueError, "timeout"),
    ({"save": None}, TypeError, "save"),
    ({"save": "no/such/folder/ddp.pt"}, ValueError, "folder does not exist"),
])
def test_run_data_parallel_rejects_bad_arguments(tmp_path, kwargs, error, words):
    arguments = {"world_size": 2, "batch_size": 16, "epochs": 1, "save": tmp_path / "ddp.pt", **kwargs}
    with pytest.raises(error, match=words):
        run_data_parallel(**arguments)


@pytest.mark.parametrize("kwargs, error, words", [
    ({"n_samples": -1}, ValueError, "n_samples"),
    ({"world_size": 0}, ValueError, "world_size"),
    ({"batch_size": 1.5}, TypeError, "batch_size"),
    ({"drop_last": 1}, TypeError, "drop_last"),
])
def test_iterations_per_device_rejects_bad_arguments(kwargs, error, words):
    arguments = {"n_samples": 100, "world_size": 2, "batch_size": 16, **kwargs}
    with pytest.raises(error, match=words):
        iterations_per_epoch_per_device(**arguments)


@pytest.mark.parametrize("argv, words", [
    (["--batch-size", "0", "--epochs", "1", "--save", "x.pt"], "--batch-size: must be a whole number ≥ 1, got '0'"),
    (["--batch-size", "16", "--epochs", "1"], "--save"),
    (["--batch-size", "16", "--epochs", "1", "--save", "x.pt", "--n-samples", "5000"], "at most 1437"),
    (["--batch-size", "16", "--epochs", "1", "--save", "x.pt", "--accum-steps", "0"], "--accum-steps: must be"),
])
def test_command_line_errors_name_the_argument(monkeypatch, capfd, argv, words):
    monkeypatch.setenv("LOCAL_RANK", "0")
    with pytest.raises(SystemExit):
        main(argv)
    assert words in capfd.readouterr().err


def test_command_line_without_torchrun_says_how_to_start_it(monkeypatch, capfd):
    monkeypatch.delenv("LOCAL_RANK", raising=False)
    with pytest.raises(SystemExit):
        main(["--batch-size", "16", "--epochs", "1", "--save", "x.pt"])
    assert "python -m torch.distributed.run --standalone --nproc_per_node=2" in capfd.readouterr().err


@slow
def test_a_failing_job_raises_with_its_stderr(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path))  # no data there: every worker fails to load it
    with pytest.raises(RuntimeError, match="DataFileError"):
        run_data_parallel(1, 16, 1, tmp_path / "ddp.pt")


@slow
def test_a_job_past_its_timeout_is_stopped(tmp_path):
    start = time.perf_counter()
    with pytest.raises(TimeoutError, match="timeout=0.5"):
        run_data_parallel(1, 16, 1, tmp_path / "ddp.pt", timeout=0.5)
    assert time.perf_counter() - start < 5
    assert not (tmp_path / "ddp.pt").exists()


def test_sync_batchnorm_without_a_process_group_is_plain_batchnorm():
    from course_utils.distributed import try_sync_batchnorm
    assert try_sync_batchnorm(torch.device("cpu")) == "works"
    with pytest.raises(TypeError, match="device must be a torch.device"):
        try_sync_batchnorm("cpu")


def test_a_crash_at_exit_after_the_report_keeps_the_report(tmp_path):
    from course_utils.distributed import _report
    save = tmp_path / "ddp.pt"
    line = '{"world_size": 2, "final_loss": 1.25}'
    crash = "terminate called without an active exception\nSignal 6 (SIGABRT) received by PID 12"
    with pytest.raises(RuntimeError, match=r"failed \(exit code 1\).*\nterminate called"):
        _report(1, line + "\n", crash, save)                  # no parameters saved: it did not finish
    save.write_bytes(b"saved")
    assert _report(1, "starting\n" + line + "\n", crash, save) == {"world_size": 2, "final_loss": 1.25}
    with pytest.raises(RuntimeError, match=r"failed \(exit code 1\)"):
        _report(1, "starting\n", crash, save)                 # no report: it did not finish
    with pytest.raises(RuntimeError, match=r"expected one JSON line from rank 0, got 2"):
        _report(0, line + "\n" + line + "\n", "", save)
    assert _report(0, line + "\n", "", save)["final_loss"] == 1.25
