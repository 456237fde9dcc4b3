"""Stored sweeps: a measurement too long for class, run once by a script and loaded with a visible note.

A notebook must run top to bottom in about a minute on a 2-core CPU, but an honest comparison can need
hundreds of training runs (several seeds, a tuned learning rate for every setting). Such a sweep is written
in the notebook like any other cell, as a function ``run()`` that returns plain data (dicts, lists, numbers,
strings), and handed to ``load_or_run``: it loads the stored results from a JSON file next to the notebook and
says so, or, when asked, runs the sweep here and stores it. The file records how it was made: the versions
of course_utils, PyTorch and Python, the date, and the command that remakes it::

    python tools/run_sweep.py notebooks/09_generalization.ipynb

>>> import tempfile, os
>>> folder = tempfile.mkdtemp()
>>> path = os.path.join(folder, "squares.json")
>>> load_or_run(path, lambda: {"squares": [k * k for k in range(4)]}, minutes=0.01)["squares"]
ran the sweep here and stored it in squares.json
[0, 1, 4, 9]
>>> load_or_run(path, lambda: 1 / 0, minutes=0.01)["squares"]  # doctest: +ELLIPSIS
loaded the stored sweep squares.json (made with course_utils 0.1.0, torch ...); to run it here instead (about 0.01 minutes on a 2-core CPU), pass recompute=True
[0, 1, 4, 9]

(the second time the sweep, here a division by zero, does not run: the stored results are loaded.)
"""
from __future__ import annotations

import datetime
import json
import math
import os
import platform
from collections.abc import Callable
from importlib import metadata
from pathlib import Path

import torch

RECOMPUTE_VARIABLE = "COURSE_RECOMPUTE"   # set to 1 to make every load_or_run recompute and store
COMMAND_VARIABLE = "COURSE_SWEEP_COMMAND"  # set by tools/run_sweep.py: the command stored with the results


def _version() -> str:
    try:
        return metadata.version("course_utils")
    except metadata.PackageNotFoundError:   # running from a source folder that was not installed
        return "unknown"


def _check_plain(value: object, where: str = "results") -> None:
    """Only what JSON stores and gives back unchanged: dicts with str keys, lists, str, int, float, bool, None."""
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(f"{where} has the key {key!r}: JSON keys must be strings, e.g. f'{{b}},{{seed}}' "
                                "instead of the tuple (b, seed)")
            _check_plain(item, f"{where}[{key!r}]")
    elif isinstance(value, list):
        for k, item in enumerate(value):
            _check_plain(item, f"{where}[{k}]")
    elif isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{where} is {value!r}: JSON has no NaN or infinity; store None for a failed run")
    elif not (value is None or isinstance(value, (str, int, float, bool))):
        raise TypeError(f"{where} is a {type(value).__name__} ({value!r:.60}); store plain numbers, strings, "
                        "lists and dicts (e.g. tensor.tolist(), float(x))")


def load_or_run(path: str | os.PathLike, run: Callable[[], dict], *, recompute: bool | None = None,
                minutes: float = 1.0) -> dict:
    """The stored results at ``path``, or ``run()``'s, stored there first (see the module docstring).

    The sweep runs when the file does not exist, when ``recompute=True``, or when the environment variable
    ``COURSE_RECOMPUTE`` is 1 and ``recompute`` is not False. ``run()`` must return a dict of plain data;
    ``minutes`` is how long it takes on a 2-core CPU, for the note.
    """
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a file name such as 'results/09_sweep.json', got {path!r}")
    path = Path(path)
    if path.suffix != ".json":
        raise ValueError(f"path must end in .json (the results are stored as JSON), got {str(path)!r}")
    if not callable(run):
        raise TypeError(f"run must be a function with no arguments that returns the results, got {run!r}")
    if recompute is not None and not isinstance(recompute, bool):
        raise TypeError(f"recompute must be True, False or None (None: as COURSE_RECOMPUTE says), got {recompute!r}")
    if isinstance(minutes, bool) or not isinstance(minutes, (int, float)) or not minutes > 0:
        raise ValueError(f"minutes must be a positive number (how long run() takes), e.g. 3, got {minutes!r}")
    if recompute is None:
        recompute = os.environ.get(RECOMPUTE_VARIABLE, "") == "1"
    if path.exists() and not recompute:
        stored = json.loads(path.read_text(encoding="utf-8"))
        if not (isinstance(stored, dict) and "results" in stored and "made_with" in stored):
            raise ValueError(f"{path} is not a stored sweep (no 'results' and 'made_with'); delete it, or pass "
                             "recompute=True to run the sweep and store it again")
        made = stored["made_with"]
        print(f"loaded the stored sweep {path.name} (made with course_utils {made['course_utils']}, "
              f"torch {made['torch']}); to run it here instead (about {minutes:g} minute{'' if minutes == 1 else 's'}"
              " on a 2-core CPU), pass recompute=True")
        return stored["results"]
    results = run()
    if not isinstance(results, dict):
        raise TypeError(f"run() must return a dict of results, got {type(results).__name__}")
    _check_plain(results)
    path.parent.mkdir(parents=True, exist_ok=True)
    made_with = {"course_utils": _version(), "torch": torch.__version__, "python": platform.python_version(),
                 "date": datetime.date.today().isoformat(),
                 "command": os.environ.get(COMMAND_VARIABLE, "python tools/run_sweep.py notebooks/<this notebook>")}
    path.write_text(json.dumps({"made_with": made_with, "results": results}, indent=1, ensure_ascii=False) + "\n",
                    encoding="utf-8")
    print(f"ran the sweep here and stored it in {path.name}")
    return results
