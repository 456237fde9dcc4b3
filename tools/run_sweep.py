#!/usr/bin/env python3
"""Run a notebook's stored sweep again and store its results (no time limit, no outputs stored).

    python tools/run_sweep.py notebooks/09_generalization.ipynb

A sweep too long for class is written in the notebook's code cells tagged ``sweep-code`` and loaded with
``cu.load_or_run`` (CONTRIBUTING.md, "Comparisons"). This script runs the notebook's code cells up to the
last one so tagged, in the notebook's folder, with ``COURSE_RECOMPUTE=1``, so that ``load_or_run`` runs the
sweep and writes its JSON file. Then run ``python tools/run_notebook.py`` on the notebook to store its
outputs from the new results.
"""
from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path


def sweep_cells(path: Path) -> list[str]:
    """The sources of the notebook's code cells up to the last one tagged sweep-code."""
    cells = [c for c in json.loads(path.read_text(encoding="utf-8"))["cells"] if c["cell_type"] == "code"]
    tagged = [k for k, c in enumerate(cells) if "sweep-code" in c["metadata"].get("tags", [])]
    if not tagged:
        raise SystemExit(f"{path}: no code cell is tagged sweep-code, so it has no stored sweep")
    return ["".join(c["source"]) for c in cells[:tagged[-1] + 1]]


def main(name: str) -> None:
    path = Path(name).resolve()
    os.environ["COURSE_RECOMPUTE"] = "1"
    os.environ["COURSE_DEVICE"] = "cpu"         # stored results come from the CPU, like stored outputs
    os.environ["COURSE_SWEEP_COMMAND"] = f"python tools/run_sweep.py notebooks/{path.name}"
    os.environ.setdefault("MPLBACKEND", "Agg")
    os.chdir(path.parent)
    namespace: dict = {"__name__": "__sweep__"}
    start = time.perf_counter()
    for source in sweep_cells(path):
        exec(compile(source, path.name, "exec"), namespace)
    print(f"{path.name}: sweep run and stored in {time.perf_counter() - start:.0f} s", flush=True)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
