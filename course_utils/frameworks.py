"""The same words in four frameworks: the table of what PyTorch, Keras, Lightning and Hugging Face count.

``tools/frameworks/measure_frameworks.py`` runs one tiny job (N = 100, micro-batch 8, accumulation 4, 2 epochs)
in each framework, in its own environment, and writes ``notebooks/results/frameworks.json`` with the installed
versions. This module reads that file and prints the table, so the page states what was measured, not what a
documentation page says. ``FIELDS`` lists the names the file must have (the script writes the same list).

>>> results = load_frameworks()
>>> results["lightning"]["global_step"], results["transformers"]["planned_updates_per_epoch"]
(8, 4)
>>> print(frameworks_table(results).splitlines()[0])
Measured: N = 100 samples, micro-batch b = 8, accumulation k = 4, 2 epochs, 1 device.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

RESULTS = Path(__file__).resolve().parent.parent / "notebooks" / "results" / "frameworks.json"

FIELDS = {
    "setup": ["n_samples", "micro_batch", "epochs", "accumulation_steps", "lr", "command"],
    "versions": ["python", "torch", "keras", "keras_backend", "lightning", "transformers", "accelerate"],
    "pytorch": ["len_loader", "len_loader_drop_last", "scheduler_last_epoch", "optimizer_steps"],
    "keras": ["batches_per_epoch", "batches_per_epoch_accumulating", "optimizer_iterations",
              "updates_applied", "update_after_micro_batches", "micro_batches_never_applied",
              "step_weights", "schedule_steps_seen", "steps_per_epoch_5_first_samples",
              "torch_backend_distribution"],
    "lightning": ["batches_per_epoch", "global_step", "optimizer_steps", "update_after_micro_batches",
                  "step_weights", "scheduler_last_epoch", "global_step_max_steps_5",
                  "global_step_max_steps_20"],
    "transformers": ["planned_updates_per_epoch", "max_steps_planned", "global_step", "optimizer_steps",
                     "update_after_micro_batches", "step_weights", "total_train_batch_size",
                     "scheduler_last_epoch", "global_step_max_steps_5", "global_step_max_steps_20",
                     "logged_epochs"],
}


def load_frameworks(path: str | os.PathLike = RESULTS) -> dict:
    """The results file, checked: every section and field of ``FIELDS`` present, nothing else.

    >>> load_frameworks()["versions"]["keras_backend"]
    'torch'
    >>> load_frameworks("no_such_file.json")
    Traceback (most recent call last):
    ...
    FileNotFoundError: path='no_such_file.json' does not exist; make it with python tools/frameworks/measure_frameworks.py (see tools/frameworks/requirements.txt)
    """
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a file path such as 'notebooks/results/frameworks.json', got {path!r}")
    if not Path(path).is_file():
        raise FileNotFoundError(f"path={str(path)!r} does not exist; make it with python "
                                "tools/frameworks/measure_frameworks.py (see tools/frameworks/requirements.txt)")
    results = json.loads(Path(path).read_text(encoding="utf-8"))
    check_fields(results)
    return results


def check_fields(results: object) -> None:
    """Raise ValueError naming the first section or field that differs from ``FIELDS``.

    >>> check_fields({"setup": {}})
    Traceback (most recent call last):
    ...
    ValueError: results has the sections ['setup']; expected ['setup', 'versions', 'pytorch', 'keras', 'lightning', 'transformers'] (as measure_frameworks.py writes them)
    """
    if not isinstance(results, dict):
        raise TypeError(f"results must be the dict that load_frameworks() returns, got {type(results).__name__}")
    if list(results) != list(FIELDS):
        raise ValueError(f"results has the sections {list(results)}; expected {list(FIELDS)} "
                         "(as measure_frameworks.py writes them)")
    for section, names in FIELDS.items():
        if not isinstance(results[section], dict) or list(results[section]) != names:
            got = list(results[section]) if isinstance(results[section], dict) else results[section]
            raise ValueError(f"results[{section!r}] has the fields {got}; expected {names}")


def _partial_steps(section: dict, per_epoch: int, k: int) -> list[tuple[int, float]]:
    """(micro-batch count, weight) of the steps taken on a window of fewer than k micro-batches."""
    return [(m, w) for m, w in zip(section["update_after_micro_batches"], section["step_weights"])
            if m % per_epoch == 0 and m % k != 0]


def _numbers(values: list) -> str:
    return " ".join(str(v) for v in values)


def frameworks_table(results: dict) -> str:
    """The measured table, as text (at most 95 characters a line, to fit a slide).

    >>> table = frameworks_table(load_frameworks())
    >>> max(len(line) for line in table.splitlines()) <= 95
    True
    >>> [line.split("  ")[0] for line in table.splitlines() if line.startswith(("PyTorch ", "Keras fit"))]
    ['PyTorch', 'Keras fit']
    """
    check_fields(results)
    s, v = results["setup"], results["versions"]
    pt, ke, li, hf = (results[name] for name in ("pytorch", "keras", "lightning", "transformers"))
    n, b, k, epochs = s["n_samples"], s["micro_batch"], s["accumulation_steps"], s["epochs"]
    per_epoch = pt["len_loader"]
    last, left = n - (per_epoch - 1) * b, per_epoch % k
    full = {w for section in (ke, li, hf) for m, w in zip(section["update_after_micro_batches"],
                                                          section["step_weights"]) if m % k == 0}
    lines = [
        f"Measured: N = {n} samples, micro-batch b = {b}, accumulation k = {k}, {epochs} epochs, 1 device.",
        f"Versions: torch {v['torch']}, keras {v['keras']} ({v['keras_backend']} backend), "
        f"lightning {v['lightning']}, transformers {v['transformers']},",
        f"accelerate {v['accelerate']}. One epoch = {per_epoch} micro-batches (the last holds {last} "
        f"samples; {pt['len_loader_drop_last']} with drop_last).",
        "",
        f"{'framework':12s}{'one epoch':17s}{'counter after ' + str(epochs) + ' epochs':28s}"
        "updates after micro-batch no.",
        f"{'PyTorch':12s}{'len(loader) ' + str(per_epoch):17s}"
        f"{'sched.last_epoch ' + str(pt['scheduler_last_epoch']):28s}"
        f"every batch ({pt['optimizer_steps']}; no accumulation here)",
        f"{'Keras fit':12s}{'bar {0}/{0}'.format(ke['batches_per_epoch_accumulating']):17s}"
        f"{'optimizer.iterations ' + str(ke['optimizer_iterations']):28s}"
        f"{_numbers(ke['update_after_micro_batches'])}",
        f"{'Lightning':12s}{str(li['batches_per_epoch']) + ' batches':17s}"
        f"{'global_step ' + str(li['global_step']):28s}{_numbers(li['update_after_micro_batches'])}",
        f"{'HF Trainer':12s}{'plans ' + str(hf['planned_updates_per_epoch']) + ' updates':17s}"
        f"{'global_step ' + str(hf['global_step']):28s}{_numbers(hf['update_after_micro_batches'])}",
        "",
        f"Each step's weight (1 = a full-size step): full windows {_numbers(f'{w:.2f}' for w in sorted(full))} "
        f"in all three. The window",
        f"left at an epoch's end ({left} micro-batch of {last} samples):",
        f"  Keras fit    no step: windows cross epochs; the last "
        f"{ke['micro_batches_never_applied']} micro-batches are never applied",
    ]
    for name, section in (("Lightning", li), ("HF Trainer", hf)):
        weights = sorted({w for _, w in _partial_steps(section, per_epoch, k)})
        how = (f"its loss still divided by k = {k}" if weights and max(weights) < 1 else
               f"divided by the {left} micro-batch it has")
        lines.append(f"  {name:11s}  a step of weight {_numbers(f'{w:.2f}' for w in weights)} ({how})")
    lines += [
        "",
        "Keras: optimizer.iterations = micro-batches // k; a LearningRateSchedule is called with the",
        f"  micro-batch counter ({_numbers(ke['schedule_steps_seen'][:3])} …); steps_per_epoch=5 makes "
        f"epoch 2 start at sample {ke['steps_per_epoch_5_first_samples'][5]}.",
        f"  Distribution on the {v['keras_backend']} backend: {ke['torch_backend_distribution']}.",
        f"Lightning: a per-step scheduler ends at last_epoch {li['scheduler_last_epoch']}; max_steps=5 "
        f"stops at {li['global_step_max_steps_5']},",
        f"  max_steps=20 at {li['global_step_max_steps_20']} (max_epochs={epochs} ends first: whichever "
        "comes first stops).",
        f"HF Trainer: \"Total train batch size\" {hf['total_train_batch_size']}; scheduler "
        f"last_epoch {hf['scheduler_last_epoch']}; max_steps=5 stops at {hf['global_step_max_steps_5']},",
        f"  max_steps=20 at {hf['global_step_max_steps_20']} (it overrides the epochs); logged epochs "
        f"{_numbers(f'{e:.2f}' for e in hf['logged_epochs'][:4])} …",
    ]
    return "\n".join(lines)
