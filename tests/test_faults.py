"""Behaviours that a single wrong character in course_utils would break and no other test noticed.

Each test builds a case small enough to work out by hand, so the expected value is exact.
"""
import math
import time

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

import course_utils.measuring as measuring
from course_utils import History, saved_bytes, sharpness, steps_to_target, throughput, train


# ---- steps_to_target -------------------------------------------------------------------------------------------
# One weight w, one sample x = 1, y = 0, mean squared error: loss = w², gradient 2w. Starting from w = 1 with
# lr = 0.25 every step halves w, so after k steps the loss is exactly 0.25**k (powers of two: no rounding).

def one_weight(w: float = 1.0):
    def make() -> nn.Module:
        model = nn.Linear(1, 1, bias=False)
        with torch.no_grad():
            model.weight.fill_(w)
        return model
    return make


ONE_SAMPLE = (torch.ones(1, 1), torch.zeros(1))


def steps(data=ONE_SAMPLE, lrs=(0.25,), target=0.25, **kwargs):
    options = {"max_steps": 20, "device": "cpu"} | kwargs
    return steps_to_target(one_weight(), data, [1], list(lrs), target, **options)


def test_a_loss_equal_to_the_target_counts_as_reached():
    assert steps(target=0.25).steps == [1]           # loss after 1 step is exactly 0.25
    assert steps(target=0.25 ** 3).steps == [3]
    assert steps(target=1.0).steps == [0]            # the untrained model's loss is exactly 1.0


def test_the_loss_is_scored_on_the_evaluation_set_not_the_training_batch():
    # Training on y = 0 halves w; the evaluation sample has y = 0.5, so after step 1 (w = 0.5) its loss is
    # exactly 0, while the training loss is 0.25, 0.0625, ... and never reaches 0.
    result = steps(target=0.0, eval_data=(torch.ones(1, 1), torch.full((1,), 0.5)))
    assert result.steps == [1]
    assert steps(target=0.0).steps == [None]         # scored on the training data it never gets there


def test_the_default_evaluation_is_the_whole_training_set_not_the_batch():
    # Two samples x = 1 with y = 0 and y = 2, batches of 1, lr = 0.5: each step sets w to the batch's y, so
    # the batch's loss after the step is 0, but the whole set's loss is then (0² + 2²) / 2 = 2, never ≤ 0.5
    # (it starts at ((1-0)² + (1-2)²) / 2 = 1).
    data = (torch.ones(2, 1), torch.tensor([0.0, 2.0]))
    result = steps_to_target(one_weight(), data, [1], [0.5], target=0.5, max_steps=40, device="cpu")
    assert result.grid == {(1, 0.5): None} and result.steps == [None]


def test_ties_between_learning_rates_go_to_the_first_listed():
    # lr = 0.75 takes w = 1 to 1 - 0.75·2 = -0.5: the same loss 0.25 after one step as lr = 0.25.
    assert steps(lrs=[0.75, 0.25]).grid == {(1, 0.75): 1, (1, 0.25): 1}
    assert steps(lrs=[0.75, 0.25]).best_lr == [0.75]
    assert steps(lrs=[0.25, 0.75]).best_lr == [0.25]


@settings(max_examples=40, deadline=None)
@given(k=st.integers(1, 12), eval_every=st.integers(1, 8), max_steps=st.integers(1, 12))
def test_max_steps_is_checked_even_when_it_is_not_a_multiple_of_eval_every(k, eval_every, max_steps):
    """Target 0.25**k is first reached at step k; it is seen at the next multiple of eval_every, or at
    max_steps, whichever comes first; never after max_steps."""
    result = steps(target=0.25 ** k, eval_every=eval_every, max_steps=max_steps)
    expected = min(math.ceil(k / eval_every) * eval_every, max_steps) if k <= max_steps else None
    assert result.steps == [expected]


# ---- sharpness ---------------------------------------------------------------------------------------------------

def test_sharpness_keeps_the_sign_of_a_negative_curvature():
    # loss = -mean((w·x)²) with x = 1 and 3: the Hessian is -2·mean(x²) = -10, a concave quadratic.
    x, y = torch.tensor([[1.0], [3.0]]), torch.zeros(2)
    concave = lambda output, target: -((output.squeeze(1) - target) ** 2).mean()  # noqa: E731
    assert sharpness(nn.Linear(1, 1, bias=False), (x, y), loss=concave, iterations=3) == pytest.approx(-10.0)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_sharpness_is_the_rayleigh_quotient_not_the_norm_of_hv(seed):
    # Two weights (w1, w2) = outputs of Linear(1, 2) on x = 1, loss = w1² - w2²: H = diag(2, -2).
    # Power iteration flips the sign of the second coordinate each time and never converges, so vᵀHv stays
    # 2·(v1² - v2²) of the start vector, strictly between -2 and 2, whereas ‖Hv‖ = 2 for every unit v.
    saddle = lambda output, target: (output[:, 0] ** 2 - output[:, 1] ** 2).mean()  # noqa: E731
    data = (torch.ones(1, 1), torch.zeros(1))
    values = [sharpness(nn.Linear(1, 2, bias=False), data, loss=saddle, iterations=k, seed=seed) for k in (1, 2, 5)]
    assert all(abs(v) < 2 - 1e-3 for v in values), values
    assert values == pytest.approx([values[0]] * 3, abs=1e-6)


# ---- resuming from a checkpoint ----------------------------------------------------------------------------------

def test_resume_restores_the_random_state_so_dropout_continues_as_if_never_stopped(tmp_path):
    g = torch.Generator().manual_seed(1)
    x, y = torch.randn(48, 8, generator=g), torch.randint(0, 3, (48,), generator=g)

    def model(seed=0):
        torch.manual_seed(seed)
        return nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Dropout(0.5), nn.Linear(32, 3))

    options = {"batch_size": 16, "lr": 0.1, "progress": False}
    whole = model()
    h_whole = train(whole, (x, y), epochs=2, **options)
    path = tmp_path / "run.pt"
    train(model(), (x, y), epochs=1, checkpoint=path, **options)          # stopped after epoch 1
    resumed = model(seed=5)                                                # everything must come from the file
    h = train(resumed, (x, y), epochs=2, checkpoint=path, **options)
    assert h.loss == h_whole.loss
    assert all(torch.equal(a, b) for a, b in zip(whole.parameters(), resumed.parameters()))


# ---- saved_bytes ---------------------------------------------------------------------------------------------------

def test_saved_bytes_leaves_out_buffers_such_as_batch_norm_running_statistics():
    model = nn.Sequential(nn.Linear(8, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Linear(16, 3)).eval()
    # In eval mode batch norm saves its input and its running_mean and running_var (buffers, 2 × 64 bytes,
    # not counted, like its weight). Counted, per sample (float32 unless said): x (8·4), the first Linear's
    # output = batch norm's input (16·4), the ReLU output (16·4, saved by the ReLU and by the second Linear:
    # counted once), the log-softmax output (3·4), the int64 label (8); plus cross-entropy's 4-byte scalar.
    for b in (5, 64):
        x, y = torch.randn(b, 8), torch.randint(0, 3, (b,))
        assert saved_bytes(model, x, y) == (32 + 64 + 64 + 12 + 8) * b + 4


# ---- History.samples_seen ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("drop_last, expected", [
    (False, 20 + 20 + 20),        # every epoch sees all 20 samples: 5×4, then 8+8+4, then 16+4
    (True, 20 + 16 + 16),         # 5×4, then 8+8 (4 dropped), then 16 (4 dropped)
])
def test_samples_seen_with_a_batch_that_grows(drop_last, expected):
    x, y = torch.randn(20, 8), torch.randint(0, 3, (20,))
    h = train(nn.Linear(8, 3), (x, y), epochs=3, batch_size=lambda epoch: 2 ** (epoch + 1), lr=0.1,
              drop_last=drop_last, progress=False)
    assert h.samples_seen == expected
    assert History.from_dict(h.to_dict()).samples_seen == expected


# ---- throughput waits for the device -------------------------------------------------------------------------------

def test_throughput_times_the_wait_for_the_device(monkeypatch):
    """A fake device whose queued work takes 20 ms to finish: the time must include waiting for it."""
    calls = []

    def slow_synchronize(device=None):
        calls.append(torch.device(device) if device is not None else None)
        time.sleep(0.02)

    monkeypatch.setattr(measuring, "synchronize", slow_synchronize)
    result = throughput(lambda: nn.Linear(4, 2), (torch.randn(8, 4), torch.randint(0, 2, (8,))), [2, 4],
                        device="cpu", repeats=3, warmup=1)
    assert calls == [torch.device("cpu")] * (2 * 3 * 2)  # before and after each timed iteration, each B
    assert all(s >= 0.02 for s in result.seconds_per_iteration), result.seconds_per_iteration
