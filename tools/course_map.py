"""The course's arc: one row per notebook. The single place that names the notebooks."""

# Where the repository lives on GitHub (used for Binder links). Change it if you fork the course.
GITHUB_REPO = "epoch-batch-iteration/course"
BRANCH = "main"

ARC = [
    ("00", "start_here", "Start here", "How do I run this course, on which device, and how do the sliders work?"),
    ("01", "samples_and_datasets", "Samples and datasets", "What is one sample, what is a dataset, what shape has a batch of them?"),
    ("02", "batches", "Batches", "How is a dataset cut into batches; what happens to the last one; why batch at all?"),
    ("03", "iterations", "Iterations", "What exactly happens in one iteration (forward, loss, backward, update), and how often?"),
    ("04", "epochs", "Epochs", "What is one epoch; how many iterations per epoch; shuffling; how many epochs?"),
    ("05", "gd_sgd_minibatch", "GD, SGD and mini-batch", "Full-batch GD vs SGD vs mini-batch: per epoch, per update and per second"),
    ("06", "gradient_noise", "Gradient noise", "How noisy is a mini-batch gradient, and how does the noise shrink with B?"),
    ("07", "speed_and_memory", "Speed and memory", "Throughput and memory vs batch size on this device; steps to a target"),
    ("08", "batch_size_and_learning_rate", "Batch size and learning rate", "Linear and sqrt scaling, warm-up, schedules stepped per iteration"),
    ("09", "generalization", "Generalization", "Large vs small batch: what really differs at equal training loss?"),
    ("10", "beyond_one_device", "Beyond one device", "Gradient accumulation, growing the batch, data-parallel global batch"),
    ("11", "myths_and_self_check", "Myths and self-check", "Each claim from the web tested by experiment; final quiz"),
    # Part III, in practice
    ("12", "adam_and_batch_size", "Adam and the batch size", "Linear or √ rule for Adam; β₂'s memory in samples; who gains from larger batches longer; warm-up at a tuned lr"),
    ("13", "choose_your_batch_size", "Choose the batch size for your model", "The playbook on your own model and data: largest batch that fits, throughput knee, noise scale, a tuned lr, checked against brute force"),
]


def filename(number: str, slug: str) -> str:
    return f"{number}_{slug}.ipynb"


def binder_url(path: str) -> str:
    """A Binder link that opens ``path`` (relative to the repository root) in JupyterLab."""
    return f"https://mybinder.org/v2/gh/{GITHUB_REPO}/{BRANCH}?urlpath=lab/tree/{path}"
