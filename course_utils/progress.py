"""A progress bar that also reads well after the run is over.

In a notebook the bar is text on stdout that redraws itself with carriage returns, so the notebook
stores its *final* state — "epoch 5/5: 100%|██████████| 315/315 [...]" — which GitHub, nbviewer,
slides and nbval all see (a widget bar would be stored as "0%"). In a terminal it is tqdm.auto's bar.

    >>> bar = progress_bar(total=100, enabled=True)   # doctest: +SKIP
"""
from __future__ import annotations

import sys

from tqdm.auto import tqdm as auto_tqdm
from tqdm.std import tqdm as text_tqdm


def in_notebook() -> bool:
    """True inside a Jupyter kernel."""
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython comes with Jupyter
        return False
    shell = get_ipython()
    return shell is not None and "IPKernelApp" in getattr(shell, "config", {})


class _Silent:
    """Stands in for a bar when ``progress=False``."""

    def update(self, n: int = 1) -> None:
        pass

    def set_description(self, *args, **kwargs) -> None:
        pass

    def set_postfix_str(self, *args, **kwargs) -> None:
        pass

    def close(self) -> None:
        pass


def progress_bar(total: int, enabled: bool = True, initial: int = 0, unit: str = "it"):
    """A tqdm bar over ``total`` steps: redrawn text in a notebook, tqdm.auto elsewhere, or silent."""
    if not enabled:
        return _Silent()
    if in_notebook():
        # A fixed-width bar: the stored line then differs between runs only inside [...] (time, rate, loss),
        # which tests/nbval_sanitize.cfg blanks.
        return text_tqdm(total=total, initial=initial, unit=unit, file=sys.stdout, mininterval=0.25,
                         bar_format="{desc}{percentage:3.0f}%|{bar:25}| {n_fmt}/{total_fmt} "
                                    "[{elapsed}<{remaining}, {rate_fmt}{postfix}]")
    return auto_tqdm(total=total, initial=initial, unit=unit, mininterval=0.25)
