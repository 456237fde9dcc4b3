"""load_or_run: a sweep runs once, is stored with how it was made, and loads after that; bad inputs explain."""
import json
import math

import pytest
import torch

from course_utils import stored
from course_utils.stored import load_or_run


class Counter:
    def __init__(self, results):
        self.results, self.calls = results, 0

    def __call__(self):
        self.calls += 1
        return self.results


def test_runs_once_then_loads(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("COURSE_RECOMPUTE", raising=False)
    monkeypatch.delenv("COURSE_SWEEP_COMMAND", raising=False)
    path = tmp_path / "results" / "sweep.json"          # the folder is made
    run = Counter({"steps": {"8,10": 900, "1437,10": None}, "lr": 0.3})
    assert load_or_run(path, run, minutes=2) == run.results and run.calls == 1
    assert capsys.readouterr().out == "ran the sweep here and stored it in sweep.json\n"
    stored_file = json.loads(path.read_text(encoding="utf-8"))
    assert stored_file["results"] == run.results
    made = stored_file["made_with"]
    assert made["torch"] == torch.__version__ and made["course_utils"] == stored._version() != ""
    assert made["command"] == "python tools/run_sweep.py notebooks/<this notebook>"
    assert set(made) == {"course_utils", "torch", "python", "date", "command"}
    assert load_or_run(path, run, minutes=2) == run.results and run.calls == 1
    assert capsys.readouterr().out == (
        f"loaded the stored sweep sweep.json (made with course_utils {made['course_utils']}, torch "
        f"{torch.__version__}); to run it here instead (about 2 minutes on a 2-core CPU), pass recompute=True\n")


def test_recompute_by_argument_or_environment(tmp_path, monkeypatch):
    path = tmp_path / "sweep.json"
    monkeypatch.delenv("COURSE_RECOMPUTE", raising=False)
    load_or_run(path, Counter({"a": 1}))
    run = Counter({"a": 2})
    assert load_or_run(path, run, recompute=True) == {"a": 2} and run.calls == 1
    monkeypatch.setenv("COURSE_RECOMPUTE", "1")
    assert load_or_run(path, Counter({"a": 3})) == {"a": 3}
    assert load_or_run(path, Counter({"a": 4}), recompute=False) == {"a": 3}   # the argument wins
    monkeypatch.setenv("COURSE_RECOMPUTE", "0")
    assert load_or_run(path, Counter({"a": 5})) == {"a": 3}
    assert json.loads(path.read_text(encoding="utf-8"))["results"] == {"a": 3}


@pytest.mark.parametrize("results, error, words", [
    ({(8, 10): 900}, TypeError, r"has the key \(8, 10\): JSON keys must be strings"),
    ({"loss": math.nan}, ValueError, r"results\['loss'\] is nan: JSON has no NaN or infinity; store None"),
    ({"runs": [1.0, math.inf]}, ValueError, r"results\['runs'\]\[1\] is inf"),
    ({"loss": torch.tensor(0.5)}, TypeError, r"results\['loss'\] is a Tensor .*tensor.tolist\(\)"),
    ([1, 2], TypeError, r"run\(\) must return a dict of results, got list"),
])
def test_results_that_json_would_change_are_refused(tmp_path, results, error, words):
    path = tmp_path / "sweep.json"
    with pytest.raises(error, match=words):
        load_or_run(path, lambda: results, recompute=True)
    assert not path.exists()


@pytest.mark.parametrize("kwargs, error, words", [
    (dict(path=3), TypeError, r"path must be a file name such as 'results/09_sweep.json', got 3"),
    (dict(path="sweep.csv"), ValueError, r"path must end in .json .*got 'sweep.csv'"),
    (dict(run={"a": 1}), TypeError, r"run must be a function with no arguments"),
    (dict(recompute="yes"), TypeError, r"recompute must be True, False or None .*got 'yes'"),
    (dict(minutes=0), ValueError, r"minutes must be a positive number .*got 0"),
    (dict(minutes=True), ValueError, r"minutes must be a positive number"),
])
def test_bad_arguments_say_what_would_work(tmp_path, kwargs, error, words):
    arguments = dict(path=tmp_path / "sweep.json", run=lambda: {"a": 1}) | kwargs
    with pytest.raises(error, match=words):
        load_or_run(**arguments)


def test_a_file_that_is_not_a_stored_sweep_is_named(tmp_path, monkeypatch):
    monkeypatch.delenv("COURSE_RECOMPUTE", raising=False)
    path = tmp_path / "other.json"
    path.write_text('{"a": 1}', encoding="utf-8")
    with pytest.raises(ValueError, match=r"other.json is not a stored sweep .*pass recompute=True"):
        load_or_run(path, lambda: {"a": 1})


def test_the_command_that_ran_the_sweep_is_stored(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_SWEEP_COMMAND", "python tools/run_sweep.py notebooks/09_generalization.ipynb")
    load_or_run(tmp_path / "sweep.json", lambda: {"a": 1}, recompute=True)
    made = json.loads((tmp_path / "sweep.json").read_text(encoding="utf-8"))["made_with"]
    assert made["command"] == "python tools/run_sweep.py notebooks/09_generalization.ipynb"


def test_the_file_is_readable_json_and_its_folders_are_made(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("COURSE_RECOMPUTE", raising=False)
    path = tmp_path / "a" / "b" / "sweep.json"
    load_or_run(path, lambda: {"note": "Schätzung", "runs": [1, 2]})
    text = path.read_text(encoding="utf-8")
    assert "Schätzung" in text and text.endswith("}\n")
    assert '\n "made_with": {\n  "course_utils"' in text          # indented by one space per level
    capsys.readouterr()
    load_or_run(path, lambda: {}, )                                 # the default duration, in the note
    assert "(about 1 minute on a 2-core CPU)" in capsys.readouterr().out


def test_a_file_needs_both_parts(tmp_path, monkeypatch):
    monkeypatch.delenv("COURSE_RECOMPUTE", raising=False)
    path = tmp_path / "half.json"
    path.write_text('{"made_with": {"course_utils": "0", "torch": "0"}}', encoding="utf-8")
    with pytest.raises(ValueError, match="is not a stored sweep"):
        load_or_run(path, lambda: {"a": 1})


def test_the_version_of_a_package_that_was_not_installed(monkeypatch):
    def missing(name):
        raise stored.metadata.PackageNotFoundError(name)
    assert stored._version() == stored.metadata.version("course_utils")
    monkeypatch.setattr(stored.metadata, "version", missing)
    assert stored._version() == "unknown"


def test_messages_for_data_json_cannot_keep(tmp_path):
    with pytest.raises(TypeError, match=r"e\.g\. f'\{b\},\{seed\}' instead of the tuple \(b, seed\)"):
        load_or_run(tmp_path / "x.json", lambda: {(1, 2): 3}, recompute=True)
    with pytest.raises(TypeError, match=r"store plain numbers, strings, lists and dicts \(e\.g\. tensor\.tolist\(\), float\(x\)\)"):
        load_or_run(tmp_path / "x.json", lambda: {"a": {1, 2}}, recompute=True)
