#!/usr/bin/env python3
"""Brute force against `cu.choose_batch_size`: is the recommended batch size close to the fastest one?

    python benchmarks/choose_batch_size.py                    # both datasets, CPU, 1 thread (about 20 minutes)
    python benchmarks/choose_batch_size.py --quick            # B = 8, 32, 128, ... and around the recommendation
    python benchmarks/choose_batch_size.py --datasets mnist1d --out a.json   # one dataset (then --merge a.json b.json)
    python benchmarks/choose_batch_size.py --retime --rounds 5              # time every B again, keep the least

For each dataset (MNIST-1D with the MLP 40-100-100-10 of notebooks 07 and 13; the 8×8 digits with a small CNN):

1. `cu.choose_batch_size(make_model, data)` with its defaults: the recommended B and its learning rate;
2. seconds per iteration of every power of two B from 8 up: the least of `--rounds` rounds of `cu.throughput`,
   each the median of 5 timed iterations (other work on a shared machine only ever adds time);
3. for every B, the fewest steps to the target training loss (on the whole training set) with the learning
   rate tuned for that B (`cu.tune_lr` over `--seeds` seeds, the best inside its grid; `cu.steps_to_target`;
   a run that needs 4 times the steps of the fastest run so far at that B is given up as not reached; the
   loss is evaluated every max(1, 128 // B) steps, so a count at B < 128 is rounded up to that multiple);
4. the wall-clock time to the target = steps × seconds per iteration (the evaluations of the loss that the
   search needs are left out: a real run does not make them).

It writes `notebooks/results/13_brute_force.json` (read by notebook 13) and prints the markdown table of
`benchmarks/README.md`. Nothing is asserted; the README says whether the recommended B was within 1.5× of
the best time.
"""
from __future__ import annotations

import argparse
import datetime
import json
import platform
import statistics
import sys
import time
from pathlib import Path

import torch
from torch import nn

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
import course_utils as cu  # noqa: E402


def mlp() -> nn.Module:
    return nn.Sequential(nn.Linear(40, 100), nn.ReLU(), nn.Linear(100, 100), nn.ReLU(), nn.Linear(100, 10))


def small_cnn() -> nn.Module:
    return nn.Sequential(nn.Unflatten(1, (1, 8, 8)), nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                         nn.Linear(128, 10))


PROBLEMS = {  # name: (dataset, model, target training loss, learning rates to start the tuning from)
    "mnist1d": ("mnist1d", mlp, 1.0, [0.1, 0.3, 1.0, 3.0]),
    "digits": ("digits", small_cnn, 0.2, [0.01, 0.03, 0.1, 0.3]),
}


def brute_force(name: str, seeds: int, rounds: int, max_examples: int, quick: bool = False) -> dict:
    dataset, make_model, target, lrs = PROBLEMS[name]
    data = cu.load_dataset(dataset, device="cpu")
    n = len(data.x_train)
    start = time.perf_counter()
    choice = cu.choose_batch_size(make_model, data, device="cpu", progress=False)
    print(choice, f"\n({time.perf_counter() - start:.1f} s)", flush=True)
    sizes = [2 ** k for k in range(3, int(n).bit_length()) if 2 ** k <= n]
    if quick:   # every other power of two, and the recommendation with its two neighbours
        sizes = sorted({b for k, b in enumerate(sizes) if k % 2 == 0}
                       | {b for b in sizes if choice.recommended // 2 <= b <= choice.recommended * 2})
    timings = [cu.throughput(make_model, data, sizes, device="cpu", repeats=5) for _ in range(rounds)]
    seconds = {b: min(t.seconds_per_iteration[k] for t in timings) for k, b in enumerate(sizes)}
    rows = []
    for b in sizes:
        fewest: list[int] = []   # the fewest steps any run at this B needed so far

        def steps(lr: float, seed: int, b: int = b) -> int | None:
            # a run 4 times longer than the fastest so far cannot be the best: give it up there (None)
            max_steps = max(100, max_examples // b) if not fewest else 4 * min(fewest)
            found = cu.steps_to_target(make_model, data, [b], [lr], target=target, max_steps=max_steps, seed=seed,
                                       eval_every=max(1, 128 // b), device="cpu").steps[0]
            if found is not None:
                fewest.append(found)
            return found

        t0 = time.perf_counter()
        tuning = cu.tune_lr(steps, lrs, seeds=seeds, max_extend=3, max_rounds=2, quantity="steps")
        mean_steps = statistics.mean(tuning.best_runs) if tuning.best_lr is not None else None
        rows.append({"batch_size": b, "best_lr": tuning.best_lr, "edge": tuning.edge, "steps": mean_steps,
                     "steps_per_seed": tuning.best_runs, "lrs_tried": len(tuning.lrs),
                     "seconds_per_iteration": seconds[b],
                     "seconds_per_iteration_rounds": [t.seconds_per_iteration[sizes.index(b)] for t in timings],
                     "time_to_target": mean_steps * seconds[b] if mean_steps is not None else None})
        print(f"B = {b}: {tuning} -> {rows[-1]['time_to_target']} s ({time.perf_counter() - t0:.0f} s)", flush=True)
    reached = [r for r in rows if r["time_to_target"] is not None]
    best = min(reached, key=lambda r: r["time_to_target"])
    mine = next((r for r in rows if r["batch_size"] == choice.recommended), None)
    return {"dataset": dataset, "model": "MLP 40-100-100-10" if name == "mnist1d" else "CNN 16-32 channels",
            "n_samples": n, "target_loss": target, "seeds": seeds, "max_examples": max_examples, "quick": quick,
            "recommended": choice.recommended, "recommended_lr": choice.lr, "knee": choice.knee,
            "largest_fits": choice.largest_fits, "b_simple": choice.b_simple,
            "b_simple_start": statistics.median(choice.b_simple_start), "reasons": choice.reasons,
            "choose_seconds": round(choice.seconds, 1), "rows": rows, "best_batch_size": best["batch_size"],
            "best_time": best["time_to_target"],
            "recommended_time": mine["time_to_target"] if mine and mine["time_to_target"] is not None else None,
            "ratio": (mine["time_to_target"] / best["time_to_target"]
                      if mine and mine["time_to_target"] is not None else None)}


def retime(results: dict, rounds: int) -> None:
    """Time every B again (``rounds`` more rounds) and keep the least of all rounds; recompute times and ratios.

    On a shared machine a burst of other work can hit every round of one batch size; timing again later gives
    each B more chances at a quiet moment. The steps to the target do not change (they are deterministic).
    """
    for name, r in results.items():
        dataset, make_model, _, _ = PROBLEMS[name]
        data = cu.load_dataset(dataset, device="cpu")
        sizes = [row["batch_size"] for row in r["rows"]]
        timings = [cu.throughput(make_model, data, sizes, device="cpu", repeats=5) for _ in range(rounds)]
        for k, row in enumerate(r["rows"]):
            row["seconds_per_iteration_rounds"] += [t.seconds_per_iteration[k] for t in timings]
            row["seconds_per_iteration"] = min(row["seconds_per_iteration_rounds"])
            row["time_to_target"] = row["steps"] * row["seconds_per_iteration"] if row["steps"] is not None else None
        reached = [row for row in r["rows"] if row["time_to_target"] is not None]
        best = min(reached, key=lambda row: row["time_to_target"])
        mine = next(row for row in r["rows"] if row["batch_size"] == r["recommended"])
        r["best_batch_size"], r["best_time"] = best["batch_size"], best["time_to_target"]
        r["recommended_time"] = mine["time_to_target"]
        r["ratio"] = mine["time_to_target"] / best["time_to_target"] if mine["time_to_target"] is not None else None


def markdown(results: dict) -> str:
    lines = ["| dataset, model | recommended B (lr) | its time to target | best B by brute force (lr) | "
             "its time | ratio |", "|---|---|---|---|---|---|"]
    for r in results.values():
        best = next(row for row in r["rows"] if row["batch_size"] == r["best_batch_size"])
        mine = f"{r['recommended_time']:.2f} s" if r["recommended_time"] else "not reached"
        ratio = f"{r['ratio']:.2f}×" if r["ratio"] else "-"
        lines.append(f"| {r['dataset']}, {r['model']}, loss ≤ {r['target_loss']} | {r['recommended']} "
                     f"({r['recommended_lr']:.3g}) | {mine} | {r['best_batch_size']} ({best['best_lr']:.3g}) | "
                     f"{r['best_time']:.2f} s | {ratio} |")
    for r in results.values():
        lines += ["", f"{r['dataset']}: B_simple ≈ {r['b_simple']:.3g} after a short run "
                      f"(≈ {r['b_simple_start']:.3g} at the start); knee {r['knee']}", "",
                  "| B | best lr | steps to target (mean of seeds) | ms / iteration | time to target |",
                  "|---|---|---|---|---|"]
        for row in r["rows"]:
            steps = f"{row['steps']:.0f}" if row["steps"] is not None else "not reached"
            when = f"{row['time_to_target']:.2f} s" if row["time_to_target"] is not None else "-"
            lr = f"{row['best_lr']:.3g}" + (f" ({row['edge']} tried)" if row["edge"] else "") \
                if row["best_lr"] is not None else "-"
            lines.append(f"| {row['batch_size']} | {lr} | {steps} | {row['seconds_per_iteration'] * 1e3:.3f} | {when} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=list(PROBLEMS), choices=list(PROBLEMS))
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--max-examples", type=int, default=400_000, help="give up a run after this many samples")
    parser.add_argument("--out", default=str(ROOT / "notebooks" / "results" / "13_brute_force.json"))
    parser.add_argument("--quick", action="store_true",
                        help="B = 8, 32, 128, ... and the recommended B with its two neighbours, not every power of two")
    parser.add_argument("--retime", action="store_true",
                        help="load --out, time every B again (--rounds more rounds) and keep the least of all")
    parser.add_argument("--merge", nargs="*", default=[], help="stored files of single datasets to join into --out")
    args = parser.parse_args()
    cu.use_cpu_threads(1)
    if args.merge:
        parts = [json.loads(Path(p).read_text(encoding="utf-8")) for p in args.merge]
        command = parts[0]["made_with"]["command"].split(" --datasets")[0]
        stored = {"made_with": dict(parts[0]["made_with"], command=command),
                  "results": {k: v for part in parts for k, v in part["results"].items()}}
    elif args.retime:
        stored = json.loads(Path(args.out).read_text(encoding="utf-8"))
        retime(stored["results"], args.rounds)
        stored["made_with"]["retimed"] = datetime.date.today().isoformat()
    else:
        results = {name: brute_force(name, args.seeds, args.rounds, args.max_examples, args.quick)
                   for name in args.datasets}
        command = "python benchmarks/choose_batch_size.py" + (" --quick" if args.quick else "") + (
            "" if args.datasets == list(PROBLEMS) else " --datasets " + " ".join(args.datasets))
        stored = {"made_with": {"course_utils": cu.stored._version(), "torch": torch.__version__,
                                "python": platform.python_version(), "date": datetime.date.today().isoformat(),
                                "command": command, "cpu": platform.processor() or platform.machine()},
                  "results": results}
    results = stored["results"]
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(stored, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(markdown(results))


if __name__ == "__main__":
    main()
