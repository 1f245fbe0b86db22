"""`ChatWidget`: a conversation with a GLM model in a notebook, answers streaming in place.

```python
from glm_notebook import chat

w = chat(model="glm-4.6", system="You are a helpful tutor")  # shows the widget, returns it
reply = await w.send("What is a monad?")  # or type in the box and press Send
w.messages                                # the history, ready to send again
print(w.to_markdown())                    # the transcript as Markdown
```

Two layers:

- `Transcript` and `Turn` hold the state: what was asked, what came back, what goes out as
  history with the next prompt. No widgets, no I/O.
- `ChatWidget` runs each turn as an asyncio task on the kernel's event loop and draws the state
  with stock ipywidgets. The answer is a list of panes from `render.live.LiveAnswer` (reasoning,
  then answer segments), one `HTML` widget each; only panes that changed are sent, at most
  `UPDATES_PER_SECOND` times a second, and the last state is always drawn.

Every value put in an `HTML` widget comes from `markdown_html` or goes through `sanitize_html`
(the user's own text too): the widget sets `innerHTML`, where `<img onerror=…>` would run even in
an untrusted notebook.

How a turn that did not finish normally is kept:

- **Stop** leaves the partial answer in the transcript, marked "stopped", and in the history:
  the model is sent what the reader saw.
- A turn that produced **no answer text** (an error, or Stop before the answer began) stays in
  the transcript, marked, but not in the history, and its prompt goes back into the input box.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import ipywidgets as widgets

from ..config import DEFAULT_MODEL
from ..errors import GLMError
from ..render.live import LiveAnswer, PaneUpdate, Throttle
from ..render.markdown import escape_text, markdown_html, sanitize_html
from ..render.reply_view import footer_html
from ..reply import Reply

if TYPE_CHECKING:
    from ..client import GLMClient

__all__ = ["ChatWidget", "chat", "Transcript", "Turn", "UPDATES_PER_SECOND"]

#: How often at most a streaming answer is redrawn.
UPDATES_PER_SECOND = 20.0


# -- state --------------------------------------------------------------------------------------


@dataclass(eq=False)
class Turn:
    """One exchange: the prompt, and the reply as far as it got.

    `state` is `"streaming"` until the turn ends, then `"done"`, `"stopped"` (Stop, or its task
    was cancelled) or `"error"` (`error` is one line saying why).
    """

    prompt: str
    reply: Reply | None = None
    error: str | None = None
    stopped: bool = False
    ended: bool = False

    @property
    def state(self) -> str:
        if not self.ended:
            return "streaming"
        if self.error is not None:
            return "error"
        return "stopped" if self.stopped else "done"

    @property
    def answer(self) -> str:
        """The answer text so far (`""` when none arrived)."""
        return self.reply.text if self.reply is not None else ""

    @property
    def in_history(self) -> bool:
        """Whether the turn goes out as context with later prompts: finished turns do, and
        stopped turns with some answer text; failed turns and empty stopped turns do not."""
        state = self.state
        return state == "done" or (state == "stopped" and bool(self.answer))

    def messages(self) -> list[dict[str, str]]:
        """The turn as chat messages: the user's, then the assistant's."""
        return [
            {"role": "user", "content": self.prompt},
            {"role": "assistant", "content": self.answer},
        ]


class Transcript:
    """The turns of one chat, as shown, and the history they make. No widgets, no I/O.

    (Not `conversations.Conversation`, the `%%glm -c` store: a transcript also keeps the turns
    that failed or were stopped, to show them.)
    """

    def __init__(self, system: str | None = None) -> None:
        self.system = system
        self.turns: list[Turn] = []

    @property
    def busy(self) -> bool:
        """True while the last turn is still streaming."""
        return bool(self.turns) and not self.turns[-1].ended

    def history(self) -> list[dict[str, str]]:
        """The messages that go out before the next prompt: system prompt, then kept turns."""
        out = [{"role": "system", "content": self.system}] if self.system else []
        for turn in self.turns:
            if turn.in_history:
                out.extend(turn.messages())
        return out

    def start(self, prompt: str) -> tuple[Turn, list[dict[str, str]]]:
        """Open a turn for `prompt`; returns it and the messages to send for it."""
        if not isinstance(prompt, str) or not prompt.strip():
            raise ValueError("nothing to send: the prompt is empty")
        if self.busy:
            raise RuntimeError("an answer is still streaming: wait for it, or stop() it first")
        request = self.history() + [{"role": "user", "content": prompt}]
        turn = Turn(prompt)
        self.turns.append(turn)
        return turn, request

    def clear(self) -> None:
        """Forget every turn (the system prompt stays)."""
        self.turns = []

    def to_markdown(self) -> str:
        """The transcript as Markdown: prompts, answers, and how unusual turns ended."""
        parts = [f"**System:** {self.system}"] if self.system else []
        for turn in self.turns:
            pieces = [f"**You:**\n\n{turn.prompt}", "**Assistant:**"]
            if turn.answer:
                pieces.append(turn.answer)
            note = {
                "stopped": "*(stopped)*",
                "error": f"*(error: {turn.error})*",
                "streaming": "*(still streaming)*",
            }.get(turn.state)
            if note:
                pieces.append(note)
            parts.append("\n\n".join(pieces))
        return "\n\n---\n\n".join(parts) + "\n" if parts else ""


# -- drawing ------------------------------------------------------------------------------------

_USER_LAYOUT = dict(
    border_left="3px solid var(--jp-brand-color1, #1976d2)", padding="0 8px", margin="8px 0 4px 0"
)
_USER_STYLE = dict(background="var(--jp-layout-color2, #f3f5f8)")
_ERROR_STYLE = dict(text_color="var(--jp-error-color1, #d32f2f)")


def _note_html(turn: Turn) -> str:
    """The line under an answer: usage and timings, or how the turn ended."""
    state = turn.state
    if state == "done" and turn.reply is not None:
        return footer_html(turn.reply)
    if state == "stopped":
        if turn.in_history:
            chars = len(turn.answer)
            plural = "s" if chars != 1 else ""
            text = f"Stopped after {chars:,} character{plural}; the partial answer is kept."
        else:
            text = "Stopped before the answer began; this prompt is not kept in the conversation."
        return f'<p class="glm-chat-stopped"><small>{escape_text(text)}</small></p>'
    if state == "error":
        return f'<p class="glm-chat-error">⚠ {escape_text(turn.error or "error")}</p>'
    return ""


class _TurnView:
    """The widgets of one turn (prompt, one `HTML` per answer pane, a note line) and the
    `LiveAnswer` that feeds them. Draws are throttled; a held-back draw happens later by itself."""

    def __init__(self, turn: Turn, updates_per_second: float | None) -> None:
        self.turn = turn
        self.live = LiveAnswer()
        self.throttle = Throttle(updates_per_second)
        self.started = False
        self.stop_requested = False
        you = '<p class="glm-chat-role"><small><strong>You</strong></small></p>'
        self.user = widgets.HTML(
            sanitize_html(you + markdown_html(turn.prompt)),
            layout=widgets.Layout(**_USER_LAYOUT),
            style=_USER_STYLE,
        )
        self.panes: list[widgets.HTML] = []
        self.answer = widgets.VBox([], layout=widgets.Layout(padding="0 8px"))
        self.note = widgets.HTML("", layout=widgets.Layout(padding="0 8px"))
        self.box = widgets.VBox([self.user, self.answer, self.note])
        self._later: asyncio.TimerHandle | None = None

    def tick(self) -> None:
        """New data arrived: draw now if the throttle allows, else make sure a draw follows."""
        if self.throttle.ready():
            self._draw_changes()
        elif self._later is None and self.throttle.interval is not None:
            loop = asyncio.get_running_loop()
            self._later = loop.call_later(self.throttle.interval, self._draw_later)

    def _draw_later(self) -> None:
        self._later = None
        if not self.turn.ended:
            self.throttle.ready()
            self._draw_changes()

    def _draw_changes(self, *, final: bool = False) -> None:
        self._show(self.live.changes(final=final))

    def _show(self, updates: list[PaneUpdate]) -> None:
        for update in updates:
            if update.index >= len(self.panes):
                while update.index >= len(self.panes):
                    self.panes.append(widgets.HTML(""))
                self.answer.children = tuple(self.panes)
            self.panes[update.index].value = update.html

    def finish(self) -> None:
        """Draw the final state: the whole answer, reasoning collapsed, the note line."""
        if self._later is not None:
            self._later.cancel()
            self._later = None
        if self.turn.reply is not None:
            self.live.sync(self.turn.reply)  # the transcript shows exactly what the history holds
        self._draw_changes(final=True)
        if self.turn.state == "error":
            self.note.style.text_color = _ERROR_STYLE["text_color"]
        self.note.value = sanitize_html(_note_html(self.turn))


def _default_client() -> GLMClient:
    """The magic's configured client when `%load_ext glm_notebook` ran, else one from the
    environment — so `%config GLM.api_key` / `GLM.model` apply to the widget too."""
    from IPython import get_ipython

    from ..client import GLMClient
    from .magic import GLM

    shell = get_ipython()
    settings = GLM.of(shell) or (GLM(parent=shell) if shell is not None else None)  # replay too
    return settings.client() if settings is not None else GLMClient()


# -- the widget ---------------------------------------------------------------------------------


class ChatWidget:
    """A chat with a GLM model: a streaming transcript, an input box, Send / Stop / New.

    `model`, `system` and `**params` (`temperature=`, `thinking=`, `max_tokens=`, ...) apply to
    every turn. `client` is a `GLMClient`; by default one is made at the first send, from the
    `%config GLM` settings when the extension is loaded (key, base URL, model, timeout), else
    from `ZAI_API_KEY` / `ZAI_BASE_URL`.

    - `send(text)` starts a turn and returns its `asyncio.Task` (`reply = await w.send("hi")`);
      errors show inline in the transcript, the task's result is the `Reply` either way.
    - `stop()` ends the streaming answer: the connection closes, the partial answer stays.
    - `messages` is the history, `replies` the `Reply` of each turn, `to_markdown()` the
      transcript, `clear()` starts over.

    The object displays as its widget; `w.widget` is the `ipywidgets.VBox` for your own layouts.
    """

    def __init__(
        self,
        model: str | None = None,
        system: str | None = None,
        client: GLMClient | None = None,
        **params: Any,
    ) -> None:
        self.transcript = Transcript(system)
        self.model = model
        self.params = params
        self.updates_per_second: float | None = UPDATES_PER_SECOND
        self._client = client
        self._task: asyncio.Task[Reply | None] | None = None
        self._view: _TurnView | None = None  # the turn that owns the input right now
        self._views: list[_TurnView] = []

        self._turns_box = widgets.VBox([])
        self._input = widgets.Textarea(
            placeholder="Ask something, then press Send",
            rows=3,
            layout=widgets.Layout(width="100%"),
        )
        self._send_button = _button("Send", "paper-plane", "Send the question", button_style="primary")
        self._stop_button = _button("Stop", "stop", "Stop the answer; what arrived is kept", disabled=True)
        self._new_button = _button("New conversation", "file", "Empty the transcript and the history")
        self._send_button.on_click(self._on_send_click)
        self._stop_button.on_click(lambda _button: self.stop())
        self._new_button.on_click(lambda _button: self.clear())
        self.widget = widgets.VBox(
            [
                self._turns_box,
                self._input,
                widgets.HBox([self._send_button, self._stop_button, self._new_button]),
            ],
            layout=widgets.Layout(width="100%"),
        )

    # -- reading ----------------------------------------------------------------------------------

    @property
    def system(self) -> str | None:
        """The system prompt sent first with every request (None: none)."""
        return self.transcript.system

    @property
    def messages(self) -> list[dict[str, str]]:
        """The history as `{"role", "content"}` dicts (system prompt first), ready to send again.

        Holds finished turns and stopped turns with a partial answer; not failed turns, turns
        stopped before any answer, nor the turn streaming now.
        """
        return self.transcript.history()

    @property
    def replies(self) -> list[Reply]:
        """The `Reply` of every turn that got one, in order (stopped and failed ones too)."""
        return [turn.reply for turn in self.transcript.turns if turn.reply is not None]

    @property
    def turns(self) -> list[Turn]:
        """Every turn in the transcript, in order."""
        return list(self.transcript.turns)

    @property
    def busy(self) -> bool:
        """True while an answer is streaming."""
        return self._view is not None and not self._view.turn.ended

    def to_markdown(self) -> str:
        """The transcript as Markdown (prompts, answers, and how unusual turns ended)."""
        return self.transcript.to_markdown()

    # -- acting -----------------------------------------------------------------------------------

    def send(self, text: str) -> asyncio.Task[Reply | None]:
        """Ask `text`; the answer streams into the transcript. Returns the turn's task.

        Call it on the kernel's event loop (a cell or a widget callback): the turn runs in the
        background, so the kernel stays free; `await` the task to wait for the answer. Raises
        `ValueError` for an empty prompt and `RuntimeError` while another answer streams.
        """
        loop = _running_loop()
        if self.busy:
            raise RuntimeError("an answer is still streaming: wait for it, or stop() it first")
        turn, request = self.transcript.start(text)
        view = _TurnView(turn, self.updates_per_second)
        self._views.append(view)
        self._turns_box.children = (*self._turns_box.children, view.box)
        self._view = view
        self._set_streaming(True)
        task = loop.create_task(self._run(view, request))
        # A task cancelled before its first step never runs its own cleanup: do it here.
        task.add_done_callback(lambda _task: self._end_turn(view, stopped=True))
        self._task = task
        return task

    def stop(self) -> None:
        """End the streaming answer now: the partial answer stays, the connection closes.

        The turn ends at once (so `send()` may follow directly); the task finishes a moment
        later, returning the partial `Reply`.
        """
        view, task = self._view, self._task
        if view is None or task is None or view.turn.ended:
            return
        view.stop_requested = True
        self._end_turn(view, stopped=True)
        if view.started:
            task.cancel()
        # else: the task sees `stop_requested` at its first step and returns at once, so that
        # awaiting it gives the (empty) reply rather than CancelledError.

    def clear(self) -> None:
        """Start a new conversation: stop the answer if one streams, empty the transcript."""
        self.transcript.clear()
        self._views = []
        self._turns_box.children = ()
        self.stop()  # after forgetting the turn, so that its prompt is not put back

    def close(self) -> None:
        """Stop, and close every widget (the view disappears from the notebook)."""
        self.stop()
        _close_tree(self.widget)

    # -- the turn ---------------------------------------------------------------------------------

    def _get_client(self) -> GLMClient:
        if self._client is None:
            self._client = _default_client()
        return self._client

    async def _run(self, view: _TurnView, request: list[dict[str, str]]) -> Reply | None:
        turn = view.turn
        view.started = True
        if view.stop_requested:
            return turn.reply
        stopped = False
        view.tick()  # the waiting line
        try:
            stream = self._get_client().astream(request, model=self.model, **self.params)
            turn.reply = stream.reply
            async with stream:
                async for event in stream:
                    view.live.apply(event)
                    view.tick()
        except asyncio.CancelledError:
            stopped = True
            if not view.stop_requested:
                raise  # cancelled from outside (the cell awaiting it was interrupted): pass it on
        except GLMError as exc:
            turn.error = str(exc)
            turn.reply = exc.reply or turn.reply
        except Exception as exc:  # noqa: BLE001 - shown inline, so the transcript survives
            turn.error = f"{type(exc).__name__}: {exc}"
        except BaseException:  # KeyboardInterrupt from a kernel interrupt
            stopped = True
            raise
        finally:
            self._end_turn(view, stopped=stopped)
        return turn.reply

    def _end_turn(self, view: _TurnView, *, stopped: bool) -> None:
        """Mark the turn ended, draw it, give the input back. Only the first call acts."""
        turn = view.turn
        if turn.ended:
            return
        turn.stopped = stopped and turn.error is None
        if turn.stopped and turn.reply is not None:
            turn.reply.finish(stopped="interrupted")  # no-op if the reply already ended
        turn.ended = True
        view.finish()
        if view is self._view:
            self._view = None
            self._set_streaming(False)
            if view in self._views and not turn.in_history and not self._input.value.strip():
                self._input.value = turn.prompt  # nothing typed is lost

    def _set_streaming(self, streaming: bool) -> None:
        self._input.disabled = streaming
        self._send_button.disabled = streaming
        self._stop_button.disabled = not streaming

    def _on_send_click(self, _button: widgets.Button) -> None:
        text = self._input.value
        if not text.strip() or self.busy:
            return
        self._input.value = ""
        self.send(text)

    # -- display ----------------------------------------------------------------------------------

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        data = self.widget._repr_mimebundle_()
        data["text/plain"] = repr(self)
        return data

    def __repr__(self) -> str:
        model = self.model or getattr(self._client, "model", None) or DEFAULT_MODEL
        turns = len(self.transcript.turns)
        state = "streaming" if self.busy else "idle"
        return f"<ChatWidget {model}: {turns} turn{'' if turns == 1 else 's'}, {state}>"


def _button(description: str, icon: str, tooltip: str, **kw: Any) -> widgets.Button:
    return widgets.Button(
        description=description, icon=icon, tooltip=tooltip, layout=widgets.Layout(width="auto"), **kw
    )


def _close_tree(widget: widgets.Widget) -> None:
    for child in getattr(widget, "children", ()):
        _close_tree(child)
    widget.close()


def _running_loop() -> asyncio.AbstractEventLoop:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        raise RuntimeError(
            "ChatWidget.send() needs a running asyncio event loop: call it in a notebook cell "
            "(the IPython kernel runs one) or inside asyncio.run()"
        ) from None


def chat(
    model: str | None = None,
    system: str | None = None,
    client: GLMClient | None = None,
    **params: Any,
) -> ChatWidget:
    """Create a `ChatWidget`, display it, and return it: `w = chat(model="glm-4.6")`."""
    from IPython.display import display

    widget = ChatWidget(model=model, system=system, client=client, **params)
    display(widget)
    return widget
