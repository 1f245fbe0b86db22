"""A batch job as a cell's value in a notebook: a tqdm bar that follows it until it ends.

A daemon thread polls the service every `Batch.poll_interval` seconds and moves the bar
(requests done / failed, status), so the kernel stays free for other cells meanwhile.
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING

from ..errors import GLMError
from .progress import NotebookProgress, in_kernel

if TYPE_CHECKING:
    from ..client.batch import Batch

__all__ = ["show_batch"]


def show_batch(batch: Batch) -> bool:
    """Show `batch` as a live progress bar (drawn once, and closed at once, if it has ended).
    False outside a Jupyter kernel, where there is no bar to show (`hooks.displays[Batch]`)."""
    if not in_kernel():
        return False
    bar = NotebookProgress(label=f"batch {batch.id}")
    bar.update(batch.state())
    if batch.done:
        bar.close(batch.state())
        return True

    def follow() -> None:
        while True:
            time.sleep(batch.poll_interval)
            try:
                batch.refresh()
            except GLMError:
                break  # the bar stays where it was; job.refresh() says what went wrong
            if batch.done:
                bar.close(batch.state())
                return
            bar.update(batch.state())

    threading.Thread(target=follow, name="glm-batch-view", daemon=True).start()
    return True
