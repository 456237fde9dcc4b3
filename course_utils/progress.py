"""A progress bar that also reads well after the run is over.

In a notebook the bar is one line of text updated in place (a display handle), so the notebook stores
its *final* state — "epoch 5/5: 100%|██████████| 315/315 ..." — which GitHub, nbviewer and slides show.
In a terminal it is an ordinary tqdm bar.

    >>> bar = progress_bar(total=100, enabled=True)   # doctest: +SKIP
"""
from __future__ import annotations

from tqdm.auto import tqdm as auto_tqdm
from tqdm.std import tqdm as text_tqdm


def in_notebook() -> bool:
    """True inside a Jupyter kernel (where output can be updated in place)."""
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython comes with Jupyter
        return False
    shell = get_ipython()
    return shell is not None and "IPKernelApp" in getattr(shell, "config", {})


class _DisplayLine:
    """A file-like object whose latest written line replaces one notebook output."""

    def __init__(self) -> None:
        from IPython.display import display
        self.handle = display({"text/plain": ""}, raw=True, display_id=True)

    def write(self, text: str) -> None:
        line = text.replace("\r", "\n").strip().splitlines()
        if line:
            self.handle.update({"text/plain": line[-1]}, raw=True)

    def flush(self) -> None:
        pass


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
    """A tqdm bar over ``total`` steps: in-place text in a notebook, tqdm.auto elsewhere, or silent."""
    if not enabled:
        return _Silent()
    if in_notebook():
        return text_tqdm(total=total, initial=initial, unit=unit, file=_DisplayLine(), ncols=100,
                         mininterval=0.2, dynamic_ncols=False)
    return auto_tqdm(total=total, initial=initial, unit=unit, mininterval=0.2)
