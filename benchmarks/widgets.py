#!/usr/bin/env python3
"""How fast do the notebooks' interactive controls answer? Moves every control programmatically.

    python benchmarks/widgets.py                      # every notebook in notebooks/
    python benchmarks/widgets.py notebooks/02_batches.ipynb

Each notebook is executed top to bottom in a fresh kernel (CPU, as for the stored outputs). Then, in
that kernel, every ipywidgets ``interactive`` (what ``interact`` / ``interact_manual`` make) has each of
its controls moved through a few values. For a live demo (``interact``) moving the control runs the
callback, and that call is timed: this is what a learner waits for after each slider step, figure
drawing included. For a Run-button demo (``interact_manual``) the button's work (``update()``, usually a
short training run) is timed once per control. The table printed at the end goes into benchmarks/README.md.
The course's target: a slider that only redraws answers in under 0.15 s (median, 2-core CPU).
"""
from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
from run_notebook import execute  # noqa: E402

PROBE = r'''
import json as _json, time as _time, statistics as _st
import ipywidgets as _W
from ipywidgets.widgets.widget import _instances as _all

def _values(w):
    """A few values for a control: the ends, the middle, then back to where it was."""
    start = w.value
    if hasattr(w, "options") and w.options:
        opts = list(getattr(w, "_options_values", None) or [o[1] if isinstance(o, tuple) else o for o in w.options])
        picks = [opts[0], opts[len(opts) // 2], opts[-1], opts[len(opts) // 4], opts[(3 * len(opts)) // 4]]
    elif isinstance(w, _W.Checkbox) or isinstance(w, _W.ToggleButton):
        picks = [not start, start]
    elif isinstance(w, _W.FloatLogSlider):
        picks = [w.base ** w.min, w.base ** ((w.min + w.max) / 2), w.base ** w.max]
    elif hasattr(w, "min") and hasattr(w, "max"):
        picks = [w.min, (w.min + w.max) / 2 if isinstance(w.value, float) else (w.min + w.max) // 2, w.max]
    else:
        return []
    return [v for v in picks if v != start] + [start]

_report = []
for _demo in [w for w in list(_all.values()) if isinstance(w, _W.interactive)]:
    _live, _runs = [], []
    for _control in _demo.kwargs_widgets:
        for _v in _values(_control):
            if _demo.manual:
                _control.value = _v
            else:
                _t = _time.perf_counter(); _control.value = _v; _live.append(_time.perf_counter() - _t)
        if _demo.manual:
            _t = _time.perf_counter(); _demo.update(); _runs.append(_time.perf_counter() - _t)
    _report.append({"function": getattr(_demo.f, "__name__", "?"), "manual": _demo.manual,
                    "controls": len(_demo.kwargs_widgets), "live": _live, "runs": _runs})
print("@@WIDGETS@@" + _json.dumps(_report))
'''


def measure(path: Path) -> list[dict]:
    nb = nbformat.read(path, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell(PROBE))
    execute(nb, path.parent)
    for out in nb.cells[-1].outputs:
        text = out.get("text", "")
        if "@@WIDGETS@@" in text:
            return json.loads(text.split("@@WIDGETS@@", 1)[1].strip().splitlines()[0])
    raise RuntimeError(f"{path.name}: the probe printed nothing")


def main(paths: list[Path]) -> None:
    print("| notebook | live demos (controls) | slider callbacks timed | median | worst | Run-button demos | "
          "median Run (s) |")
    print("|---|---|---|---|---|---|---|")
    for path in paths:
        demos = measure(path)
        live = [t for d in demos if not d["manual"] for t in d["live"]]
        runs = [t for d in demos if d["manual"] for t in d["runs"]]
        n_live = sum(1 for d in demos if not d["manual"])
        controls = sum(d["controls"] for d in demos if not d["manual"])
        median = f"{statistics.median(live) * 1000:.0f} ms" if live else "–"
        worst = f"{max(live) * 1000:.0f} ms" if live else "–"
        run = f"{statistics.median(runs):.1f}" if runs else "–"
        print(f"| {path.name} | {n_live} ({controls}) | {len(live)} | {median} | {worst} | "
              f"{sum(1 for d in demos if d['manual'])} | {run} |", flush=True)


if __name__ == "__main__":
    given = [Path(p) for p in sys.argv[1:]]
    main(given or sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")))
