"""The frameworks table of notebook 10, its results file and the script that writes it stay in step.

``tools/frameworks/measure_frameworks.py`` (run in its own environment) writes
``notebooks/results/frameworks.json``; ``course_utils.frameworks`` reads it and prints the table; notebook 10
shows that table. These tests need none of the frameworks installed.
"""
from __future__ import annotations

import ast
import copy
import json
import math
from pathlib import Path

import pytest

from course_utils import frameworks
from course_utils.frameworks import FIELDS, check_fields, frameworks_table, load_frameworks

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "tools" / "frameworks" / "measure_frameworks.py"
NOTEBOOK = ROOT / "notebooks" / "10_beyond_one_device.ipynb"


def script_constant(name: str):
    """A literal assigned at the top level of the script, read without running it (no framework needed)."""
    tree = ast.parse(SCRIPT.read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Name) and target.id == name:
                    return ast.literal_eval(node.value)
                if isinstance(target, ast.Tuple) and name in [t.id for t in target.elts]:
                    values = ast.literal_eval(node.value)
                    return values[[t.id for t in target.elts].index(name)]
    raise AssertionError(f"{SCRIPT.name} assigns no {name}")


@pytest.fixture(scope="module")
def results() -> dict:
    return load_frameworks(frameworks.RESULTS)


def test_script_writes_the_fields_the_reader_expects():
    assert script_constant("FIELDS") == FIELDS


def test_stored_file_has_exactly_the_fields(results):
    check_fields(results)  # raises on any missing, extra or reordered field
    assert results["setup"]["command"] == script_constant("COMMAND")


def test_stored_file_measured_the_scripts_job(results):
    setup = results["setup"]
    assert (setup["n_samples"], setup["micro_batch"], setup["epochs"], setup["accumulation_steps"]) == (
        script_constant("N"), script_constant("B"), script_constant("EPOCHS"), script_constant("K"))


def test_requirements_pin_the_measured_versions(results):
    pins = dict(line.split("==") for line in (SCRIPT.parent / "requirements.txt").read_text().splitlines()
                if "==" in line and not line.startswith("#"))
    for package in ("torch", "keras", "lightning", "transformers", "accelerate"):
        assert pins[package] == results["versions"][package], package
    assert results["versions"]["keras_backend"] == "torch"


def test_stored_measurements_agree_with_the_arithmetic(results):
    """Known answers: what N = 100, b = 8, k = 4, 2 epochs must give where the rule is unambiguous."""
    n, b, k, epochs = (results["setup"][f] for f in ("n_samples", "micro_batch", "accumulation_steps", "epochs"))
    per_epoch = math.ceil(n / b)
    pt, ke, li, hf = (results[s] for s in ("pytorch", "keras", "lightning", "transformers"))
    assert (pt["len_loader"], pt["len_loader_drop_last"]) == (per_epoch, n // b) == (13, 12)
    assert pt["scheduler_last_epoch"] == pt["optimizer_steps"] == epochs * per_epoch
    # Keras: windows of k over the whole run, across epochs; iterations = micro-batches // k
    assert ke["optimizer_iterations"] == ke["updates_applied"] == epochs * per_epoch // k == 6
    assert ke["update_after_micro_batches"] == list(range(k, epochs * per_epoch + 1, k))
    assert ke["micro_batches_never_applied"] == epochs * per_epoch % k == 2
    assert ke["schedule_steps_seen"] == [m - 1 for m in ke["update_after_micro_batches"]]
    # Lightning and HF: ⌈13/4⌉ = 4 steps per epoch, the last on the partial window
    for section in (li, hf):
        assert section["global_step"] == section["optimizer_steps"] == epochs * math.ceil(per_epoch / k) == 8
        assert section["update_after_micro_batches"] == [4, 8, 12, 13, 17, 21, 25, 26]
        assert section["scheduler_last_epoch"] == 8
    assert li["step_weights"] == [1.0, 1.0, 1.0, 0.25] * 2
    assert hf["step_weights"] == [1.0] * 8
    assert hf["planned_updates_per_epoch"] == math.ceil(per_epoch / k)
    assert hf["total_train_batch_size"] == b * k * 1


def test_notebook_shows_the_table_of_the_stored_file(results):
    cells = json.loads(NOTEBOOK.read_text(encoding="utf-8"))["cells"]
    shown = [c for c in cells if c["cell_type"] == "code" and "frameworks_table(" in "".join(c["source"])]
    assert len(shown) == 1, "notebook 10 should print the table in exactly one cell"
    text = "".join("".join(o.get("text", "")) for o in shown[0]["outputs"] if o["output_type"] == "stream")
    assert text.rstrip("\n") == frameworks_table(results)


def test_table_reports_what_the_file_says(results):
    table = frameworks_table(results)
    assert "Lightning    a step of weight 0.25 (its loss still divided by k = 4)" in table
    assert "HF Trainer   a step of weight 1.00" in table
    assert "the last 2 micro-batches are never applied" in table
    assert "transformers 5.25.0" in table and "lightning 2.6.6" in table
    assert max(len(line) for line in table.splitlines()) <= 95


def test_table_follows_a_changed_measurement(results):
    """A planted change in the file shows in the table: the table is built from it, not written by hand."""
    changed = copy.deepcopy(results)
    changed["lightning"]["step_weights"] = [1.0, 1.0, 1.0, 1.0] * 2
    changed["versions"]["transformers"] = "9.9.9"
    table = frameworks_table(changed)
    assert "Lightning    a step of weight 1.00 (divided by the 1 micro-batch it has)" in table
    assert "transformers 9.9.9" in table


@pytest.mark.parametrize("damage", ["drop_section", "drop_field", "extra_field", "not_a_dict"])
def test_a_damaged_file_is_refused_with_its_name(results, damage):
    bad = copy.deepcopy(results)
    if damage == "drop_section":
        del bad["keras"]
        with pytest.raises(ValueError, match="sections"):
            check_fields(bad)
    elif damage == "drop_field":
        del bad["transformers"]["global_step"]
        with pytest.raises(ValueError, match=r"results\['transformers'\]"):
            check_fields(bad)
    elif damage == "extra_field":
        bad["pytorch"]["guessed"] = 1
        with pytest.raises(ValueError, match=r"results\['pytorch'\]"):
            frameworks_table(bad)
    else:
        with pytest.raises(TypeError, match="results must be"):
            check_fields([bad])


def test_load_refuses_a_missing_file_and_a_wrong_type(tmp_path):
    with pytest.raises(FileNotFoundError, match="measure_frameworks.py"):
        load_frameworks(tmp_path / "none.json")
    with pytest.raises(TypeError, match="path must be a file path"):
        load_frameworks(42)
