"""The examples in course_utils' docstrings run and show what they say (doctest, every module).

A test file rather than ``--doctest-modules``: pyproject's addopts run the notebooks with nbval, and the
modules are found here by walking the package, so a new module is included
without editing this list. ``# doctest: +SKIP`` is for lines that need a GPU, a terminal or minutes.
"""
import doctest
import importlib
import pkgutil
import random

import matplotlib
import numpy as np
import pytest
import torch

import course_utils

MODULES = ["course_utils"] + sorted(m.name for m in pkgutil.walk_packages(course_utils.__path__, "course_utils."))

KNOWN_FAILURES: dict[str, str] = {}  # module name -> why its examples fail today (strict xfail)


def test_every_module_is_listed():
    assert {"course_utils.batching", "course_utils.training", "course_utils.steps", "course_utils.verdicts"} <= set(MODULES)


@pytest.mark.parametrize("name", [
    pytest.param(name, marks=pytest.mark.xfail(strict=True, reason=KNOWN_FAILURES[name]))
    if name in KNOWN_FAILURES else name for name in MODULES])
def test_docstring_examples(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # an example that writes a file writes it here
    module = importlib.import_module(name)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    report = []
    states = random.getstate(), np.random.get_state()
    try:
        with torch.random.fork_rng(devices=[]), matplotlib.rc_context():  # seed_everything, use_course_style
            for test in doctest.DocTestFinder().find(module, name):
                runner.run(test, out=report.append)
    finally:
        random.setstate(states[0])
        np.random.set_state(states[1])
    assert runner.failures == 0, "".join(report)
