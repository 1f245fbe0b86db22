"""`trip("…")` in IPython: a `Chat` turn streams in place exactly like a `%%glm` cell.

In a Jupyter kernel the answer streams into live panes; when it ends they are replaced, in one
step, by the final view (a display, so that `reply = trip("…")` shows the answer too; several
turns in one cell each keep their answer). The
`Reply` is returned; when it is also the cell's value, IPython's own `Out` display of that one
object is skipped (an `ipython_display_formatter` entry that lasts until the cell ends), so the
answer shows once. In terminal IPython the answer is written as it arrives. A failed turn shows
the partial answer and raises the one-line error; the chat's history is left as it was.
"""

from __future__ import annotations

from typing import Any

from IPython import get_ipython
from IPython.display import display

from ..client.conversation import Chat
from ..results.reply import Reply
from ..results.tool_reply import ToolReply
from .display import LiveSink, run_stream
from .magic import GLM, answer_sink

__all__ = ["show_turn"]


def show_turn(chat: Chat, prompt: Any, params: dict[str, Any]) -> Reply | None:
    """Run one turn of `chat` with a live display; None outside IPython (the caller then sends
    it without one)."""
    shell = get_ipython()
    if shell is None:
        return None
    request = chat.request_params(**params)
    sink = answer_sink(shell, GLM.of(shell), request.get("model") or "the model")
    reply, error = run_stream(chat.client, chat.request(prompt), request, sink)
    if error is not None:
        raise error
    assert reply is not None
    chat.record(prompt, reply)
    if isinstance(sink, LiveSink):
        # The panes' clear waits for the next output and then empties the whole cell: the
        # answers of earlier turns in this cell go out again first, then this one.
        for earlier in _SHOWN:
            data, metadata = earlier._repr_mimebundle_()
            display(data, metadata=metadata, raw=True)
        display(reply)
        _skip_out_display(shell, reply)
    return reply


#: Replies on screen already in the running cell (emptied when the cell ends).
_SHOWN: list[Reply] = []


def _skip_out_display(shell: Any, shown: Reply) -> None:
    """Until this cell ends, IPython shows `shown` no more (it is on screen already); any other
    reply is shown as usual. The formatter entries go in once per cell, however many turns."""
    if not _SHOWN:
        formatter = shell.display_formatter.ipython_display_formatter
        previous = {kind: formatter.type_printers.get(kind) for kind in (Reply, ToolReply)}

        def restore(*_: Any) -> None:
            _SHOWN.clear()
            for kind, printer in previous.items():
                if printer is None:
                    formatter.type_printers.pop(kind, None)
                else:
                    formatter.type_printers[kind] = printer
            shell.events.unregister("post_run_cell", restore)

        for kind in previous:
            formatter.for_type(kind, _show_unless_shown)
        shell.events.register("post_run_cell", restore)
    _SHOWN.append(shown)


def _show_unless_shown(obj: Any) -> None:
    if not any(
        obj is shown for shown in _SHOWN
    ):  # its own view, as a display (this entry stands in for IPython's)
        data, metadata = obj._repr_mimebundle_()
        display(data, metadata=metadata, raw=True)
