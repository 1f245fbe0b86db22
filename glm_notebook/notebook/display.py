"""Showing a streaming answer where the `%%glm` cell runs: notebook displays or plain text.

Notebook (a Jupyter kernel): each `LiveAnswer` pane is one display created with a tiny fixed
placeholder bundle and `display_id=True`, then updated in place (at most `updates_per_second`
times a second). When the stream ends every pane is updated back to that same placeholder and
the magic returns the `Reply`, whose own bundle is the final view. Why: nbval keeps the *first*
`display_data` of each output and ignores updates, while nbclient saves the *final* state;
both then see placeholder + one `execute_result`, and the saved notebook holds the answer once.
If the stream fails or is interrupted, the partial `Reply` is shown as one more display (marked
incomplete / interrupted) before the error is raised, so what arrived stays on screen.

Terminal IPython and other plain frontends: `terminal.TextSink` writes the answer to stdout.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from ..errors import GLMError
from ..events import ContentDelta, ReasoningDelta
from ..render.live import LiveAnswer, PaneUpdate, Throttle

if TYPE_CHECKING:
    from ..client import GLMClient
    from ..events import Event
    from ..reply import Reply

__all__ = [
    "PLACEHOLDER",
    "GLMInterrupted",
    "Sink",
    "LiveSink",
    "QuietSink",
    "supports_live_display",
    "run_stream",
]

_VISIBLE = (ContentDelta, ReasoningDelta)

#: What every live pane starts as and ends as (see the module docstring).
PLACEHOLDER: dict[str, str] = {"text/plain": ""}


class GLMInterrupted(KeyboardInterrupt):
    """The user interrupted a `%%glm` cell. The connection was closed; `reply` holds what arrived.

    A `KeyboardInterrupt`, so Run All stops and `except Exception` does not swallow it; IPython
    shows `_render_traceback_`'s single line instead of a traceback.
    """

    def __init__(self, reply: "Reply | None") -> None:
        super().__init__("interrupted")
        self.reply = reply

    def __str__(self) -> str:
        if self.reply is not None and self.reply.text:
            return f"interrupted; the partial answer ({len(self.reply.text):,} characters) is kept."
        return "interrupted before the answer started."

    def _render_traceback_(self) -> list[str]:
        return [f"\x1b[0;31mKeyboardInterrupt\x1b[0m: {self}"]


def supports_live_display(shell: Any) -> bool:
    """True when displays can be updated in place (a Jupyter kernel talking to a frontend).

    ipykernel publishes displays through `ZMQDisplayPublisher`, which sends `display_data` and
    `update_display_data` messages. Terminal IPython uses the base `DisplayPublisher`, which only
    prints `text/plain`, and `%%capture` swaps in `CapturingDisplayPublisher`, which would record
    every update as a new output. Both get plain text instead. The class is matched by name so
    that ipykernel need not be importable here. (A kernel cannot learn whether its frontend
    honours display ids; every current Jupyter frontend does.)
    """
    publisher = getattr(shell, "display_pub", None)
    return any(cls.__name__ == "ZMQDisplayPublisher" for cls in type(publisher).__mro__)


class Sink(Protocol):
    """Where a streaming answer goes while it arrives."""

    def start(self) -> None:
        """Before the request: show that something is happening."""

    def event(self, event: "Event") -> None:
        """One stream event arrived."""

    def finish(self, reply: "Reply | None", failed: bool) -> None:
        """The stream ended (`failed`: error or interrupt); leave the screen in its final state."""


def _show_partial(reply: "Reply | None") -> None:
    from IPython.display import display

    if reply is not None and (reply.text or reply.reasoning):
        display(reply)


class LiveSink:
    """Notebook panes updated in place from a `LiveAnswer`, throttled."""

    def __init__(
        self,
        *,
        updates_per_second: float | None,
        language: str | None = None,
        waiting: str = "Waiting for the model…",
    ) -> None:
        self.live = LiveAnswer(language=language, waiting=waiting)
        self.throttle = Throttle(updates_per_second)
        self._handles: list[Any] = []

    def start(self) -> None:
        self._show(self.live.changes())

    def event(self, event: "Event") -> None:
        if isinstance(event, _VISIBLE):  # only text counts against the rate cap
            self.live.apply(event)
            if self.throttle.ready():
                self._show(self.live.changes())

    def finish(self, reply: "Reply | None", failed: bool) -> None:
        # Draw the final state, which creates every pane the whole answer needs, even those the
        # throttle never drew, so the number of outputs depends on the answer only, not on timing
        # (nbval compares them); then put every pane back to the placeholder. The Reply itself
        # is the final view.
        self._show(self.live.changes(final=True))
        for handle in self._handles:
            handle.update(PLACEHOLDER, raw=True)
        if failed:
            _show_partial(reply)

    def _pane(self, index: int) -> Any:
        """The display of pane `index`, creating it and the panes before it (in order)."""
        from IPython.display import display

        while len(self._handles) <= index:
            self._handles.append(display(PLACEHOLDER, raw=True, display_id=True))
        return self._handles[index]

    def _show(self, updates: list[PaneUpdate]) -> None:
        for update in updates:
            bundle = {"text/html": update.html, "text/plain": update.text} if update.html else PLACEHOLDER
            self._pane(update.index).update(bundle, raw=True)


class QuietSink:
    """Nothing while streaming (`--quiet`); a failed stream still shows what arrived."""

    def start(self) -> None:
        pass

    def event(self, event: "Event") -> None:
        pass

    def finish(self, reply: "Reply | None", failed: bool) -> None:
        if failed:
            _show_partial(reply)


def run_stream(
    client: "GLMClient", messages: Any, params: dict[str, Any], sink: Sink
) -> tuple["Reply | None", BaseException | None]:
    """Stream one request into `sink`. Returns `(reply, error)`: the reply as far as it got
    (None if the request never started) and the `GLMError` / `GLMInterrupted` to raise, if any.
    """
    stream = None
    reply: Reply | None = None
    error: BaseException | None = None
    try:
        sink.start()
        stream = client.stream(messages, **params)
        with stream:
            for event in stream:
                sink.event(event)
    except KeyboardInterrupt:
        # The client closed the connection if the interrupt hit it; `with` did otherwise.
        reply = stream.reply if stream is not None else None
        if reply is not None:
            reply.finish(stopped="interrupted")  # no-op if the stream already marked it
        error = GLMInterrupted(reply)
    except GLMError as exc:
        reply = stream.reply if stream is not None else exc.reply
        error = exc
    except BaseException:  # a bug of ours: tidy the screen, then let it show
        sink.finish(stream.reply if stream is not None else None, failed=True)
        raise
    else:
        reply = stream.reply
    try:
        sink.finish(reply, failed=error is not None)
    except KeyboardInterrupt:  # a second Ctrl-C while tidying up
        error = error or GLMInterrupted(reply)
    return reply, error
