"""throughput: what is timed, with which settings, what the result holds, and how it is printed and drawn.

The clock is not read here: ``median_seconds`` is replaced by a stand-in that runs the iteration as often
as it was asked to and returns a chosen number of seconds, so the rates are exact. tests/test_speed.py
runs the real timing.
"""
import importlib

import matplotlib
import matplotlib.pyplot as plt
import pytest
import torch
from matplotlib.colors import to_hex
from torch import nn

from course_utils.plots import COLORS
from course_utils.seeding import new_model
from course_utils.throughput import Throughput, _tile, throughput

matplotlib.use("Agg")
throughput_module = importlib.import_module("course_utils.throughput")  # course_utils.throughput is the function


def small_data(n: int = 12):
    g = torch.Generator().manual_seed(1)
    return torch.randn(n, 4, generator=g), torch.randint(0, 3, (n,), generator=g)


class Made:
    """make_model that remembers every model it made (the last one is the one measured last)."""

    def __init__(self) -> None:
        self.models = []

    def __call__(self) -> nn.Module:
        self.models.append(nn.Linear(4, 3))
        return self.models[-1]


@pytest.fixture
def timing(monkeypatch):
    """Replace median_seconds: run fn warmup + repeats times, record the call, return ``timing.seconds``."""
    class Timing:
        seconds = 0.25
        calls: list = []

    def fake_median_seconds(fn, repeats=5, warmup=1, device=None):
        Timing.calls.append({"repeats": repeats, "warmup": warmup, "device": device})
        for _ in range(warmup + repeats):
            fn()
        return Timing.seconds

    Timing.calls = []
    monkeypatch.setattr(throughput_module, "median_seconds", fake_median_seconds)
    return Timing


def hand_loop(make_model, x, y, b, seed, lr, iterations, loss=nn.functional.cross_entropy):
    """What throughput's timed iterations do to the model, written out."""
    model = new_model(make_model, seed)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    xb, yb = _tile(x, y, b)
    for _ in range(iterations):
        optimizer.zero_grad()
        loss(model(xb), yb).backward()
        optimizer.step()
    return model


def test_the_defaults_are_1_warmup_3_repeats_lr_0_01_seed_0_on_the_chosen_device(timing):
    make = Made()
    x, y = small_data()
    result = throughput(make, (x, y), [5], device="cpu")
    assert timing.calls == [{"repeats": 3, "warmup": 1, "device": torch.device("cpu")}]
    measured = make.models[-1]
    expected = hand_loop(make, x, y, 5, seed=0, lr=0.01, iterations=1 + 3)
    assert expected is not measured
    assert torch.equal(measured.weight, expected.weight) and torch.equal(measured.bias, expected.bias)
    assert result.seconds_per_iteration == [0.25] and result.samples_per_second == [20.0]


def test_the_settings_given_are_the_ones_used(timing):
    make = Made()
    x, y = small_data()
    mean_abs = lambda out, target: (out - nn.functional.one_hot(target, 3)).abs().mean()  # noqa: E731
    result = throughput(make, (x, y), [2, 30], device="cpu", repeats=2, warmup=0, lr=0.5, seed=3, loss=mean_abs)
    assert timing.calls == [{"repeats": 2, "warmup": 0, "device": torch.device("cpu")}] * 2
    measured = make.models[-1]
    expected = hand_loop(make, x, y, 30, seed=3, lr=0.5, iterations=2, loss=mean_abs)
    assert expected is not measured and torch.equal(measured.weight, expected.weight)
    # memory with that loss: x (B·4·4), and the loss saves the sign of (out − one-hot) (B·3 float32)
    assert result.memory_bytes == [b * 16 + b * 12 for b in (2, 30)]
    assert result.batch_sizes == [2, 30] and result.samples_per_second == [8.0, 120.0]


def test_an_iteration_too_fast_for_the_clock_has_an_infinite_rate(timing):
    timing.seconds = 0.0
    result = throughput(Made(), small_data(), [1, 2], device="cpu")
    assert result.seconds_per_iteration == [0.0, 0.0]
    assert result.samples_per_second == [float("inf")] * 2
    timing.seconds = 2.0
    assert throughput(Made(), small_data(), [1, 4], device="cpu").samples_per_second == [0.5, 2.0]


def test_tile_takes_the_first_b_samples_or_repeats_the_data():
    x, y = torch.arange(3.0).unsqueeze(1), torch.tensor([10, 11, 12])
    xb, yb = _tile(x, y, 2)
    assert xb.tolist() == [[0.0], [1.0]] and yb.tolist() == [10, 11]
    xb, yb = _tile(x, y, 3)
    assert xb.tolist() == [[0.0], [1.0], [2.0]] and yb.tolist() == [10, 11, 12]
    xb, yb = _tile(x, y, 7)
    assert xb.flatten().tolist() == [0.0, 1.0, 2.0, 0.0, 1.0, 2.0, 0.0] and yb.tolist() == [10, 11, 12, 10, 11, 12, 10]


def test_throughput_checks_its_arguments():
    data = small_data()
    with pytest.raises(ValueError, match=r"^warmup must be 0 or more, got -1$"):
        throughput(Made(), data, [4], device="cpu", warmup=-1)
    with pytest.raises(ValueError, match=r"^lr must be a finite number greater than 0 \(e.g. 0.01\), got 0$"):
        throughput(Made(), data, [4], device="cpu", lr=0)
    with pytest.raises(ValueError, match=r"^seed must be 0 or more, got -1$"):
        throughput(Made(), data, [4], device="cpu", seed=-1)
    with pytest.raises(ValueError, match=r"^repeats must be a positive whole number"):
        throughput(Made(), data, [4], device="cpu", repeats=0)
    with pytest.raises(TypeError, match=r"^loss must be None or a function"):
        throughput(Made(), data, [4], device="cpu", loss="mse")
    with pytest.raises(TypeError, match=r"^data must be an \(x, y\) pair"):
        throughput(Made(), "mnist1d", [4], device="cpu")
    with pytest.raises(TypeError, match=r"^batch_sizes must be a non-empty list of whole numbers"):
        throughput(Made(), data, 4, device="cpu")
    with pytest.raises(ValueError, match=r"^device must be None, 'cuda', 'mps', 'cpu' or a torch.device, got 'tpu'$"):
        throughput(Made(), data, [4], device="tpu")
    with pytest.raises(TypeError, match=r"^data x holds integers"):
        throughput(Made(), (data[0].long(), data[1]), [4], device="cpu")


# ---- the result: rows, table, plot ---------------------------------------------------------------------------

def measured() -> Throughput:
    return Throughput(batch_sizes=[1, 4, 16], seconds_per_iteration=[0.002, 0.0025, None],
                      samples_per_second=[500.0, 1600.0, None], memory_bytes=[2**20, 3 * 2**19, None],
                      out_of_memory=[False, False, True], device="cpu", memory_kind="saved for backward")


def test_rows_have_one_dict_per_batch_size():
    assert measured().rows() == [
        {"batch_size": 1, "seconds_per_iteration": 0.002, "samples_per_second": 500.0, "memory_bytes": 2**20,
         "out_of_memory": False},
        {"batch_size": 4, "seconds_per_iteration": 0.0025, "samples_per_second": 1600.0,
         "memory_bytes": 3 * 2**19, "out_of_memory": False},
        {"batch_size": 16, "seconds_per_iteration": None, "samples_per_second": None, "memory_bytes": None,
         "out_of_memory": True}]


def test_table_prints_milliseconds_samples_per_second_and_mebibytes():
    assert measured().table() == "\n".join([
        "device: cpu; memory: saved for backward",
        "batch size  ms / iteration   samples / s  memory MiB",
        "         1           2.000           500       1.000",
        "         4           2.500         1,600       1.500",
        "        16   out of memory"])


def test_plot_draws_the_three_measurements_on_log2_axes_and_marks_out_of_memory():
    from course_utils.plots import COURSE_STYLE
    with plt.rc_context(COURSE_STYLE):   # titles and legends at the course's sizes, none set smaller
        fig = measured().plot()
    try:
        assert tuple(fig.get_size_inches()) == (15, 4.5)
        assert [ax.get_subplotspec().get_geometry() for ax in fig.axes] == [(1, 3, k, k) for k in range(3)]  # a row
        assert fig.get_suptitle() == "Speed and memory against batch size on cpu"
        assert fig._suptitle.get_position()[1] == 1.02
        titles = ["time per iteration", "throughput", "memory: saved for backward"]
        ylabels = ["seconds (log scale)", "samples per second (log scale)", "MiB (log scale)"]
        values = [[0.002, 0.0025], [500.0, 1600.0], [1.0, 1.5]]   # memory in MiB
        for ax, title, ylabel, ys in zip(fig.axes, titles, ylabels, values):
            assert ax.get_title() == title and ax.title.get_fontsize() == COURSE_STYLE["axes.titlesize"]
            assert ax.get_ylabel() == ylabel and ax.get_xlabel() == "batch size B (log₂ scale)"
            assert ax.get_xscale() == "log" and ax.xaxis.get_transform().base == 2
            assert ax.get_yscale() == "log" and ax.yaxis.get_transform().base == 10
            data, oom = ax.get_lines()
            assert list(data.get_xdata()) == [1, 4] and list(data.get_ydata()) == ys
            assert data.get_marker() == "o" and data.get_linestyle() == "-"
            assert to_hex(data.get_color()) == COLORS["blue"].lower()
            assert list(oom.get_xdata()) == [16, 16] and oom.get_linestyle() == "--"
            assert to_hex(oom.get_color()) == COLORS["vermillion"].lower()
            legend = ax.get_legend()
            assert [t.get_text() for t in legend.get_texts()] == ["B = 16: out of memory"]
            assert legend.get_texts()[0].get_fontsize() == COURSE_STYLE["legend.fontsize"]
    finally:
        plt.close(fig)


def test_plot_without_out_of_memory_has_no_legend():
    result = measured()
    result.out_of_memory = [False, False, False]
    result.seconds_per_iteration[2], result.samples_per_second[2], result.memory_bytes[2] = 0.004, 4000.0, 2**22
    fig = result.plot()
    try:
        for ax in fig.axes:
            assert ax.get_legend() is None and len(ax.get_lines()) == 1
            assert list(ax.get_lines()[0].get_xdata()) == [1, 4, 16]
        assert list(fig.axes[2].get_lines()[0].get_ydata()) == [1.0, 1.5, 4.0]
    finally:
        plt.close(fig)
