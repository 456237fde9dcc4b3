"""nbclient's NotebookClient, made robust to a lost wake-up while waiting for a cell's reply.

nbclient waits for a cell's ``execute_reply`` with one long ``get_msg(timeout=...)`` on the shell channel.
With ipywidgets in a notebook that wait sometimes never wakes although the kernel has replied and gone
idle (jupyter/nbclient#312, jupyter/nbconvert#2029): executing the course's notebooks hung that way now and
then. Asking again every second finds the waiting reply.
"""
from __future__ import annotations

from queue import Empty
from time import monotonic

from jupyter_core.utils import ensure_async
from nbclient import NotebookClient


class SteadyNotebookClient(NotebookClient):
    """A NotebookClient whose wait for each cell's reply polls in one-second slices."""

    async def async_start_new_kernel_client(self):
        kc = await super().async_start_new_kernel_client()
        channel = kc.shell_channel
        wait_once = channel.get_msg

        async def get_msg(timeout: float | None = None, **kwargs):
            deadline = None if timeout is None else monotonic() + timeout
            while True:
                left = 1.0 if deadline is None else max(0.0, deadline - monotonic())
                try:
                    return await ensure_async(wait_once(timeout=min(1.0, left), **kwargs))
                except Empty:
                    if deadline is not None and monotonic() >= deadline:
                        raise

        channel.get_msg = get_msg
        return kc
