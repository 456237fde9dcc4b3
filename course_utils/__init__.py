"""Helpers for the course "Epoch · Batch · Iteration".

Each module holds one idea; every name below can be imported from ``course_utils`` directly::

    from course_utils import load_dataset, Batches, train, pick_device
"""
from .batching import Batches, iterations_per_epoch
from .checkpoints import CheckpointError
from .data import Dataset, DataFileError, load_dataset
from .devices import describe_device, pick_device
from .history import History
from .measuring import activation_bytes, median_seconds, synchronize
from .plots import COLORS, mark_epochs, use_course_style
from .quiz import load_quiz, show_quiz
from .seeding import seed_everything
from .training import BatchTooLargeError, evaluate, train
from .widgets import batch_size_choices, batch_size_slider, lr_slider, safe


__all__ = ["Batches", "BatchTooLargeError", "COLORS", "CheckpointError", "DataFileError", "Dataset",
           "History", "activation_bytes", "batch_size_choices", "batch_size_slider", "describe_device",
           "evaluate", "iterations_per_epoch", "load_dataset", "load_quiz", "lr_slider", "mark_epochs",
           "median_seconds", "pick_device", "safe", "seed_everything", "show_quiz", "synchronize", "train",
           "use_course_style"]
