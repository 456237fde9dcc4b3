#!/usr/bin/env python3
"""Execute notebooks top to bottom in a fresh kernel on the CPU and store their outputs.

    python tools/run_notebook.py notebooks/03_iterations.ipynb [more.ipynb ...]

Streams are coalesced so that a progress bar is stored as its final line only, tools/reading_flow.py's
rules are applied (speaker notes into cell metadata, solution outputs hidden, a one-line text for each
slider, the quiz's note for pages without JavaScript), and the run time of each notebook is printed (the
course's budget is 60 s per notebook on a 2-core CPU).
"""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import nbformat
from nbconvert.preprocessors import CoalesceStreamsPreprocessor

sys.path.insert(0, str(Path(__file__).resolve().parent))
import reading_flow  # noqa: E402
from steady_client import SteadyNotebookClient  # noqa: E402


def execute(nb: nbformat.NotebookNode, folder: Path) -> float:
    """Run ``nb`` in place, top to bottom, in a fresh kernel on the CPU working in ``folder``; return seconds."""
    os.environ["COURSE_DEVICE"] = "cpu"  # stored outputs come from the CPU, where runs are deterministic
    start = time.perf_counter()
    SteadyNotebookClient(nb, timeout=600, kernel_name="python3", record_timing=False,
                         resources={"metadata": {"path": str(folder)}}).execute()
    return time.perf_counter() - start


def run(path: Path) -> float:
    """Execute the notebook at ``path`` and store its outputs, streams coalesced; return seconds."""
    nb = nbformat.read(path, as_version=4)
    seconds = execute(nb, path.parent)
    nb, _ = CoalesceStreamsPreprocessor().preprocess(nb, {})
    reading_flow.tidy(nb)  # speaker notes out of the reading flow, solution outputs hidden, widget texts
    nbformat.write(nb, path)
    return seconds


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    for name in sys.argv[1:]:
        print(f"{name}: executed in {run(Path(name)):.1f} s", flush=True)
