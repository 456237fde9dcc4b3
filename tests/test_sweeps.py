"""Stored sweeps match a recomputation: a sample of their points is trained again here and compared.

A notebook whose sweep is too long for class loads it from ``notebooks/results/`` (``cu.load_or_run``). The
sweep's code is the notebook's own: the code cells up to the last one tagged ``sweep-code`` define it, and
this test runs them (which loads the stored file), then trains a few stored points again. On the machine
that stored the sweep they agree exactly; on another CPU the rounding differs and a long SGD run drifts a
little, hence the tolerances: a few updates, one percentage point of test accuracy.
"""
import contextlib
import json
import math
import os
import random
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
SWEEPS = {"04_epochs.ipynb": "results/04_epochs.json",
          "07_speed_and_memory.ipynb": "results/07_speed_and_memory.json",
          "09_generalization.ipynb": "results/09_generalization.json",
          "11_myths_and_self_check.ipynb": "results/11_myths_and_self_check.json"}


@contextlib.contextmanager
def working_directory(path):
    before = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(before)


def sweep_code(name, only_tagged=False):
    """The notebook's code cells, up to the last one tagged sweep-code (``only_tagged``: just the tagged ones,
    for a notebook whose sweep sits after sliders and demos that it does not need)."""
    cells = json.loads((NOTEBOOKS / name).read_text(encoding="utf-8"))["cells"]
    code = [c for c in cells if c["cell_type"] == "code"]
    tagged = [k for k, c in enumerate(code) if "sweep-code" in c["metadata"].get("tags", [])]
    chosen = [code[k] for k in tagged] if only_tagged else code[:max(tagged) + 1]
    return ["".join(c["source"]) for c in chosen]


def run_sweep_code(name, only_tagged=False):
    """The namespace after the notebook's sweep-code cells ran (the stored sweep loaded, not recomputed)."""
    namespace = {}
    with working_directory(NOTEBOOKS), contextlib.redirect_stdout(None):
        for source in sweep_code(name, only_tagged):
            exec(compile(source, name, "exec"), namespace)
    return namespace


@pytest.fixture(scope="module")
def generalization():
    return run_sweep_code("09_generalization.ipynb")


@pytest.fixture(scope="module")
def speed():
    return run_sweep_code("07_speed_and_memory.ipynb")


def close_updates(a, b):
    return a == b or (a is not None and b is not None and abs(a - b) <= max(3, 0.03 * a))


def test_every_stored_sweep_says_how_it_was_made():
    for name, results in SWEEPS.items():
        stored = json.loads((NOTEBOOKS / results).read_text(encoding="utf-8"))
        made = stored["made_with"]
        assert made["command"] == f"python tools/run_sweep.py notebooks/{name}", name
        assert {"course_utils", "torch", "python", "date"} <= set(made), name
        assert any(results in source for source in sweep_code(name)), f"{name} does not load {results}"


def test_generalization_sweep_is_complete(generalization):
    ns = generalization
    sweep = ns["sweep"]
    assert set(sweep["tuning"]) == {str(b) for b in ns["SIZES"]}
    assert set(sweep["runs"]) == {f"{b},{s}" for b in ns["SIZES"] for s in ns["SEEDS"]}
    assert len(ns["SEEDS"]) >= 10 and not set(ns["SEEDS"]) & set(ns["TUNING_SEEDS"])
    for b in ns["SIZES"]:
        tuning = sweep["tuning"][str(b)]
        assert tuning["edge"] is None, f"B = {b}: the best lr sits at an edge of its grid"
        worked = {float(lr): sum(v) / len(v) for lr, v in tuning["runs"].items() if None not in v}
        assert tuning["best_lr"] == min(worked, key=lambda lr: (worked[lr], lr)), f"B = {b}"


@pytest.mark.parametrize("k", range(3))
def test_generalization_sweep_points_come_out_again(generalization, k):
    ns = generalization
    sweep = ns["sweep"]
    key = random.Random(k).choice(sorted(sweep["runs"]))
    b, seed = map(int, key.split(","))
    lr = sweep["tuning"][str(b)]["best_lr"]
    stored, again = sweep["runs"][key], ns["train_run"](b, lr, seed)
    for point in ("at_epochs", "at_target", "at_updates"):
        if stored[point] is None:
            assert again[point] is None, (key, point)
            continue
        assert close_updates(stored[point]["updates"], again[point]["updates"]), (key, point)
        assert abs(stored[point]["test_accuracy"] - again[point]["test_accuracy"]) <= 0.01, (key, point)
        assert math.isclose(stored[point]["train_loss"], again[point]["train_loss"], rel_tol=0.2, abs_tol=1e-3)
    assert math.isclose(stored["at_target"]["sharpness"], again["at_target"]["sharpness"], rel_tol=0.05)


def test_generalization_tuning_point_comes_out_again(generalization):
    ns = generalization
    tuning = ns["sweep"]["tuning"]
    rng = random.Random(1)
    b = rng.choice(sorted(tuning, key=int))
    lr = rng.choice(sorted(tuning[b]["runs"], key=float))
    k = rng.randrange(len(ns["TUNING_SEEDS"]))
    again = ns["updates_to_target"](int(b), float(lr), ns["TUNING_SEEDS"][k])
    assert close_updates(tuning[b]["runs"][lr][k], again), (b, lr, k)


def close_steps(stored, again, every, rel=0.05):
    """Steps to a target read every ``every`` steps: another CPU may move a run by a reading or two."""
    return stored == again or (stored is not None and again is not None
                               and abs(stored - again) <= max(2 * every, rel * stored))


# How far one seed's steps to the target move on another CPU, measured against the stored sweep under
# ATEN_CPU_CAPABILITY=default MKL_CBWR=COMPATIBLE (seeds 10, 13, 16): none at B <= 64 (lr <= 1), but up to
# 20 of about 110 steps at B >= 256, whose tuned lr (1.7 to 2.3) sits near the edge of stability. The page
# reads means over 10 seeds from the stored file, the same on every CPU; this test only checks that the file
# came from this code.
def cross_cpu_rel(batch_size):
    return 0.05 if batch_size <= 64 else 0.25


def test_speed_sweep_is_complete(speed):
    ns = speed
    sweep = ns["sweep"]
    assert set(sweep["tuning"]) == set(sweep["steps"]) == {str(b) for b in ns["SIZES"]}
    assert len(ns["SEEDS"]) >= 10 and not set(ns["SEEDS"]) & set(ns["TUNING_SEEDS"])
    for b in ns["SIZES"]:
        tuning = sweep["tuning"][str(b)]
        assert tuning["edge"] is None, f"B = {b}: the best lr sits at an edge of its grid"
        assert all(len(v) == len(ns["TUNING_SEEDS"]) for v in tuning["runs"].values()), f"B = {b}"
        worked = {float(lr): sum(v) / len(v) for lr, v in tuning["runs"].items() if None not in v}
        assert tuning["best_lr"] == min(worked, key=lambda lr: (worked[lr], lr)), f"B = {b}"
        lrs = sorted(map(float, tuning["runs"]))
        k = lrs.index(tuning["best_lr"])
        assert max(lrs[k] / lrs[k - 1], lrs[k + 1] / lrs[k]) <= 2 ** 0.5 + 1e-9, f"B = {b}: grid too coarse"
        assert len(sweep["steps"][str(b)]) == len(ns["SEEDS"]), f"B = {b}"


@pytest.mark.parametrize("k", range(2))
def test_speed_sweep_points_come_out_again(speed, k):
    ns = speed
    sweep = ns["sweep"]
    rng = random.Random(k)
    b = rng.choice(ns["SIZES"][1:])                 # B = 4 takes ~2500 steps a run: left to the tuning test
    j = rng.randrange(len(ns["SEEDS"]))
    lr = sweep["tuning"][str(b)]["best_lr"]
    stored, again = sweep["steps"][str(b)][j], ns["steps_needed"](b, lr, ns["SEEDS"][j])
    assert close_steps(stored, again, ns["EVERY"], cross_cpu_rel(b)), (b, lr, ns["SEEDS"][j], stored, again)


def test_speed_tuning_point_comes_out_again(speed):
    ns = speed
    tuning = ns["sweep"]["tuning"]
    rng = random.Random(3)
    b = rng.choice(sorted(tuning, key=int))
    lr = rng.choice(sorted(tuning[b]["runs"], key=float))
    k = rng.randrange(len(ns["TUNING_SEEDS"]))
    again = ns["steps_needed"](int(b), float(lr), ns["TUNING_SEEDS"][k])
    assert close_steps(tuning[b]["runs"][lr][k], again, ns["EVERY"], cross_cpu_rel(int(b))), (b, lr, k)


@pytest.fixture(scope="module")
def myths():
    return run_sweep_code("11_myths_and_self_check.ipynb")


def myths_tunings(ns):
    """Every stored tuning of notebook 11's sweep, by a readable name."""
    sweep = ns["sweep"]
    tunings = {f"grow: {name}": stored for name, stored in sweep["grow"].items()}
    tunings.update({f"stability: B = {b}": stored["tuned"] for b, stored in sweep["stability"].items()})
    tunings.update({f"warm-up: {name}": stored for name, stored in sweep["warmup"].items()})
    return tunings


def test_myths_sweep_is_complete(myths):
    ns = myths
    sweep = ns["sweep"]
    assert set(sweep["grow"]) == set(ns["GROW"])
    assert set(sweep["stability"]) == {str(b) for b in ns["STABILITY_SIZES"]}
    assert set(sweep["warmup"]) == set(ns["WARMUPS"])
    assert len(ns["SEEDS"]) >= 5 and not set(ns["SEEDS"]) & set(ns["TUNING_SEEDS"])
    for name, tuning in myths_tunings(ns).items():
        assert tuning["edge"] is None, f"{name}: the best lr sits at an edge of its grid"
        worked = {float(lr): sum(v) / len(v) for lr, v in tuning["runs"].items() if None not in v}
        assert tuning["best_lr"] == min(worked, key=lambda lr: (worked[lr], lr)), name
        lrs = sorted(float(lr) for lr in tuning["runs"])
        k = lrs.index(tuning["best_lr"])
        assert max(lrs[k] / lrs[k - 1], lrs[k + 1] / lrs[k]) <= math.sqrt(2) * 1.01, f"{name}: grid not refined"
        assert len(tuning["fresh"]) == len(ns["SEEDS"]) and None not in tuning["fresh"], name
    for b, stored in sweep["stability"].items():
        for key in ("fixed_jitter", "tuned_jitter"):
            assert len(stored[key]) == len(ns["SEEDS"]) and None not in stored[key], (b, key)


@pytest.mark.parametrize("k", range(2))
def test_myths_sweep_points_come_out_again(myths, k):
    ns = myths
    rng = random.Random(k)
    tunings = myths_tunings(ns)
    name = rng.choice(sorted(tunings))
    index = rng.randrange(len(ns["SEEDS"]))
    kind, setting = name.split(": ")
    if kind == "grow":
        measure = ns["final_loss"](ns["GROW"][setting])
    elif kind == "stability":
        measure = ns["final_loss"](int(setting.removeprefix("B = ")))
    else:
        measure = ns["final_loss"](ns["WARM_B"], ns["WARMUPS"][setting])
    stored = tunings[name]["fresh"][index]
    again = measure(tunings[name]["best_lr"], ns["SEEDS"][index])
    assert again is not None and math.isclose(stored, again, rel_tol=0.05), (name, index, stored, again)


def test_myths_sweep_jitter_comes_out_again(myths):
    ns = myths
    b = random.Random(2).choice(ns["STABILITY_SIZES"])
    stored = ns["sweep"]["stability"][str(b)]["fixed_jitter"][0]
    again = ns["jitter_at"](b, ns["FIXED_LR"], ns["SEEDS"][0])
    assert math.isclose(stored, again, rel_tol=0.1), (b, stored, again)


# --- 04: shuffle once or every epoch, 60 seeds ----------------------------------------------------------------------

@pytest.fixture(scope="module")
def shuffling():
    return run_sweep_code("04_epochs.ipynb", only_tagged=True)


def test_shuffling_sweep_is_complete(shuffling):
    sweep, seeds = shuffling["sweep"], shuffling["SEEDS"]
    assert len(seeds) >= 60 and set(sweep) == {str(s) for s in seeds}
    for seed, pair in sweep.items():
        assert set(pair) == {"once", "every epoch"}, seed
        for accuracy, loss in pair.values():
            assert 0.3 < accuracy < 1 and 0 < loss < 2, (seed, pair)


@pytest.mark.parametrize("k", range(2))
def test_shuffling_sweep_points_come_out_again(shuffling, k):
    # the same machine gives the same numbers; another CPU's rounding moves one seed's test accuracy by up to
    # 2 points and its training loss by up to 0.07 (measured under ATEN_CPU_CAPABILITY=default)
    seed = random.Random(k).choice(list(shuffling["SEEDS"]))
    stored = shuffling["sweep"][str(seed)]
    again = shuffling["run_pair"](seed)
    for name in ("once", "every epoch"):
        assert abs(again[name][0] - stored[name][0]) <= 0.03, (seed, name, stored[name], again[name])
        assert abs(again[name][1] - stored[name][1]) <= 0.1, (seed, name, stored[name], again[name])
