"""Helpers for the course "Epoch · Batch · Iteration".

Each module holds one idea; every name below can be imported from ``course_utils`` directly::

    from course_utils import load_dataset, Batches, train, pick_device

Importing the package sets PyTorch to one CPU thread, the course-wide policy (``use_cpu_threads``
says why; ``COURSE_THREADS=n`` chooses another number).
"""
from .adam_scaling import AdamSettings, adam_scaled, half_life, half_life_samples, scale_beta
from .batching import Batches, iterations_per_epoch
from .checkpoints import CheckpointError
from .choose import BatchSizeChoice, choose_batch_size
from .data import Dataset, DataFileError, Split, load_dataset
from .devices import describe_device, pick_device, use_cpu_threads
from .gradient_noise import GradientNoise, gradient_noise, noise_scale, per_sample_grads
from .history import History
from .measuring import median_seconds, synchronize
from .memory import activation_bytes, saved_bytes
from .noisy_quadratic import NQMBest, nqm_best_steps, nqm_curvatures, nqm_loss, nqm_lr_grid, nqm_steps_to_target
from .plots import COLORS, as_picture, mark_epochs, use_course_style
from .quiz import load_quiz, show_quiz
from .schedules import lr_schedule, scaled_lr
from .seeding import seed_everything
from .sharpness import sharpness
from .stored import load_or_run
from .steps import StepsFit, StepsToTarget, fit_steps, steps_to_target
from .throughput import Throughput, throughput
from .tuning import Tuning, tune_lr
from .verdicts import Comparison, compare, mean_and_spread
from .training import BatchTooLargeError, evaluate, train, train_epoch, train_step
from .widgets import batch_size_choices, batch_size_slider, lr_slider, safe

use_cpu_threads()

__all__ = ["Batches", "BatchSizeChoice", "BatchTooLargeError", "COLORS", "CheckpointError", "Comparison", "DataFileError", "Dataset",
           "GradientNoise", "History", "Split", "StepsFit", "StepsToTarget", "Throughput", "Tuning", "tune_lr", "activation_bytes",
           "as_picture", "choose_batch_size", "compare", "fit_steps", "mean_and_spread",
           "gradient_noise", "noise_scale", "per_sample_grads", "saved_bytes", "steps_to_target", "throughput", "batch_size_choices", "batch_size_slider", "describe_device", "evaluate",
           "iterations_per_epoch", "load_dataset", "load_or_run", "load_quiz", "lr_schedule", "lr_slider", "mark_epochs",
           "median_seconds", "pick_device", "safe", "scaled_lr", "seed_everything", "sharpness", "show_quiz",
           "synchronize", "train", "train_epoch", "train_step", "use_course_style", "use_cpu_threads",
           "AdamSettings", "adam_scaled", "half_life", "half_life_samples", "scale_beta",
           "NQMBest", "nqm_best_steps", "nqm_curvatures", "nqm_loss", "nqm_lr_grid", "nqm_steps_to_target"]
