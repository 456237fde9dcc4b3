"""History: what record, flush, end_epoch, trim, to_dict and plot keep, checked on hand-made records."""
import math

import matplotlib
import numpy as np
import pytest
import torch

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

import course_utils.history as history_module  # noqa: E402
from course_utils.history import History, stays_on_device  # noqa: E402
from course_utils.plots import COLORS  # noqa: E402


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


class Clock:
    """A perf_counter that says what the test sets."""

    def __init__(self, now: float = 100.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def on_gpu(monkeypatch):
    """Treat every tensor loss as a loss on a GPU, with a clock the test moves by hand."""
    clock = Clock()
    monkeypatch.setattr(history_module.time, "perf_counter", clock)
    monkeypatch.setattr(history_module, "stays_on_device", lambda loss: isinstance(loss, torch.Tensor))
    return clock


def xs(line) -> list[float]:
    return np.asarray(line.get_xdata(), dtype=float).tolist()


def ys(line) -> list[float]:
    return np.asarray(line.get_ydata(), dtype=float).tolist()


def filled(epochs=((0.5, 0.4, 0.3), (0.2, 0.1)), sizes=None, planned=None) -> History:
    """A History of hand-made iterations: epoch e has the losses epochs[e - 1]; every epoch ends."""
    h = History(epoch_iterations=list(planned or [len(e) for e in epochs]))
    k = 0
    for e, losses in enumerate(epochs, start=1):
        for loss in losses:
            h.record(loss, lr=0.1 * (k + 1), batch_size=(sizes[k] if sizes else 4), epoch=e, seconds=2.0 * (k + 1))
            k += 1
        h.end_epoch(sum(losses) / len(losses))
    return h


# ---- what is recorded ---------------------------------------------------------------------------------------------

def test_stays_on_device_only_for_a_tensor_off_the_cpu():
    assert stays_on_device(torch.tensor(1.0, device="meta"))
    assert not stays_on_device(torch.tensor(1.0))
    assert not stays_on_device(1.0)


def test_an_empty_history():
    h = History()
    assert h.iterations == 0 and h.epochs == 0 and h.samples_seen == 0
    assert h.iterations_per_epoch == 0
    assert h.val_name == "validation" and h.interrupted is False and h.diverged is False
    assert repr(h) == "History(0 epochs, 0 iterations of 0 per epoch)"


def test_record_appends_one_entry_to_every_per_iteration_list():
    h = History()
    h.record(torch.tensor(2.5), lr=0.1, batch_size=8, epoch=1, seconds=0.25)
    h.record(1.5, lr=0.2, batch_size=3, epoch=2, seconds=0.75)
    assert h.loss == [2.5, 1.5] and all(type(v) is float for v in h.loss)
    assert h.lr == [0.1, 0.2] and h.batch_size == [8, 3] and h.epoch == [1, 2] and h.time == [0.25, 0.75]
    assert h.iterations == 2 and h.samples_seen == 11 and type(h.samples_seen) is int
    assert not h.diverged


def test_iterations_per_epoch_is_none_when_the_epochs_differ():
    assert History(epoch_iterations=[4, 4, 4]).iterations_per_epoch == 4
    assert History(epoch_iterations=[5]).iterations_per_epoch == 5
    assert History(epoch_iterations=[4, 2]).iterations_per_epoch is None


def test_end_epoch_keeps_val_and_train_results_and_epoch_loss_last():
    h = History()
    h.end_epoch(0.9)
    h.end_epoch(0.8, val={"loss": 0.7, "accuracy": 0.5}, train={"loss": 0.6, "accuracy": 0.55})
    h.end_epoch(0.4, val={"loss": 0.3, "accuracy": None}, train={"loss": 0.2, "accuracy": None})
    assert h.epoch_loss == [0.9, 0.8, 0.4] and h.epochs == 3
    assert h.val_loss == [0.7, 0.3] and h.val_accuracy == [0.5]
    assert h.train_loss == [0.6, 0.2] and h.train_accuracy == [0.55]


# ---- losses that wait on the GPU --------------------------------------------------------------------------------

def test_gpu_losses_wait_until_more_than_half_a_second_has_passed(on_gpu):
    h = History()
    assert history_module.FLUSH_SECONDS == 0.5
    h.record(torch.tensor(1.0), lr=0.1, batch_size=4, epoch=1, seconds=0.1)
    assert h.loss == [] and h.iterations == 1 and h.lr == [0.1] and h.time == [0.1]
    on_gpu.now = 100.5                                   # exactly 0.5 s: not more than FLUSH_SECONDS
    h.record(torch.tensor(2.0), lr=0.1, batch_size=4, epoch=1, seconds=0.2)
    assert h.loss == [] and h.iterations == 2
    on_gpu.now = 100.75                                  # 0.75 s: both are copied
    h.record(torch.tensor(3.0), lr=0.1, batch_size=4, epoch=1, seconds=0.3)
    assert h.loss == [1.0, 2.0, 3.0] and h.iterations == 3 and h._pending == []
    on_gpu.now = 101.0                                   # 0.25 s after that flush: waits again
    h.record(torch.tensor(4.0), lr=0.1, batch_size=4, epoch=1, seconds=0.4)
    assert h.loss == [1.0, 2.0, 3.0] and h.iterations == 4
    on_gpu.now = 101.3                                   # 0.55 s after the flush, 0.3 s after the record
    h.record(torch.tensor(5.0), lr=0.1, batch_size=4, epoch=1, seconds=0.5)
    assert h.loss == [1.0, 2.0, 3.0, 4.0, 5.0]


def test_flush_copies_the_waiting_losses_and_restarts_the_clock(on_gpu):
    h = History()
    h.flush()                                            # nothing waiting: nothing happens
    assert h.loss == [] and h._last_flush == 100.0
    h.record(torch.tensor(1.0), lr=0.1, batch_size=4, epoch=1, seconds=0.1)
    h.record(torch.tensor(2.0), lr=0.1, batch_size=4, epoch=1, seconds=0.2)
    on_gpu.now = 100.3
    h.flush()
    assert h.loss == [1.0, 2.0] and h._pending == [] and h._last_flush == 100.3 and h.iterations == 2
    on_gpu.now = 100.7                                   # 0.4 s after the flush: still waits
    h.record(torch.tensor(3.0), lr=0.1, batch_size=4, epoch=1, seconds=0.3)
    assert h.loss == [1.0, 2.0] and h.iterations == 3


def test_a_nan_among_the_waiting_losses_is_kept_and_the_updates_after_it_are_forgotten(on_gpu):
    h = History()
    for k, loss in enumerate([1.0, 2.0, math.nan, 4.0, 5.0]):
        h.record(torch.tensor(loss), lr=0.1 * (k + 1), batch_size=k + 1, epoch=1, seconds=float(k))
    h.flush()
    assert h.diverged and h._pending == []
    assert h.loss[:2] == [1.0, 2.0] and math.isnan(h.loss[2]) and len(h.loss) == 3
    assert h.lr == pytest.approx([0.1, 0.2, 0.3]) and h.batch_size == [1, 2, 3]
    assert h.epoch == [1, 1, 1] and h.time == [0.0, 1.0, 2.0]
    assert h.iterations == 3 and h.samples_seen == 6


def test_an_infinite_loss_on_the_cpu_marks_the_run_diverged():
    h = History()
    h.record(1.0, lr=0.1, batch_size=4, epoch=1, seconds=0.1)
    assert not h.diverged
    h.record(math.inf, lr=0.1, batch_size=4, epoch=1, seconds=0.2)
    assert h.diverged and h.loss == [1.0, math.inf] and h.iterations == 2 and len(h.lr) == 2
    assert repr(h).endswith(" (diverged))")


def test_trim_keeps_whole_iterations_and_whole_epochs(on_gpu):
    h = History(epoch_iterations=[2, 2])
    h.record(torch.tensor(1.0), lr=0.1, batch_size=4, epoch=1, seconds=0.1)
    h.record(torch.tensor(2.0), lr=0.1, batch_size=4, epoch=1, seconds=0.2)
    h.end_epoch(1.5, val={"loss": 0.7, "accuracy": 0.5}, train={"loss": 0.6, "accuracy": 0.4})
    h.record(torch.tensor(3.0), lr=0.2, batch_size=4, epoch=2, seconds=0.3)
    h.lr.append(0.3)                                      # a stop between the lr and the loss of an update
    h.val_loss.append(0.65)                               # a stop between validation and epoch_loss
    h.val_accuracy.append(0.6)
    h.train_loss.append(0.55)
    h.train_accuracy.append(0.45)
    h.trim()
    assert h.loss == [1.0, 2.0, 3.0] and h.lr == [0.1, 0.1, 0.2] and h._pending == []
    assert len(h.batch_size) == len(h.epoch) == len(h.time) == 3
    assert h.epoch_loss == [1.5] and h.val_loss == [0.7] and h.val_accuracy == [0.5]
    assert h.train_loss == [0.6] and h.train_accuracy == [0.4]


def test_to_dict_flushes_copies_and_round_trips(on_gpu):
    h = filled()
    h.record(torch.tensor(0.25), lr=0.6, batch_size=4, epoch=3, seconds=12.0)   # waits on the "GPU"
    h.val_name, h.interrupted = "test", True
    state = h.to_dict()
    assert state["loss"] == [0.5, 0.4, 0.3, 0.2, 0.1, 0.25]
    assert state["val_name"] == "test" and state["interrupted"] is True and state["diverged"] is False
    assert set(state) == {"epoch_iterations", "loss", "lr", "batch_size", "epoch", "time", "epoch_loss",
                          "train_loss", "train_accuracy", "val_loss", "val_accuracy", "val_name",
                          "interrupted", "diverged"}
    state["loss"].append(9.0)                            # a copy: changing it leaves the History alone
    assert len(h.loss) == 6
    again = History.from_dict(h.to_dict())
    assert again == h and again.loss is not h.loss


# ---- positions on each x axis -------------------------------------------------------------------------------------

def test_positions_on_every_axis_for_whole_epochs():
    h = filled(sizes=[4, 4, 2, 4, 1])
    pos, at_end, boundaries, label = h._positions("iteration")
    assert pos.tolist() == [1.0, 2.0, 3.0, 4.0, 5.0] and at_end == [3.0, 5.0] and boundaries == [3.0]
    assert label == "iteration (parameter update)"
    pos, at_end, boundaries, label = h._positions("samples")
    assert pos.tolist() == [4.0, 8.0, 10.0, 14.0, 15.0] and at_end == [10.0, 15.0] and boundaries == [10.0]
    assert label == "training samples seen"
    pos, at_end, boundaries, label = h._positions("time")
    assert pos.tolist() == [2.0, 4.0, 6.0, 8.0, 10.0] and at_end == [6.0, 10.0] and boundaries == [6.0]
    assert label == "seconds of training"
    pos, at_end, boundaries, label = h._positions("epoch")
    assert pos.tolist() == pytest.approx([1 / 3, 2 / 3, 1.0, 1.5, 2.0], rel=1e-15)
    assert at_end == [1.0, 2.0] and boundaries == [1.0] and label == "epoch"
    assert all(type(v) is float for v in at_end)


def test_positions_of_an_epoch_stopped_half_way():
    h = filled(epochs=((0.5, 0.4), (0.3,)), planned=[2, 4])
    h.epoch_loss.pop()                                   # epoch 2 did not finish: 1 of its 4 iterations
    pos, at_end, boundaries, _ = h._positions("epoch")
    assert pos.tolist() == [0.5, 1.0, 1.25] and at_end == [1.0] and boundaries == [1.0]
    pos, at_end, boundaries, _ = h._positions("iteration")
    assert pos.tolist() == [1.0, 2.0, 3.0] and at_end == [2.0] and boundaries == [2.0]
    only_started = filled(epochs=((0.5, 0.4),), planned=[3])
    only_started.epoch_loss.pop()
    pos, at_end, boundaries, _ = only_started._positions("epoch")
    assert pos.tolist() == pytest.approx([1 / 3, 2 / 3]) and at_end == [] and boundaries == []
    pos, at_end, boundaries, _ = only_started._positions("iteration")
    assert pos.tolist() == [1.0, 2.0] and at_end == [] and boundaries == []


def test_epoch_positions_without_a_plan_or_with_more_iterations_than_planned():
    h = History()                                        # no epoch_iterations: each epoch's own count
    for k, e in enumerate([1, 1, 2, 2, 2, 2]):
        h.record(1.0, lr=0.1, batch_size=1, epoch=e, seconds=float(k))
    h.end_epoch(1.0)
    h.end_epoch(1.0)
    assert h._positions("epoch")[0].tolist() == [0.5, 1.0, 1.25, 1.5, 1.75, 2.0]
    h.epoch_iterations = [1, 2]                          # fewer planned than done: the count wins
    assert h._positions("epoch")[0].tolist() == [0.5, 1.0, 1.25, 1.5, 1.75, 2.0]


def test_epochs_of_one_iteration_sit_at_their_epoch_ends():
    h = filled(epochs=((0.5,), (0.4,), (0.3,)))          # N = B: one iteration per epoch
    pos, at_end, boundaries, _ = h._positions("epoch")
    assert pos.tolist() == [1.0, 2.0, 3.0] and at_end == [1.0, 2.0, 3.0] and boundaries == [1.0, 2.0]


@pytest.mark.parametrize("x", ["iteration", "epoch", "time", "samples"])
def test_positions_of_an_empty_history_are_empty(x):
    pos, at_end, boundaries, _ = History(epoch_iterations=[3])._positions(x)
    assert len(pos) == 0 and at_end == [] and boundaries == []


# ---- plot ----------------------------------------------------------------------------------------------------------

def test_plot_draws_every_series_with_its_label_and_colour():
    h = filled()
    h.val_name = "test"
    h.val_loss, h.train_loss = [0.45, 0.25], [0.4]
    ax = h.plot()
    lines = {line.get_label(): line for line in ax.get_lines()}
    per_iteration = lines["loss per iteration (one batch)"]
    assert xs(per_iteration) == [1, 2, 3, 4, 5] and ys(per_iteration) == h.loss
    assert per_iteration.get_color() == COLORS["sky"] and per_iteration.get_linewidth() == 1
    assert per_iteration.get_alpha() == 0.8
    epoch = lines["training loss per epoch (mean during the epoch)"]
    assert xs(epoch) == [3.0, 5.0] and ys(epoch) == h.epoch_loss
    assert epoch.get_color() == COLORS["orange"] and epoch.get_marker() == "o" and epoch.get_linestyle() == "-"
    train = lines["training loss of the end-of-epoch model"]
    assert xs(train) == [3.0] and ys(train) == [0.4]
    assert train.get_color() == COLORS["green"] and train.get_marker() == "D" and train.get_linestyle() == "-"
    val = lines["test loss per epoch"]
    assert xs(val) == [3.0, 5.0] and ys(val) == [0.45, 0.25]
    assert val.get_color() == COLORS["vermillion"] and val.get_marker() == "s" and val.get_linestyle() == "--"
    dotted = [line for line in ax.get_lines() if line.get_linestyle() == ":"]
    assert [xs(line)[0] for line in dotted] == [3.0] and dotted[0].get_label() == "epoch boundary"
    assert ax.get_xlabel() == "iteration (parameter update)" and ax.get_ylabel() == "loss"
    legend = [text.get_text() for text in ax.get_legend().get_texts()]
    assert "test loss per epoch" in legend and "epoch boundary" in legend


def test_plot_defaults_to_iterations_draws_on_a_given_axes_and_only_what_was_recorded():
    h = filled()
    _, ax = plt.subplots()
    assert h.plot(ax=ax) is ax
    assert ax.get_xlabel() == "iteration (parameter update)"
    labels = [line.get_label() for line in ax.get_lines()]
    assert labels == ["loss per iteration (one batch)", "training loss per epoch (mean during the epoch)",
                      "epoch boundary"]                  # no smoothing, no train or validation loss
    assert h.plot(x="samples").get_xlabel() == "training samples seen"
    assert h.plot(x="time").get_xlabel() == "seconds of training"
    assert h.plot(x="epoch").get_xlabel() == "epoch"


def test_plot_of_iterations_only_has_no_epoch_series():
    h = History()
    h.record(1.0, lr=0.1, batch_size=4, epoch=1, seconds=0.1)
    ax = h.plot()
    assert [line.get_label() for line in ax.get_lines()] == ["loss per iteration (one batch)"]


@pytest.mark.parametrize("smooth", [2, 3, 5])
def test_smooth_adds_the_running_mean(smooth):
    h = filled()
    lines = {line.get_label(): line for line in h.plot(smooth=smooth).get_lines()}
    mean = lines[f"running mean of {smooth} iterations"]
    expected = [sum(h.loss[k - smooth + 1:k + 1]) / smooth for k in range(smooth - 1, 5)]
    assert xs(mean) == list(range(smooth, 6))
    assert ys(mean) == pytest.approx(expected, rel=1e-12)
    assert mean.get_color() == COLORS["blue"]


@pytest.mark.parametrize("smooth", [0, 1, 6])
def test_no_running_mean_for_smooth_of_one_or_more_than_the_iterations(smooth):
    labels = [line.get_label() for line in filled().plot(smooth=smooth).get_lines()]
    assert not any("running mean" in label for label in labels)


def test_plot_refuses_an_unknown_axis_and_an_empty_history():
    with pytest.raises(ValueError, match="x must be one of 'iteration', 'epoch', 'time', 'samples', got 'step'"):
        filled().plot(x="step")
    with pytest.raises(ValueError, match=r"^this History has no iterations to plot \(epochs=0, or stopped before "
                                         r"the first\)$"):
        History().plot()


# ---- repr ------------------------------------------------------------------------------------------------------------

def test_repr_says_epochs_iterations_the_last_epoch_loss_and_how_it_ended():
    h = filled()
    assert h.epoch_iterations == [3, 2]
    assert repr(h) == "History(2 epochs, 5 iterations of 2 to 3 per epoch, last epoch loss 0.1500)"
    h.epoch_iterations = [3, 3]
    assert repr(h) == "History(2 epochs, 5 iterations of 3 per epoch, last epoch loss 0.1500)"
    assert repr(filled(epochs=((0.5,), (0.4,), (0.3,)))) == \
        "History(3 epochs, 3 iterations of 1 per epoch, last epoch loss 0.3000)"
    h.epoch_iterations = [3, 2]
    h.interrupted = True
    assert repr(h).endswith("last epoch loss 0.1500 (interrupted))")
    h.diverged = True                                    # a stop is said first
    assert repr(h).endswith(" (interrupted))")
    h.interrupted = False
    assert repr(h).endswith("last epoch loss 0.1500 (diverged))")
