"""`ChatWidget`: a conversation with a GLM model in a notebook, answers streaming in place.

```python
from glm_notebook import chat

w = chat(model="glm-4.6", system="You are a helpful tutor")  # shows the widget, returns it
reply = await w.send("What is a monad?")  # or type in the box and press Enter
w.messages                                # the history, ready to send again
v = chat(model="glm-4.6v")
await v.send("What is wrong with {fig}?", images=[Path("photo.png")])  # notebook context, images
print(w.to_markdown())                    # the transcript as Markdown
```

Three layers:

- `chat_state.Transcript` / `Turn` hold the conversation (no widgets, no I/O);
- this module runs each turn as an asyncio task on the kernel's event loop and renders it in
  Python (`render.live.LiveAnswer`: finished Markdown blocks are rendered once, only the open
  pane is re-rendered), at most `UPDATES_PER_SECOND` times a second;
- a small anywidget front end (`static/chat.js`, `static/chat.css`, plain ES module shipped in
  the package) that only inserts the sanitised HTML it is sent.

What is sent goes through the same `{name}` interpolation as `%%glm` (`{df}`, `{fig}` as an
image, `{In[3]}`, `{Err}`, `{{x}}` for braces; the kernel's variables; the API key masked):
`chat(interpolate=False)` turns it off. Images (`send(text, images=[...])`, or attached in the
browser: button, paste, drop) become image parts after the text; the turn shows thumbnails we
make (`content.thumbnail`), the history keeps the parts. A prompt that cannot go (an
interpolation typo, an image that cannot be read, images for a text model) is refused in one
line in the chat (`{op: "notice", text}`) and its text goes back into the input.

The wire between them is custom widget messages. Python → browser: `{op: "turn", id,
user_html, thumbs}` (`thumbs`: `[{src, alt}]`, our JPEG thumbnail data URLs, `render.images`),
`{op: "pane", turn, index, html}` (a closed segment once, the open one replaced),
`{op: "end", turn, note_html, markdown}`, `{op: "reset"}`, `{op: "draft", text}`,
`{op: "snapshot", view, turns}` for a view that (re)opens, and with `confirm=True`
`{op: "ask", turn, key, text}` / `{op: "asked", key}` (a tool call waiting for Run / Skip, then
answered), `{op: "notice", text}`. Browser → Python: `{op: "send", text}` (attached images as
the message's binary buffers), `{op: "stop"}`, `{op: "new"}`,
`{op: "restore"}`, `{op: "drop", index, text}` (a queued prompt), `{op: "hello", view}`,
`{op: "answer", key, ok}`. So a long chat costs the browser what changed, not the whole
transcript on every update.

Displayed with `chat()` (or as a cell's value) the widget is followed by a **static
transcript** output (`div.glm-chat-static`), updated when a turn ends: the live front end hides
it, and a notebook opened without a kernel (or exported, or on GitHub) shows it instead.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import ChainMap
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anywidget
import traitlets

from ..client.config import DEFAULT_MODEL, resolve_api_key
from ..client.content import (
    VISION_MODEL,
    ImageError,
    ImagePart,
    image_part,
    is_image,
    is_vision_model,
    open_image,
    vision_error,
)
from ..client.conversation import Chat
from ..client.interpolate import (
    KEY_MASK,
    InterpolationError,
    interpolate_prompt,
    mask_secret,
    message_content,
)
from ..errors import GLMError
from ..render.images import thumbnail_items
from ..render.live import LiveAnswer, Throttle
from ..render.styles import STYLESHEET
from ..render.tool_view import ToolTrace
from ..results.provenance import KEY, provenance
from ..results.reply import Reply
from ..results.tool_reply import StepStarted, ToolCall, ToolCallFinished, ToolCallStarted, ToolReply
from ..text import one_line
from .chat_html import CHAT_CSS, TurnHTML, note_html, open_reasoning, static_html, user_html
from .chat_state import Transcript, Turn

if TYPE_CHECKING:
    from ..client import GLMClient

__all__ = ["ChatWidget", "ChatView", "chat", "Transcript", "Turn", "UPDATES_PER_SECOND"]

#: How often at most a streaming answer is redrawn.
UPDATES_PER_SECOND = 20.0

_STATIC = Path(__file__).parent / "static"


class ChatView(anywidget.AnyWidget):
    """The browser side of a `ChatWidget`: transcript, input box, Send / Stop / New / Restore.

    It holds no conversation state of its own: the Python side sends it sanitised HTML.
    """

    _esm = (_STATIC / "chat.js").read_text(encoding="utf-8")
    _css = STYLESHEET.strip() + "\n" + CHAT_CSS

    chat_id = traitlets.Unicode("", help="Id of the static transcript output this view replaces").tag(
        sync=True
    )
    busy = traitlets.Bool(False, help="An answer is streaming").tag(sync=True)
    pending = traitlets.List(traitlets.Unicode(), help="Prompts queued behind the answer").tag(sync=True)
    can_restore = traitlets.Bool(False, help="New conversation can be undone").tag(sync=True)
    header = traitlets.Unicode("", help="The model and the conversation's cost so far (plain text)").tag(
        sync=True
    )
    images = traitlets.Bool(True, help="The model takes images: Image… shows").tag(sync=True)
    web = traitlets.Bool(False, help="The Web toggle: turns search the web and cite sources").tag(sync=True)


# -- one turn -----------------------------------------------------------------------------------


class _TurnView:
    """One turn as the browser sees it: the `LiveAnswer` that renders it and what was sent.

    Draws are throttled; a held-back draw happens later by itself. `emit` sends one message.
    A tool loop (`follow(reply)`): pane 0 holds the finished steps (`ToolTrace.closed_html`),
    the current step's `LiveAnswer` panes follow, its calls end the last of them; each new
    step starts a new `LiveAnswer` and blanks the panes the last one no longer uses.
    """

    def __init__(
        self, id: int, turn: Turn, updates_per_second: float | None, emit: Callable[[dict], None]
    ) -> None:
        self.id = id
        self.turn = turn
        self.live = LiveAnswer()
        self.throttle = Throttle(updates_per_second)
        self.emit = emit
        self.started = False
        self.stop_requested = False
        self.user_html = user_html(turn.prompt, turn.notes)
        self.thumbs = thumbnail_items(turn.images)
        self.note_html = ""
        self._later: asyncio.TimerHandle | None = None
        self.trace: ToolTrace | None = None
        self._offset = 0  # 1 in a tool loop: pane 0 holds the finished steps
        self._live_html: dict[int, str] = {}  # LiveAnswer pane -> its HTML
        self._shown: dict[int, str] = {}  # pane as sent to the browser -> HTML
        self._last = 0
        self._sent_calls = ""
        emit({"op": "turn", "id": id, "user_html": self.user_html, "thumbs": self.thumbs})

    def html(self) -> TurnHTML:
        """The turn as it stands, for a snapshot or the static transcript."""
        panes = [self._shown.get(i, "") for i in range(max(self._shown, default=-1) + 1)]
        turn = self.turn
        return TurnHTML(self.id, self.user_html, panes, self.note_html, turn.answer, turn.ended, self.thumbs)

    def follow(self, reply: ToolReply) -> None:
        """The turn is a tool loop: show its steps and calls as they happen."""
        self.trace = ToolTrace(reply)
        self._offset = 1
        shown = dict(self._shown)  # the waiting line may be out already: move it down one pane
        self._send(0, "")
        for index, html in sorted(shown.items()):
            self._send(index + 1, html)

    def apply(self, event: Any) -> None:
        """One event of the turn's stream; a tool call's start and end are drawn at once."""
        if self.trace is None:
            self.live.apply(event)
            self.tick()
            return
        self.trace.apply(event)
        kind = type(event)
        if kind is StepStarted and event.step > 1:
            self._draw()  # the last step's answer, flushed before its panes are reused
            self.live = LiveAnswer()
            self._live_html = {}
            self._last = 0
            self._send(0, self.trace.closed_html())
        else:
            self.live.apply(event)
        if kind in (StepStarted, ToolCallStarted, ToolCallFinished):
            self.flush()
        else:
            self.tick()

    def flush(self) -> None:
        """Draw now, whatever the throttle says (a state change the reader must see)."""
        self.throttle.ready()
        self._draw()

    def tick(self) -> None:
        """New data arrived: draw now if the throttle allows, else make sure a draw follows."""
        if self.throttle.ready():
            self._draw()
        elif self._later is None and self.throttle.interval is not None:
            loop = asyncio.get_running_loop()
            self._later = loop.call_later(self.throttle.interval, self._draw_later)

    def _draw_later(self) -> None:
        self._later = None
        if not self.turn.ended:
            self.throttle.ready()
            self._draw()

    def _draw(self, *, final: bool = False) -> None:
        changed = set()
        for update in self.live.changes(final=final):
            self._live_html[update.index] = update.html
            changed.add(update.index)
        # Last pane first (the front end creates missing panes in order): the answer's first text
        # shows before the reasoning above it collapses, so no frame is shorter than the last.
        if self.trace is None:
            for index in sorted(changed, reverse=True):
                self._send(index, self._live_html[index])
            return
        calls = self.trace.current_html()
        last = max(self._live_html, default=0)
        if calls != self._sent_calls or last != self._last:
            changed |= {self._last, last}
        self._sent_calls, self._last = calls, last
        for index in sorted(changed, reverse=True):
            html = self._live_html.get(index, "")
            self._send(index + 1, html + calls if index == last else html)
        for index in sorted(self._shown):  # panes of an earlier, longer step
            if index > last + 1:
                self._send(index, "")

    def _send(self, index: int, html: str) -> None:
        if self._shown.get(index) == html:
            return
        self._shown[index] = html
        self.emit({"op": "pane", "turn": self.id, "index": index, "html": html})

    def finish(self) -> None:
        """Draw the final state: the whole answer, the reasoning collapsed (left open when no
        answer came), the note line, and the answer's Markdown for the copy button."""
        if self._later is not None:
            self._later.cancel()
            self._later = None
        if self.turn.reply is not None:
            self.live.sync(self.turn.reply)  # the transcript shows exactly what the history holds
        self._draw(final=True)
        first = self._shown.get(self._offset)
        if first and not self.turn.answer and self.turn.state != "done":
            self._send(self._offset, open_reasoning(first))
        self.note_html = note_html(self.turn)
        self.emit({"op": "end", "turn": self.id, "note_html": self.note_html, "markdown": self.turn.answer})


@dataclass(frozen=True)
class _Prompt:
    """A prompt ready to go: the text as typed (key masked), the user message's content when it
    differs (interpolated, or text and image parts), quiet notes."""

    text: str
    content: str | list[dict[str, Any]] | None = None
    notes: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        """The text, and a placeholder per image (how a queued prompt shows)."""
        images = [part.placeholder for part in self.content or () if isinstance(part, ImagePart)]
        return " ".join([self.text.strip(), *images]).strip()


class _Refused(Exception):
    """A prompt that cannot be sent; the message is one line for the chat."""


@dataclass(eq=False)
class _Queued:
    """A prompt sent while an answer streams; `started` gets its turn's task (None: dropped)."""

    text: str
    started: asyncio.Future = field(repr=False)
    prompt: _Prompt = field(repr=False)


def _image(obj: Any) -> ImagePart:
    """An image part for `obj`; bytes in a format other than PNG/JPEG (a pasted GIF or WebP) are
    converted with Pillow when it is installed."""
    if not isinstance(obj, (bytes, bytearray, memoryview)) or is_image(obj):
        return image_part(obj)
    try:
        import PIL  # noqa: F401
    except ImportError:
        raise ImageError(
            "only PNG and JPEG images can be sent without Pillow: pip install 'glm-notebook[vision]'"
        ) from None
    return image_part(open_image(bytes(obj)))


def _done() -> asyncio.Task[None]:
    """A task that finishes at once with None (a prompt that was refused)."""

    async def nothing() -> None:
        return None

    return _running_loop().create_task(nothing())


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
    every turn. With `tools=[fn, ...]` (plain Python functions) each turn runs the tool loop: the
    calls show in the turn while they run, then collapse; `approve=` (`approve(call) -> bool`,
    may be async) decides before each call, or `confirm=True` asks in the chat (Run / Skip);
    `max_steps=` caps the requests; the history keeps the tool calls and results, and the
    turn's task returns a `ToolReply`. What is sent is interpolated like a `%%glm` cell, from the
    kernel's variables (`interpolate=False`: sent as written; a mapping: its names). `client` is
    a `GLMClient`; by default one is made at the first send, from the `%config GLM` settings
    when the extension is loaded (key, base URL, model, timeout), else from `ZAI_API_KEY` /
    `ZAI_BASE_URL`; it is closed with the widget.

    - `send(text, images=[...])` starts a turn and returns its `asyncio.Task` (`reply = await w.send("hi")`);
      while an answer streams the prompt is queued and starts when the answer ends. Errors show
      inline in the transcript; the task's result is the `Reply` either way (None if dropped).
    - `stop()` ends the streaming answer: the connection closes, the partial answer stays.
    - `clear()` starts a new conversation (drops the queue); `restore()` undoes it once.
    - `messages` is the history, `replies` the `Reply` of each turn, `to_markdown()` the
      transcript.

    The object displays as its widget plus a static transcript for kernel-less viewers;
    `w.widget` is the `ChatView` (an anywidget) for your own layouts.
    """

    def __init__(
        self,
        model: str | None = None,
        system: str | None = None,
        client: GLMClient | None = None,
        *,
        chat: Chat | None = None,
        confirm: bool = False,
        interpolate: bool | Mapping[str, Any] = True,
        **params: Any,
    ) -> None:
        self.interpolate = interpolate
        if interpolate is True:
            self._namespace()  # starts recording errors for {Err}
        if confirm:
            if not params.get("tools"):
                raise ValueError("confirm=True asks before each tool call: pass tools=[...] too")
            if params.get("approve") is not None:
                raise ValueError("confirm=True asks in the chat; approve= decides in code: pass one of them")
            params["approve"] = self._ask
        self._asks: dict[str, asyncio.Future[bool]] = {}  # questions waiting for Run / Skip
        if chat is not None and system is not None:
            chat.system = system
        self.transcript = Transcript(chat, system=system)
        self.model = model
        self.params = params
        self.updates_per_second: float | None = UPDATES_PER_SECOND
        client = client if client is not None else self.chat._client
        self._client = client
        self._own_client = client is None
        self._task: asyncio.Task[Reply | ToolReply | None] | None = None
        self._view: _TurnView | None = None  # the turn streaming now
        self._views: list[_TurnView] = []
        self._queue: list[_Queued] = []
        self._previous: tuple[Any, list[_TurnView]] | None = None  # for restore()
        self._next_id = 0
        self._shown_in: int | None = None  # execution count of the last display
        self._static_id: str | None = None  # display id of the static transcript, once shown
        self._closing: asyncio.Task[None] | None = None  # closes our own client's async pool
        self.widget = ChatView(chat_id=uuid.uuid4().hex)
        self.widget.on_msg(self._on_message)
        self._show_earlier_turns()
        self._refresh_header()

    # -- reading ----------------------------------------------------------------------------------

    @property
    def system(self) -> str | None:
        """The system prompt sent first with every request (None: none)."""
        return self.transcript.system

    @property
    def chat(self) -> Chat:
        """The `Chat` this widget continues (shared with Python and `%%glm -c`)."""
        return self.transcript.chat

    @property
    def messages(self) -> list[dict[str, Any]]:
        """The history as `{"role", "content"}` dicts (system prompt first), ready to send again.
        `content` is a string, or (a prompt with images) a list of text and image parts.
        Settable: `w.messages = saved` replaces the conversation (shown as finished turns).

        Holds finished turns and stopped turns with a partial answer; not failed turns, turns
        stopped before any answer, nor the turn streaming now.
        """
        return self.transcript.history()

    @messages.setter
    def messages(self, messages: Sequence[Mapping[str, Any]]) -> None:
        if self.busy:
            raise RuntimeError("an answer is still streaming: stop() it before replacing the messages")
        self._drop_queue()
        self.chat.messages = messages  # checked there; replaces the chat's turns
        self._previous = None
        self.widget.can_restore = False
        self.transcript = Transcript(self.chat)
        self._views = []
        self._show_earlier_turns()
        self._snapshot(None)
        self._update_static()

    @property
    def replies(self) -> list[Reply | ToolReply]:
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

    @property
    def pending(self) -> list[str]:
        """Prompts waiting for the current answer to end, in order."""
        return [item.text for item in self._queue]

    def to_markdown(self) -> str:
        """The transcript as Markdown (prompts, answers, and how unusual turns ended)."""
        return self.transcript.to_markdown()

    # -- acting -----------------------------------------------------------------------------------

    def send(self, text: str = "", images: Sequence[Any] = ()) -> asyncio.Task[Reply | ToolReply | None]:
        """Ask `text` (with `images`: Figures, PIL Images, arrays, PNG/JPEG bytes or Paths, sent
        after the text); the answer streams into the transcript. Returns the turn's task.

        Call it on the kernel's event loop (a cell or a widget callback): the turn runs in the
        background, so the kernel stays free; `await` the task to wait for the answer. While
        another answer streams, the prompt is queued (shown as pending) and starts after it.
        `{name}` fields are filled in now (see the module docstring). A prompt that cannot be
        sent is refused in one line in the chat, its text put back in the input, and the task
        gives None. Raises `ValueError` for an empty prompt.
        """
        loop = _running_loop()
        if not isinstance(text, str) or not (text.strip() or images):
            raise ValueError("nothing to send: the prompt is empty")
        try:
            prompt = self._prepare(text, images)
        except _Refused as exc:
            self._emit({"op": "notice", "text": one_line(str(exc))})
            self._emit({"op": "draft", "text": mask_secret(text, self._key(), KEY_MASK)[0]})
            return _done()
        if self.busy or self._queue:
            item = _Queued(prompt.label, loop.create_future(), prompt)
            self._queue.append(item)
            self._sync_pending()
            return loop.create_task(self._wait_queued(item))
        return self._start(prompt)

    def stop(self) -> None:
        """End the streaming answer now: the partial answer stays, the connection closes.

        The turn ends at once; the next queued prompt, if any, starts. The task finishes a
        moment later, returning the partial `Reply`.
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
        """Start a new conversation: drop the queue, stop the answer, empty the transcript.

        The old transcript is kept for one `restore()` until the next prompt is sent.
        """
        self._drop_queue()
        if self.transcript.turns:
            self._previous = (self.transcript.clear(), self._views)
        self._views = []
        self.stop()  # after moving the turn away, so that its prompt is not put back
        self.widget.can_restore = self._previous is not None
        self._emit({"op": "reset"})
        self._update_static()

    def restore(self) -> bool:
        """Undo the last `clear()` if nothing was sent since; True if it did."""
        if self._previous is None or self.transcript.turns or self.busy:
            return False
        saved, self._views = self._previous
        self.transcript.restore(saved)
        self._previous = None
        self.widget.can_restore = False
        self._snapshot(None)
        self._update_static()
        return True

    def close(self) -> None:
        """Stop, drop the queue, close the widget (its views disappear; the static transcript
        stays) and the client the widget made for itself."""
        self._drop_queue()
        self.stop()
        self.widget.close()
        client, task = self._client, self._task
        if self._own_client and client is not None:
            client.close()
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                return
            self._closing = loop.create_task(_aclose_after(client, task))

    # -- turns ------------------------------------------------------------------------------------

    def _show_earlier_turns(self) -> None:
        """The turns the chat had before this widget showed it, drawn as finished ones."""
        for turn in self.transcript.turns:
            self._next_id += 1
            view = _TurnView(self._next_id, turn, None, self._emit)
            view.finish()
            self._views.append(view)

    def _get_client(self) -> GLMClient:
        if self._client is None:
            self._client = _default_client()
        return self._client

    def _key(self) -> str | None:
        """The API key the requests use, to mask it in prompts."""
        key = getattr(self._get_client(), "_key", None)
        return key.reveal() if key is not None else resolve_api_key()

    def _namespace(self) -> Mapping[str, Any] | None:
        """Where `{name}` fields are looked up: the mapping given, else the kernel's variables
        (and `Err`, the cells' exceptions); None: no interpolation."""
        if isinstance(self.interpolate, Mapping):
            return self.interpolate
        if not self.interpolate:
            return None
        from IPython import get_ipython

        from .context import install_error_log

        shell = get_ipython()
        if shell is None:
            return None
        return ChainMap(shell.user_ns, {"Err": install_error_log(shell)})

    def _prepare(self, text: str, images: Sequence[Any]) -> _Prompt:
        """`text` interpolated and `images` as image parts, the API key masked; raises
        `_Refused` with one line when it cannot be sent."""
        namespace, notes = self._namespace(), []
        sent: str = text
        parts: Sequence[dict[str, Any]] = ()
        if namespace is not None:
            try:
                expanded = interpolate_prompt(text, namespace, images=True, opt_out="chat(interpolate=False)")
            except InterpolationError as exc:
                raise _Refused(f"Not sent: {exc}") from None
            sent, parts, notes = expanded.text, expanded.parts, expanded.notes
        extra = []
        for number, obj in enumerate(images, 1):
            try:
                extra.append(_image(obj))
            except ImageError as exc:
                raise _Refused(f"Not sent: image {number}: {exc}") from None
        key = self._key()
        shown, hidden = mask_secret(text, key, KEY_MASK)
        sent, hidden_sent = mask_secret(sent, key, KEY_MASK)
        if hidden or hidden_sent:
            notes.append(f"note: the prompt held your API key; {KEY_MASK} was sent in its place")
        if not parts and not extra:
            return _Prompt(shown, None if sent == shown else sent, tuple(notes))
        model = self._model_name()
        if not is_vision_model(model):
            raise _Refused(f"Not sent: {vision_error(model, f'chat(model={VISION_MODEL!r})')}")
        content, image_notes = message_content(sent, parts, extra, key)
        notes += image_notes
        return _Prompt(shown, content, tuple(notes))

    def _start(self, prompt: _Prompt) -> asyncio.Task[Reply | ToolReply | None]:
        loop = _running_loop()
        turn, request = self.transcript.start(prompt.text, prompt.content, prompt.notes)
        if self._previous is not None:  # a new turn: "New conversation" is final now
            self._previous = None
            self.widget.can_restore = False
        self._next_id += 1
        view = _TurnView(self._next_id, turn, self.updates_per_second, self._emit)
        self._views.append(view)
        self._view = view
        self.widget.busy = True
        task = loop.create_task(self._run(view, request))
        # A task cancelled before its first step never runs its own cleanup: do it here.
        task.add_done_callback(lambda _task: self._end_turn(view, stopped=True))
        self._task = task
        return task

    async def _wait_queued(self, item: _Queued) -> Reply | ToolReply | None:
        try:
            task = await item.started
        except asyncio.CancelledError:
            if item in self._queue:
                self._queue.remove(item)
                self._sync_pending()
            raise
        return None if task is None else await task

    async def _run(self, view: _TurnView, request: list[dict[str, str]]) -> Reply | ToolReply | None:
        turn = view.turn
        view.started = True
        if view.stop_requested:
            return turn.reply
        stopped = False
        view.tick()  # the waiting line
        try:
            params = self.chat.request_params(**({"model": self.model} if self.model else {}), **self.params)
            if self.widget.web and not params.get("web_search"):
                params["web_search"] = True
            stream = self._get_client().astream(request, **params)
            turn.reply = stream.reply
            if isinstance(stream.reply, ToolReply):
                view.follow(stream.reply)
            async with stream:
                async for event in stream:
                    view.apply(event)
        except asyncio.CancelledError:
            stopped = True
            if not view.stop_requested:
                raise  # cancelled from outside (the cell awaiting it was interrupted): pass it on
        except GLMError as exc:
            turn.error = str(exc)
            turn.reply = exc.reply or turn.reply
        except Exception as exc:
            turn.error = f"{type(exc).__name__}: {exc}"
        except BaseException:  # KeyboardInterrupt from a kernel interrupt
            stopped = True
            raise
        finally:
            self._end_turn(view, stopped=stopped)
        return turn.reply

    def _end_turn(self, view: _TurnView, *, stopped: bool) -> None:
        """Mark the turn ended, draw it, update the static transcript, start the next queued
        prompt. Only the first call acts."""
        turn = view.turn
        if turn.ended:
            return
        turn.stopped = stopped and turn.error is None
        if turn.stopped and turn.reply is not None:
            turn.reply.finish(stopped="interrupted")  # no-op if the reply already ended
        turn.ended = True
        current = view is self._view
        if current:  # before the end message, so that the browser never shows an ended turn as busy
            self._view = None
            self.widget.busy = False
        if view in self._views:  # not a turn that clear() moved away
            self.transcript.end(turn)
        view.finish()
        if current and view in self._views and not turn.in_history and not self._queue:
            self._emit({"op": "draft", "text": turn.prompt})  # back into an empty box
        self._update_static()
        self._start_next()

    def _start_next(self) -> None:
        while self._queue and not self.busy:
            item = self._queue.pop(0)
            if item.started.done():  # its awaiting task was cancelled
                continue
            self._sync_pending()
            item.started.set_result(self._start(item.prompt))
        self._sync_pending()

    def _drop_queue(self) -> None:
        queue, self._queue = self._queue, []
        for item in queue:
            if not item.started.done():
                item.started.set_result(None)
        self._sync_pending()

    def _sync_pending(self) -> None:
        # Previews, not whole prompts: the list goes to the browser on every change of the queue.
        self.widget.pending = [_preview(item.text) for item in self._queue]

    async def _ask(self, call: ToolCall) -> bool:
        """`approve=` of `confirm=True`: show "Run weather(…)?" with Run / Skip in the turn and
        wait for a click (Stop ends the wait, and the turn)."""
        view = self._view
        if view is None:
            return False
        view.flush()  # the call shows as waiting when the question appears
        key = uuid.uuid4().hex[:12]
        answer: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._asks[key] = answer
        asked = call.approval()
        self._emit(
            {
                "op": "ask",
                "turn": view.id,
                "key": key,
                "name": asked.name,
                "lines": list(asked.lines),
                "note": asked.note,
            }
        )
        try:
            return await answer
        finally:
            self._asks.pop(key, None)
            self._emit({"op": "asked", "key": key})

    # -- the browser ------------------------------------------------------------------------------

    def _emit(self, message: dict[str, Any]) -> None:
        self.widget.send(message)

    def _snapshot(self, view: str | None) -> None:
        """Send every turn as it stands (to one view that just opened, or to all)."""
        turns = [v.html().message() for v in self._views]
        self._emit({"op": "snapshot", "view": view, "turns": turns})

    def _on_message(self, _widget: Any, content: Any, buffers: Any) -> None:
        if not isinstance(content, dict):
            return
        op = content.get("op")
        if op == "send":  # attached images arrive as binary buffers
            text = content.get("text")
            text = text if isinstance(text, str) else ""
            images = [bytes(buffer) for buffer in buffers or ()]
            if text.strip() or images:
                self.send(text, images)
        elif op == "stop":
            self.stop()
        elif op == "new":
            self.clear()
        elif op == "restore":
            self.restore()
        elif op == "drop":  # the index the browser saw, checked against the text it showed
            index = content.get("index")
            if (
                isinstance(index, int)
                and 0 <= index < len(self._queue)
                and _preview(self._queue[index].text) == content.get("text")
            ):
                item = self._queue.pop(index)
                if not item.started.done():
                    item.started.set_result(None)
                self._sync_pending()
        elif op == "answer":  # Run / Skip of a question from `_ask`
            answer = self._asks.get(str(content.get("key")))
            if answer is not None and not answer.done():
                answer.set_result(content.get("ok") is True)
        elif op == "hello":
            view = content.get("view")
            self._snapshot(view if isinstance(view, str) else None)

    # -- display ----------------------------------------------------------------------------------

    def _title(self) -> str:
        return f"Chat with {self._model_name()}"

    def _static_bundle(self) -> dict[str, str]:
        turns = [view.html() for view in self._views]
        html = static_html(self.widget.chat_id, turns, title=self._title())
        count = len(turns)
        text = f"{self._title()}: {count} turn{'' if count == 1 else 's'}\n\n{self.to_markdown()}"
        return {"text/html": html, "text/plain": text.rstrip() + "\n"}

    def _static_metadata(self) -> dict[str, Any]:
        """Provenance of every answered turn, for the saved transcript's output."""
        replies = [view.turn.reply for view in self._views if view.turn.reply is not None and view.turn.ended]
        return {KEY: {"chat": [provenance(reply) for reply in replies]}}

    def _refresh_header(self) -> None:
        """The view's header (`glm-4.6 · $0.0012 so far`) and whether Image… shows."""
        model = self._model_name()
        cost = self.chat.priced(warn=False) if self.transcript.turns else None
        self.widget.header = model + (f" · ${cost:.4f} so far" if cost else "")
        self.widget.images = is_vision_model(model)

    def _update_static(self) -> None:
        self._refresh_header()
        if self._static_id is None:
            return
        from IPython.display import update_display

        update_display(
            self._static_bundle(), metadata=self._static_metadata(), raw=True, display_id=self._static_id
        )

    def _ipython_display_(self) -> None:
        """Show the widget and, below it, the static transcript; once per cell execution, so
        `chat()` as a cell's last line does not show it twice."""
        from IPython import get_ipython
        from IPython.display import display

        shell = get_ipython()
        count = getattr(shell, "execution_count", None)
        if count is not None and count == self._shown_in:
            return
        self._shown_in = count
        data, metadata = self._repr_mimebundle_()
        display(data, metadata=metadata, raw=True)
        self._static_id = self._static_id or f"glm-chat-{self.widget.chat_id}"
        display(self._static_bundle(), metadata=self._static_metadata(), raw=True, display_id=self._static_id)

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> tuple[dict, dict]:
        bundle = self.widget._repr_mimebundle_()
        assert bundle is not None  # an anywidget always has a view
        data, meta = bundle
        # What a viewer without the widget reads (nbconvert, GitHub): true whenever it is read.
        data["text/plain"] = f"<ChatWidget {self._model_name()}: live chat; the saved transcript follows>"
        return data, meta

    def _model_name(self) -> str:
        return self.model or self.chat.model or getattr(self._client, "model", None) or DEFAULT_MODEL

    def __repr__(self) -> str:
        turns = len(self.transcript.turns)
        state = "streaming" if self.busy else "idle"
        queued = f", {len(self._queue)} queued" if self._queue else ""
        return f"<ChatWidget {self._model_name()}: {turns} turn{'' if turns == 1 else 's'}, {state}{queued}>"


async def _aclose_after(client: GLMClient, task: asyncio.Task | None) -> None:
    """Close `client`'s async pool once the last turn's task has finished."""
    if task is not None:
        await asyncio.gather(task, return_exceptions=True)
    await client.aclose()


def _running_loop() -> asyncio.AbstractEventLoop:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        raise RuntimeError(
            "ChatWidget.send() needs a running asyncio event loop: call it in a notebook cell "
            "(the IPython kernel runs one) or inside asyncio.run()"
        ) from None


def chat(
    model: str | Chat | None = None,
    system: str | None = None,
    client: GLMClient | None = None,
    *,
    interpolate: bool | Mapping[str, Any] = True,
    **params: Any,
) -> ChatWidget:
    """Create a `ChatWidget`, display it (with its static transcript), and return it:
    `w = chat(model="glm-4.6")`, or `chat(trip)` to continue the `Chat` `trip` (its earlier turns
    show; what is typed lands in `trip.messages`). As a cell's last line it still shows once.
    `interpolate=False` sends prompts as written (no `{name}` filling)."""
    from IPython.display import display

    conversation = model if isinstance(model, Chat) else params.pop("chat", None)
    model = None if isinstance(model, Chat) else model
    widget = ChatWidget(
        model=model, system=system, client=client, chat=conversation, interpolate=interpolate, **params
    )
    display(widget)
    return widget


#: Characters of a queued prompt shown in the chat (the prompt itself is kept whole).
PREVIEW_CHARS = 400


def _preview(text: str) -> str:
    """A queued prompt as the chat shows it: whole when short, else its start and its length."""
    return text if len(text) <= PREVIEW_CHARS else f"{text[:PREVIEW_CHARS]} … ({len(text):,} characters)"
