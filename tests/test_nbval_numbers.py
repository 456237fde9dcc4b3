"""The notebook check compares claims at their printed precision, and can still fail (tests/nbval_numbers.py)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, strategies as st

from nbval_numbers import METADATA_KEY, Tolerance, compare_text, last_digit_unit, split_numbers

ROOT = Path(__file__).resolve().parents[1]


def test_words_and_integers_are_exact():
    assert compare_text("B = 64 lower", "B = 256 lower") == "number 1: 64 became 256 (integers must be equal)"
    assert compare_text("A lower", "no difference detected") is not None
    assert compare_text("16 iterations", "16 iterations.") is not None
    assert compare_text("3 numbers", "3 numbers 4") is not None


def test_a_decimal_may_move_one_unit_of_its_last_digit_and_no_more():
    assert compare_text("loss 0.0385", "loss 0.0386") is None
    assert compare_text("loss 0.0385", "loss 0.0387") is not None
    assert compare_text("max 2.46e+06", "max 2.47e+06") is None
    assert compare_text("max 2.46e+06", "max 1.99e+05") is not None
    assert compare_text("a sentence ends at 0.892.", "a sentence ends at 0.893.") is None


def test_a_declared_tolerance_widens_decimals_only_unless_integers_are_named():
    loose = Tolerance(rel=0.1)
    assert compare_text("mean 59.3%", "mean 62.0%", loose) is None
    assert compare_text("mean 59.3%", "mean 70.0%", loose) is not None
    assert compare_text("120 steps", "130 steps", loose) is not None
    assert compare_text("120 steps", "130 steps", Tolerance(rel=0.1, integers=True)) is None
    assert compare_text("B = 64 lower", "B = 64 higher", Tolerance(rel=1.0, integers=True)) is not None
    assert compare_text("epoch 30: 1545", "epoch 31: 1546", Tolerance(rel=0.01, integers=True)) is not None
    assert compare_text("epoch 30: 1545", "epoch 30: 1546", Tolerance(rel=0.01, integers=True)) is None


def test_a_line_can_have_its_own_tolerance():
    spec = {"why": "a test", "abs": 1.0, "lines": {"loss": {"rel": 0.05}}}
    tolerance = Tolerance.from_spec(spec)
    assert compare_text("accuracy 60.1\nloss 0.60", "accuracy 60.9\nloss 0.62", tolerance) is None
    assert compare_text("accuracy 60.1\nloss 0.60", "accuracy 60.9\nloss 0.70", tolerance) == \
        "line 2: number 1: 0.60 became 0.70 (allowed: last digit, rel 0.05, abs 0)"
    assert compare_text("accuracy 60.1\nloss 0.60", "accuracy 62.1\nloss 0.60", tolerance) is not None
    assert compare_text("accuracy 60.1\nloss 0.60", "accuracy 60.1", tolerance) == "2 lines became 1"


def test_padding_spaces_move_with_the_number_but_words_do_not():
    assert compare_text("max loss   1.99e+05 |", "max loss    1.99e+05 |") is None
    assert compare_text("max loss 1.99e+05", "max  gain 1.99e+05") is not None


def test_versions_names_and_ranges_are_words():
    words, numbers = split_numbers("torch 2.13.0 layer1 B=4-256 lr -0.5")
    assert numbers == ["4", "256", "-0.5"]
    assert "2.13.0" in words[0] and "layer1" in words[0]


@given(st.floats(1e-6, 1e6), st.integers(1, 5), st.sampled_from(["f", "e", "g"]))
def test_a_number_printed_after_a_tiny_change_agrees(value, digits, kind):
    """Rounding noise far below the last printed digit never fails the check."""
    a = f"{value:.{digits}{kind}}"
    b = f"{value + 1e-3 * last_digit_unit(a):.{digits}{kind}}"
    assert compare_text(f"x = {a}", f"x = {b}") is None


@given(st.floats(1e-3, 1e3), st.integers(1, 4))
def test_a_change_of_two_units_in_the_last_digit_fails(value, digits):
    a = f"{value:.{digits}f}"
    b = f"{float(a) + 2.5 * last_digit_unit(a):.{digits}f}"
    assert compare_text(f"x = {a}", f"x = {b}") is not None


def test_a_tolerance_must_say_why():
    with pytest.raises(ValueError, match="why"):
        Tolerance.from_metadata({METADATA_KEY: {"rel": 0.1}})
    with pytest.raises(ValueError, match="why"):
        Tolerance.from_metadata({METADATA_KEY: {"rel": 0.1, "why": "x", "relative": 0.2}})
    assert Tolerance.from_metadata({}) == Tolerance()


def test_every_declared_tolerance_in_the_notebooks_gives_its_reason_and_stays_modest():
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        for k, cell in enumerate(json.loads(path.read_text(encoding="utf-8"))["cells"]):
            if METADATA_KEY in cell.get("metadata", {}):
                tolerance = Tolerance.from_metadata(cell["metadata"])  # raises without a reason
                assert tolerance.rel <= 0.5, f"{path.name} cell {k}: rel {tolerance.rel} says nothing"


def notebook(code: str, stored: str, metadata: dict | None = None) -> dict:
    cell = {"cell_type": "code", "execution_count": 1, "metadata": metadata or {}, "source": code,
            "outputs": [{"output_type": "stream", "name": "stdout", "text": stored}]}
    return {"cells": [cell], "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                          "language": "python"}}, "nbformat": 4, "nbformat_minor": 5}


@pytest.mark.parametrize("printed, stored, metadata, passes", [
    ("verdict: A lower by 0.0386", "verdict: A lower by 0.0385\n", None, True),
    ("verdict: B lower by 0.0385", "verdict: A lower by 0.0385\n", None, False),
    ("verdict: A lower by 0.0500", "verdict: A lower by 0.0385\n", None, False),
    ("verdict: A lower by 0.0400", "verdict: A lower by 0.0385\n",
     {METADATA_KEY: {"rel": 0.1, "why": "a test"}}, True),
    ("verdict: B lower by 0.0400", "verdict: A lower by 0.0385\n",
     {METADATA_KEY: {"rel": 0.1, "why": "a test"}}, False),
])
def test_nbval_with_the_plugin_passes_and_fails_a_real_notebook(tmp_path, printed, stored, metadata, passes):
    """Run pytest --nbval on a one-cell notebook whose stored output differs from what the cell prints."""
    path = tmp_path / "check.ipynb"
    path.write_text(json.dumps(notebook(f"print({printed!r})", stored, metadata)), encoding="utf-8")
    (tmp_path / "conftest.py").write_text(
        f"import sys\nsys.path.insert(0, {str(ROOT / 'tests')!r})\nfrom nbval_numbers import install\ninstall()\n")
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    result = subprocess.run([sys.executable, "-m", "pytest", "--nbval", "-p", "no:cacheprovider", "-q",
                             "-c", str(tmp_path / "pytest.ini"), str(path)],
                            cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert (result.returncode == 0) == passes, result.stdout[-2000:]
