"""A batch job as a cell's value in a notebook: a progress line that follows it until it ends.

A daemon thread polls the service every `Batch.poll_interval` seconds and moves the line
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
    """Show `batch` as a live progress line (drawn once, and closed at once, if it has ended).
    False outside a Jupyter kernel, where there is no line to show (`hooks.displays[Batch]`)."""
    if not in_kernel():
        return False
    line = NotebookProgress(label=f"batch {batch.id}")
    line.update(batch.state())
    if batch.done:
        line.close(batch.state())
        return True

    def follow() -> None:
        while True:
            time.sleep(batch.poll_interval)
            try:
                batch.refresh()
            except GLMError:
                break  # the line stays where it was; job.refresh() says what went wrong
            if batch.done:
                line.close(batch.state())
                return
            line.update(batch.state())

    threading.Thread(target=follow, name="glm-batch-view", daemon=True).start()
    return True
