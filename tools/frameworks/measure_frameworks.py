#!/usr/bin/env python3
"""Run the same tiny job in PyTorch, Keras 3, Lightning and Hugging Face's Trainer; record what each counts.

Notebook 10's table "the same words in four frameworks" is built from the file this script writes,
``notebooks/results/frameworks.json``, so that every entry in it comes from a run of the installed versions,
not from documentation. The frameworks are not part of the course's install; use a separate environment::

    python3 -m venv /tmp/fwvenv && /tmp/fwvenv/bin/pip install torch==2.13.0 \\
        && /tmp/fwvenv/bin/pip install -r tools/frameworks/requirements.txt
    /tmp/fwvenv/bin/python tools/frameworks/measure_frameworks.py            # about a minute on 2 CPU cores

The job: N = 100 samples, micro-batch b = 8, 2 epochs, accumulation k = 4, one device. 100 / 8 leaves a last
micro-batch of 4 samples, and 13 micro-batches per epoch leave a last, partial window of 1 micro-batch: the
question is what each framework does with them.

How the weight of a step is measured: the model is y = w·x with one weight w, every x = 1, and the loss of a
batch is −mean(w·x). Each sample's gradient is then −1, so a window that is averaged correctly moves w by
exactly lr, whatever its size. Every optimizer step is caught by a hook (``register_step_post_hook`` on the
torch optimizer; Keras: the weight compared before and after each batch), and its weight is Δw / lr:
1 for a full-size step, 0.25 for a step that divided a 1-micro-batch window by k = 4.

The field names of the results file are ``FIELDS`` below; ``course_utils.frameworks`` reads the same names
and ``tests/test_frameworks.py`` keeps the two and the stored file in step.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import logging
import math
import os
import platform
import re
import sys
import tempfile
import warnings
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "torch")  # Keras 3 on the torch backend (set before importing keras)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "notebooks" / "results" / "frameworks.json"

N, B, EPOCHS, K = 100, 8, 2, 4  # samples, micro-batch, epochs, accumulation steps
LR = 0.5
COMMAND = "python tools/frameworks/measure_frameworks.py"

# Every field the results file holds, per section (the test compares this, the file and the notebook's reader).
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


def ones_dataset():
    """N samples x = 1 (column 0) with their index (column 1), as float tensors."""
    import torch
    return torch.stack([torch.ones(N), torch.arange(N, dtype=torch.float32)], dim=1)


def rounded(values, digits=4):
    return [round(float(v), digits) for v in values]


# ----------------------------------------------------------------------------------------------- PyTorch
def measure_pytorch() -> dict:
    """len(DataLoader) with and without drop_last; a scheduler stepped per batch; steps of a hand loop."""
    import torch
    from torch.utils.data import DataLoader, TensorDataset

    dataset = TensorDataset(ones_dataset())
    loader = DataLoader(dataset, batch_size=B)
    w = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([w], lr=LR)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)
    steps = []
    optimizer.register_step_post_hook(lambda *_: steps.append(1))
    for _ in range(EPOCHS):
        for (xb,) in loader:          # no accumulation: one step and one scheduler step per batch
            optimizer.zero_grad()
            (-(w * xb[:, 0]).mean()).backward()
            optimizer.step()
            scheduler.step()
    return {"len_loader": len(loader), "len_loader_drop_last": len(DataLoader(dataset, batch_size=B,
                                                                                 drop_last=True)),
            "scheduler_last_epoch": scheduler.last_epoch, "optimizer_steps": len(steps)}


# ------------------------------------------------------------------------------------------------- Keras
def measure_keras() -> dict:
    """Model.fit with and without gradient_accumulation_steps; which counter a schedule sees; steps_per_epoch."""
    import keras
    import numpy as np

    data = ones_dataset().numpy()
    x, index = data[:, :1], data[:, 1]

    class Recorder(keras.callbacks.Callback):
        """Per batch: the weight after it, and the first sample's index (seen by the model's call)."""
        def __init__(self):
            super().__init__()
            self.batches_per_epoch, self.weights = [], []

        def on_epoch_begin(self, epoch, logs=None):
            self.batches_per_epoch.append(0)

        def on_train_batch_end(self, batch, logs=None):
            self.batches_per_epoch[-1] += 1
            self.weights.append(float(self.model.layers[-1].kernel.numpy().ravel()[0]))

    class Seen(keras.layers.Layer):
        """Identity on x; records column 1 (the sample index) of each batch it sees in training."""
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.first = []

        def call(self, inputs, training=None):
            if training:
                self.first.append(int(keras.ops.convert_to_numpy(inputs[0, 1])))
            return inputs[:, :1]

    class RecordingSchedule(keras.optimizers.schedules.LearningRateSchedule):
        """A constant lr that records the step counter it is called with."""
        def __init__(self):
            self.steps = []

        def __call__(self, step):
            self.steps.append(int(keras.ops.convert_to_numpy(step)))
            return LR

    def fit(accumulation=None, schedule=None, steps_per_epoch=None):
        keras.utils.set_random_seed(0)
        seen = Seen()
        model = keras.Sequential([keras.Input((2,)), seen,
                                  keras.layers.Dense(1, use_bias=False, kernel_initializer="zeros")])
        optimizer = keras.optimizers.SGD(learning_rate=schedule or LR, gradient_accumulation_steps=accumulation)
        model.compile(optimizer=optimizer, loss=lambda y_true, y_pred: -keras.ops.mean(y_pred))
        recorder = Recorder()
        xy = np.concatenate([x, index[:, None]], axis=1)
        model.fit(xy, np.zeros(N), batch_size=B, epochs=EPOCHS, shuffle=False, verbose=0,
                  steps_per_epoch=steps_per_epoch, callbacks=[recorder])
        return model, optimizer, recorder, seen

    _, plain_opt, plain, _ = fit()
    schedule = RecordingSchedule()
    _, opt, acc, _ = fit(accumulation=K, schedule=schedule)
    before = [0.0] + acc.weights[:-1]
    deltas = [after - b for after, b in zip(acc.weights, before)]
    applied_at = [i + 1 for i, d in enumerate(deltas) if abs(d) > 1e-9]
    total_batches = sum(acc.batches_per_epoch)
    _, _, _, seen_5 = fit(steps_per_epoch=5)
    try:  # Keras 3's own distribution API (keras.distribution) needs a backend that implements it
        keras.distribution.list_devices()
        backend_distribution = "keras.distribution works"
    except AttributeError:  # the torch backend sets keras.src.backend.distribution_lib = None
        backend_distribution = "none (keras.distribution.list_devices() fails)"
    return {"batches_per_epoch": plain.batches_per_epoch[0],
            "batches_per_epoch_accumulating": acc.batches_per_epoch[0],
            "optimizer_iterations": int(keras.ops.convert_to_numpy(opt.iterations)),
            "updates_applied": len(applied_at),
            "update_after_micro_batches": applied_at,
            "micro_batches_never_applied": total_batches - (applied_at[-1] if applied_at else 0),
            "step_weights": rounded(deltas[i - 1] / LR for i in applied_at),
            "schedule_steps_seen": sorted(set(schedule.steps)),
            "steps_per_epoch_5_first_samples": [i for i in seen_5.first],
            "torch_backend_distribution": backend_distribution}


# --------------------------------------------------------------------------------------------- Lightning
def measure_lightning() -> dict:
    """Trainer(accumulate_grad_batches=K): global_step, when it steps, and the weight of each step."""
    import lightning as L
    import torch
    from torch.utils.data import DataLoader, TensorDataset

    logging.getLogger("lightning").setLevel(logging.ERROR)
    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)

    class Linear(L.LightningModule):
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.zeros(1))
            self.micro_batches = 0
            self.steps, self.weights = [], []
            self._before = None

        def training_step(self, batch, batch_idx):
            self.micro_batches += 1
            (xb,) = batch
            return -(self.w * xb[:, 0]).mean()

        def on_before_optimizer_step(self, optimizer):
            self._before = float(self.w.detach())

        def configure_optimizers(self):
            optimizer = torch.optim.SGD(self.parameters(), lr=LR)
            optimizer.register_step_post_hook(self._stepped)
            self.scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)
            return {"optimizer": optimizer, "lr_scheduler": {"scheduler": self.scheduler, "interval": "step"}}

        def _stepped(self, *_):
            self.steps.append(self.micro_batches)
            self.weights.append((float(self.w.detach()) - self._before) / LR)

    def fit(**trainer_args):
        model = Linear()
        trainer = L.Trainer(accelerator="cpu", devices=1, accumulate_grad_batches=K, logger=False,
                            enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                            num_sanity_val_steps=0, **trainer_args)
        loader = DataLoader(TensorDataset(ones_dataset()), batch_size=B)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            trainer.fit(model, loader)
        return model, trainer, len(loader)

    model, trainer, per_epoch = fit(max_epochs=EPOCHS)
    _, short, _ = fit(max_epochs=EPOCHS, max_steps=5)
    _, long, _ = fit(max_epochs=EPOCHS, max_steps=20)
    return {"batches_per_epoch": per_epoch, "global_step": trainer.global_step,
            "optimizer_steps": len(model.steps), "update_after_micro_batches": model.steps,
            "step_weights": rounded(model.weights), "scheduler_last_epoch": model.scheduler.last_epoch,
            "global_step_max_steps_5": short.global_step, "global_step_max_steps_20": long.global_step}


# ------------------------------------------------------------------------------------------ transformers
def measure_transformers() -> dict:
    """Trainer(gradient_accumulation_steps=K): planned and taken updates, their weights, the logged numbers."""
    import torch
    import transformers
    from transformers import Trainer, TrainingArguments

    class Samples(torch.utils.data.Dataset):
        def __init__(self):
            self.data = ones_dataset()

        def __len__(self):
            return N

        def __getitem__(self, i):
            return {"x": self.data[i]}

    class Linear(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.zeros(1))
            self.micro_batches = 0

        def forward(self, x):
            self.micro_batches += 1
            return {"loss": -(self.w * x[:, 0]).mean()}

    log = io.StringIO()
    handler = logging.StreamHandler(log)
    transformers.logging.set_verbosity_info()
    transformers.logging.disable_default_handler()
    transformers.logging.add_handler(handler)

    def fit(max_steps=-1):
        model = Linear()
        optimizer = torch.optim.SGD(model.parameters(), lr=LR)
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)
        steps, weights = [], []
        before = {}
        optimizer.register_step_pre_hook(lambda *_: before.update(w=float(model.w.detach())))
        optimizer.register_step_post_hook(lambda *_: (steps.append(model.micro_batches),
                                                      weights.append((float(model.w.detach()) - before["w"]) / LR)))
        with tempfile.TemporaryDirectory() as folder:
            args = TrainingArguments(output_dir=folder, per_device_train_batch_size=B,
                                     gradient_accumulation_steps=K, num_train_epochs=EPOCHS, max_steps=max_steps,
                                     max_grad_norm=0.0, logging_steps=1, save_strategy="no", report_to=[],
                                     use_cpu=True, disable_tqdm=True, dataloader_num_workers=0,
                                     remove_unused_columns=False, seed=0)
            trainer = Trainer(model=model, args=args, train_dataset=Samples(), optimizers=(optimizer, scheduler))
            with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                trainer.train()
        return trainer, steps, weights, scheduler

    trainer, steps, weights, scheduler = fit()
    text = log.getvalue()
    transformers.logging.remove_handler(handler)
    transformers.logging.set_verbosity_warning()
    total = [line.split("=")[-1].strip() for line in text.splitlines() if "Total train batch size" in line]
    planned = [line.split("=")[-1].strip() for line in text.splitlines() if "Total optimization steps" in line]
    per_epoch = [line.split("=")[-1].strip() for line in text.splitlines() if "Num update steps per epoch" in line]
    short, *_ = fit(max_steps=5)
    long, *_ = fit(max_steps=20)
    epochs_logged = [entry["epoch"] for entry in trainer.state.log_history if "loss" in entry]
    max_steps = int(planned[0].replace(",", "")) if planned else trainer.state.max_steps
    return {"planned_updates_per_epoch": int(per_epoch[0].replace(",", "")), "max_steps_planned": max_steps,
            "global_step": trainer.state.global_step, "optimizer_steps": len(steps),
            "update_after_micro_batches": steps, "step_weights": rounded(weights),
            "total_train_batch_size": int(total[0].replace(",", "")) if total else None,
            "scheduler_last_epoch": scheduler.last_epoch,
            "global_step_max_steps_5": short.state.global_step, "global_step_max_steps_20": long.state.global_step,
            "logged_epochs": rounded(epochs_logged, 4)}


def versions() -> dict:
    import importlib.metadata as md
    import keras
    return {"python": platform.python_version(), "torch": md.version("torch").split("+")[0],
            "keras": md.version("keras"), "keras_backend": keras.backend.backend(),
            "lightning": md.version("lightning"), "transformers": md.version("transformers"),
            "accelerate": md.version("accelerate")}


def measure() -> dict:
    results = {"setup": {"n_samples": N, "micro_batch": B, "epochs": EPOCHS, "accumulation_steps": K, "lr": LR,
                         "command": COMMAND},
               "versions": versions(), "pytorch": measure_pytorch(), "keras": measure_keras(),
               "lightning": measure_lightning(), "transformers": measure_transformers()}
    for section, names in FIELDS.items():
        assert list(results[section]) == names, (section, list(results[section]), names)
    return results


def dumps(results: dict) -> str:
    """JSON with one field a line and each list on its field's line."""
    text = json.dumps(results, indent=1, ensure_ascii=False)
    return re.sub(r"\[[^\[\]{}]*\]", lambda m: json.dumps(json.loads(m.group(0)), ensure_ascii=False), text) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=OUT, help=f"results file (default {OUT.relative_to(ROOT)})")
    args = parser.parse_args(argv)
    results = measure()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    text = dumps(results)
    args.out.write_text(text, encoding="utf-8")
    print(text, end="")
    print(f"written to {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
