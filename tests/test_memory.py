"""activation_bytes and saved_bytes: exact byte counts for small models whose saved tensors are known.

tests/test_speed.py checks the common MLP case; here: layers nested in containers, float64, a loss given
by the caller, tensors that share one block of memory, strided views, and the argument checks.
"""
import pytest
import torch
from torch import nn

from course_utils.memory import activation_bytes, saved_bytes


# ---- activation_bytes --------------------------------------------------------------------------------------

def test_activation_bytes_counts_the_output_of_every_leaf_layer_once():
    model = nn.Sequential(nn.Linear(3, 4), nn.Sequential(nn.ReLU(), nn.Linear(4, 2)))  # a container inside
    # leaves only: Linear (5, 4), ReLU (5, 4), Linear (5, 2) -- the two Sequentials' outputs are not counted again
    assert activation_bytes(model, torch.zeros(5, 3)) == (20 + 20 + 10) * 4
    assert activation_bytes(model.double(), torch.zeros(5, 3, dtype=torch.float64)) == (20 + 20 + 10) * 8
    assert activation_bytes(nn.Linear(10, 15), torch.zeros(4, 10)) == 4 * 15 * 4


class PairOut(nn.Module):
    """A leaf layer whose output is not a tensor (a pair): it has no single size and is not counted."""

    def forward(self, x: torch.Tensor):
        return x, x


def test_activation_bytes_skips_outputs_that_are_not_tensors_and_leaves_no_hooks():
    model = nn.Sequential(nn.Linear(2, 3), nn.Tanh())
    assert activation_bytes(model, torch.zeros(7, 2)) == 2 * 7 * 3 * 4
    assert all(not m._forward_hooks for m in model.modules())
    assert activation_bytes(PairOut(), torch.zeros(4, 2)) == 0
    assert torch.is_grad_enabled()                  # switched off for the forward pass only


def test_activation_bytes_checks_its_arguments():
    with pytest.raises(TypeError, match=r"^model must be a torch.nn.Module"):
        activation_bytes(lambda x: x, torch.zeros(2, 2))
    with pytest.raises(TypeError, match=r"^x must be a torch.Tensor"):
        activation_bytes(nn.Linear(2, 2), [[0.0, 0.0]])


# ---- saved_bytes -------------------------------------------------------------------------------------------

class Halves(nn.Module):
    """h = W x, then the product of h's two halves: the multiplication saves two views of one block, h."""

    def __init__(self, swap: bool = False) -> None:
        super().__init__()
        self.linear = nn.Linear(4, 4, bias=False)
        self.swap = swap

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.linear(x)
        left, right = h[:, :2], h[:, 2:]
        return (right * left if self.swap else left * right).sum(1)


@pytest.mark.parametrize("swap", [False, True])   # the two views reach the counting in either order
def test_saved_bytes_counts_a_block_that_two_views_reach_from_its_first_to_its_last_byte(swap):
    x, y = torch.randn(3, 4), torch.zeros(3)
    # x (3·4·4 = 48, saved by the Linear); h[:, :2] (bytes 0-40 of h) and h[:, 2:] (bytes 8-48): together
    # all of h, 48 bytes, once; the output and the targets (3·4 = 12 each, saved by the squared error)
    assert saved_bytes(Halves(swap), x, y) == 48 + 48 + 12 + 12


def test_saved_bytes_of_a_strided_view_reaches_over_the_rows_it_skips():
    x = torch.randn(6, 8)
    model = nn.Linear(8, 1)
    # x[::2] is 3 rows of 8 with a row stride of 16 numbers: from its first number to its last it reaches
    # 1 + 2·16 + 7 = 40 numbers (160 bytes), not the 24 numbers it holds
    assert saved_bytes(model, x[::2], torch.zeros(3)) == 160 + 12 + 12
    assert saved_bytes(model, x[::2].contiguous(), torch.zeros(3)) == 96 + 12 + 12


def test_saved_bytes_uses_the_loss_it_is_given():
    x, y = torch.randn(3, 4), torch.zeros(3)
    mean_abs = lambda out, target: (out - target).abs().mean()  # noqa: E731  saves only the sign, (3,) floats
    assert saved_bytes(Halves(), x, y, mean_abs) == 48 + 48 + 12
    assert saved_bytes(Halves(), x, y, loss=mean_abs) == 48 + 48 + 12
    assert saved_bytes(Halves(), x, y, loss=None) == 48 + 48 + 12 + 12   # None: the default, squared error


def test_saved_bytes_with_gradients_off_outside_still_sees_what_backward_would_keep():
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 3))
    with torch.no_grad():
        assert saved_bytes(model, torch.randn(2, 8), torch.randint(0, 3, (2,))) == 116 * 2 + 4
    assert saved_bytes(model, torch.randn(1, 8), torch.randint(0, 3, (1,))) == 116 + 4   # one sample is enough


def test_saved_bytes_checks_its_arguments():
    model = nn.Linear(8, 3)
    x, y = torch.randn(4, 8), torch.randint(0, 3, (4,))
    with pytest.raises(ValueError, match=r"^x is an empty batch \(shape \(0, 8\)\): saved_bytes measures the memory "
                                         r"of a batch, so give it at least one sample, e.g. x\[:1\] and y\[:1\]$"):
        saved_bytes(model, x[:0], y[:0])
    with pytest.raises(ValueError, match=r"^x and y must have the same number of samples, got len\(x\)=4 and "
                                         r"len\(y\)=2$"):
        saved_bytes(model, x, y[:2])
    with pytest.raises(TypeError, match=r"^loss must be None or a function"):
        saved_bytes(model, x, y, loss="cross_entropy")
    with pytest.raises(TypeError, match=r"^x holds integers \(torch.int64\)"):
        saved_bytes(model, x.long(), y)
    with pytest.raises(TypeError, match=r"^x must be a torch.Tensor"):
        saved_bytes(model, x.tolist(), y)
    with pytest.raises(TypeError, match=r"^y must be a torch.Tensor"):
        saved_bytes(model, x, y.tolist())
    with pytest.raises(TypeError, match=r"^model must be a torch.nn.Module"):
        saved_bytes(None, x, y)
