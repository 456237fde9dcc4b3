"""Batches follows DataLoader(TensorDataset(x, y))'s rules: number, sizes and order of sizes of the
batches, every sample once per epoch, a new order each epoch, fresh tensors. (The shuffled order itself
comes from another random stream, so it is not compared.)"""
import pytest
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from torch.utils.data import DataLoader, TensorDataset

from course_utils import Batches, iterations_per_epoch

sizes = st.integers(min_value=1, max_value=300)


@settings(max_examples=150, deadline=None)
@given(n=sizes, batch_size=st.integers(1, 350), shuffle=st.booleans(), drop_last=st.booleans())
def test_same_batches_as_dataloader(n, batch_size, shuffle, drop_last):
    assume(not (drop_last and batch_size > n))  # refused on purpose: see test_bad_batches_arguments_say_what_would_work
    x = torch.arange(n, dtype=torch.float32).unsqueeze(1)
    y = torch.arange(n)
    ours = Batches(x, y, batch_size, shuffle=shuffle, drop_last=drop_last, seed=1)
    loader = DataLoader(TensorDataset(x, y), batch_size=batch_size, shuffle=shuffle, drop_last=drop_last)
    assert len(ours) == len(loader) == iterations_per_epoch(n, batch_size, drop_last)
    for epoch in range(2):
        got = list(ours)
        expected = list(loader)
        assert [len(yb) for _, yb in got] == [len(yb) for _, yb in expected]
        seen = torch.cat([yb for _, yb in got]) if got else torch.empty(0, dtype=torch.long)
        # every sample at most once, and all of them unless drop_last cut the tail
        assert len(set(seen.tolist())) == len(seen)
        assert len(seen) == (n - n % batch_size if drop_last else n)
        for xb, yb in got:  # x and y stay paired
            assert torch.equal(xb.squeeze(1).long(), yb)
        if not shuffle:
            assert torch.equal(seen, torch.arange(len(seen)))


@settings(max_examples=50, deadline=None)
@given(n=st.integers(20, 200), batch_size=st.integers(1, 50), seed=st.integers(0, 2**31))
def test_same_seed_same_epochs_and_new_order_each_epoch(n, batch_size, seed):
    x = torch.arange(n)
    orders_a = [torch.cat(list(Batches(x, None, batch_size, seed=seed))) for _ in range(1)]
    batches = Batches(x, None, batch_size, seed=seed)
    epoch1, epoch2 = torch.cat(list(batches)), torch.cat(list(batches))
    again = Batches(x, None, batch_size, seed=seed)
    assert torch.equal(torch.cat(list(again)), epoch1) and torch.equal(torch.cat(list(again)), epoch2)
    assert torch.equal(orders_a[0], epoch1)
    assert not torch.equal(epoch1, epoch2)  # a new permutation each epoch (n >= 20: equal by chance ~ 1/20!)
    assert sorted(epoch1.tolist()) == list(range(n))


def test_features_only_yields_tensors():
    batches = Batches(torch.arange(10), batch_size=4, shuffle=False)
    assert [b.tolist() for b in batches] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert batches.batch_sizes() == [4, 4, 2]


@pytest.mark.parametrize("shuffle", [False, True])
def test_changing_a_batch_in_place_never_changes_the_data(shuffle):
    x, y = torch.randn(12, 3), torch.arange(12)
    x_before, y_before = x.clone(), y.clone()
    for xb, yb in Batches(x, y, batch_size=5, shuffle=shuffle, seed=0):
        xb.relu_()
        yb.zero_()
    for xb in Batches(x, batch_size=5, shuffle=shuffle, seed=0):
        xb.mul_(0)
    assert torch.equal(x, x_before) and torch.equal(y, y_before)


def test_batch_size_can_change_between_epochs():
    batches = Batches(torch.arange(10), batch_size=4, shuffle=False)
    assert [len(b) for b in batches] == [4, 4, 2]
    batches.batch_size = 8
    assert [len(b) for b in batches] == [8, 2] and len(batches) == 2
    with pytest.raises(ValueError, match="batch_size must be a positive"):
        batches.batch_size = 0


def test_seed_none_follows_torch_global_seed():
    torch.manual_seed(3)
    a = torch.cat(list(Batches(torch.arange(50), batch_size=7)))
    torch.manual_seed(3)
    b = torch.cat(list(Batches(torch.arange(50), batch_size=7)))
    assert torch.equal(a, b)


def test_state_dict_resumes_the_same_sequence():
    batches = Batches(torch.arange(30), batch_size=4, seed=5)
    list(batches)
    state = batches.state_dict()
    expected = torch.cat(list(batches))
    other = Batches(torch.arange(30), batch_size=4, seed=99)
    other.load_state_dict(state)
    assert torch.equal(torch.cat(list(other)), expected)


@pytest.mark.parametrize("n,b,drop,expected", [(1000, 64, False, 16), (1000, 64, True, 15), (10, 4, False, 3),
                                                (10, 4, True, 2), (10, 10, True, 1), (10, 20, False, 1),
                                                (10, 20, True, 0), (0, 3, False, 0)])
def test_iterations_per_epoch(n, b, drop, expected):
    assert iterations_per_epoch(n, b, drop) == expected


@pytest.mark.parametrize("kwargs,error,words", [
    ({"batch_size": 0}, ValueError, ["batch_size", "0"]),
    ({"batch_size": -3}, ValueError, ["batch_size", "-3"]),
    ({"batch_size": 2.5}, TypeError, ["batch_size", "2.5"]),
    ({"batch_size": True}, TypeError, ["batch_size", "True"]),
    ({"batch_size": 11, "drop_last": True}, ValueError, ["batch_size=11", "drop_last", "<= 10"]),
    ({"shuffle": "yes"}, TypeError, ["shuffle", "'yes'"]),
    ({"seed": -1}, ValueError, ["seed", "-1"]),
])
def test_bad_batches_arguments_say_what_would_work(kwargs, error, words):
    args = {"x": torch.zeros(10, 2), "y": torch.zeros(10), "batch_size": 4} | kwargs
    with pytest.raises(error) as info:
        Batches(**args)
    for word in words:
        assert word in str(info.value)


def test_length_mismatch():
    with pytest.raises(ValueError, match=r"len\(x\)=10 and len\(y\)=9"):
        Batches(torch.zeros(10, 2), torch.zeros(9), batch_size=2)


def test_not_a_tensor():
    with pytest.raises(TypeError, match="x must be a torch.Tensor"):
        Batches([1, 2, 3], batch_size=2)


def test_bad_iterations_per_epoch_arguments():
    with pytest.raises(ValueError, match="^batch_size must be a positive.*got 0$"):
        iterations_per_epoch(10, 0)
    with pytest.raises(ValueError, match="^n_samples must be 0 or more, got -1"):
        iterations_per_epoch(-1, 2)
    with pytest.raises(TypeError, match="^drop_last must be True or False, got 1"):
        iterations_per_epoch(10, 2, drop_last=1)


def test_defaults_batches_of_32_shuffled_from_the_global_seed_keeping_the_last_small_batch():
    batches = Batches(torch.arange(100))
    assert batches.batch_size == 32 and batches.shuffle is True and batches.drop_last is False
    assert [len(b) for b in batches] == [32, 32, 32, 4]
    assert repr(batches) == "Batches(100 samples, batch_size=32, shuffle=True, drop_last=False: 4 batches per epoch)"


def test_y_that_is_not_a_tensor_is_named():
    with pytest.raises(TypeError, match="^y must be a torch.Tensor"):
        Batches(torch.zeros(3, 1), [0, 1, 2], batch_size=2)
    with pytest.raises(ValueError, match=r"^x and y must be on the same device, got x on cpu and y on meta$"):
        Batches(torch.zeros(3, 1), torch.zeros(3, device="meta"), batch_size=2)


@pytest.mark.parametrize("kwargs, error, message", [
    ({"shuffle": "yes"}, TypeError, r"^shuffle must be True or False, got 'yes'"),
    ({"drop_last": 1}, TypeError, r"^drop_last must be True or False, got 1"),
    ({"seed": -1}, ValueError, r"^seed must be 0 or more, got -1"),
    ({"batch_size": 0}, ValueError, r"^batch_size must be a positive"),
    ({"x": [1.0, 2.0]}, TypeError, r"^x must be a torch.Tensor"),
])
def test_each_refusal_starts_with_the_argument(kwargs, error, message):
    with pytest.raises(error, match=message):
        Batches(**({"x": torch.zeros(10, 2), "y": None, "batch_size": 4} | kwargs))


def test_seed_none_draws_one_of_very_many_seeds_from_the_global_stream():
    seeds = []
    for global_seed in range(40):
        torch.manual_seed(global_seed)
        seeds.append(Batches(torch.arange(5)).seed)
    assert len(set(seeds)) == 40 and all(0 <= s < 2**62 for s in seeds) and max(seeds) > 2**50
