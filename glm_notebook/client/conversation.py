"""`Chat`: one conversation, the same object for Python, `%%glm -c NAME` and the chat widget.

```python
trip = Chat(model="glm-4.6", system="You are a terse travel agent.", max_history=10)
reply = trip("Three days in Lisbon?")      # in a notebook: streams in place; returns the Reply
reply = trip.send("And in Porto?")         # the same without display; await trip.asend(...)
trip.messages, trip.usage, trip.cost       # the history; totals over the turns (USD, or None)
trip.save("trip.json"); again = Chat.load("trip.json")
trip.undo(); trip.reset()
```

A turn is recorded only when its answer arrived (finished, or ended on the service's terms such
as `length`); a failed or interrupted request leaves the history as it was, so asking again does
not send the question twice. A tool loop's turn keeps every assistant message with its tool
calls and every tool result, as the service needs them for the next request. `max_history=N`
sends the system prompt and the last N turns only (a turn is never split, so a tool call always
goes with its result). Totals come from the turns: `usage` sums them, `cost` prices them
(`glm_notebook.results.cost`).

A saved file holds the history, the model, the system prompt, JSON-safe request parameters and
each turn's usage: never the tools (code) nor the API key. A loaded file is untrusted input: it
is checked field by field, and anything else in it is refused in one line (`ChatFileError`).
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import hooks
from ..errors import GLMError
from ..files import open_nofollow, replace_file
from ..hooks import Viewable
from ..results.cost import PriceLike, checked_prices, cost_of, format_cost, total_cost
from ..results.reply import Reply
from ..results.tool_reply import ToolReply
from ..text import one_line, short_line
from ..wire.events import Usage
from .base import AsyncStream, Stream
from .content import image_placeholder
from .glm import GLMClient

__all__ = ["Chat", "ChatTurn", "ChatFileError", "CHAT_FILE_VERSION", "SAVED_PARAMS"]

CHAT_FILE_VERSION = 1
#: Request parameters a saved chat keeps (JSON values only; tools and callables never).
SAVED_PARAMS = (
    "temperature",
    "top_p",
    "max_tokens",
    "do_sample",
    "stop",
    "thinking",
    "clear_thinking",
    "reasoning_effort",
    "web_search",
    "response_format",
    "user_id",
)
_ROLES = ("system", "user", "assistant", "tool")
#: A saved chat file larger than this is refused (a conversation with images stays far below).
MAX_CHAT_FILE = 64 * 1024 * 1024


def _preserves_thinking(reply: Reply | ToolReply) -> bool:
    """The request asked for preserved thinking (`clear_thinking=False`): the history then
    carries each answer's `reasoning_content`, unmodified, as the service asks."""
    thinking = (reply.request or {}).get("thinking")
    return isinstance(thinking, dict) and thinking.get("clear_thinking") is False


class ChatFileError(GLMError):
    """A saved chat file is missing, unreadable or not a chat saved by `Chat.save`."""


@dataclass(eq=False)
class ChatTurn:
    """One exchange: the user message, then what the model added (its answer; for a tool loop
    every assistant message with its tool calls and every tool result).

    `reply` is the `Reply` (or `ToolReply`) when the turn ran in this session; a turn loaded
    from a file or from `messages` has only its `model` and `usage` (if they were saved).
    """

    messages: list[dict[str, Any]]
    model: str | None = None
    usage: Usage | None = None
    reply: Reply | ToolReply | None = field(default=None, repr=False)

    @property
    def prompt(self) -> str:
        """The user message's text (images as `[image W×H PNG]`)."""
        return _text_of(self.messages[0].get("content"))

    @property
    def answer(self) -> str:
        """The last assistant message's text."""
        for message in reversed(self.messages):
            if message.get("role") == "assistant":
                return _text_of(message.get("content"))
        return ""


class Chat(Viewable):
    """A conversation with a GLM model that keeps its history: call it, save it, total it up.

    `model`, `system` and `**params` (`temperature=`, `thinking=`, `max_tokens=`, ...) apply to
    every turn (a call's own keywords override them for that call). `tools=[fn, ...]` runs the
    tool loop on each turn (`approve=`, `max_steps=` as for `client.chat`). `max_history=N`
    sends only the last N turns. `client` is a `GLMClient`; without one each request goes
    through the default client (in a notebook with `%load_ext glm_notebook`: the `%config GLM`
    settings', recordings included; else one from the environment). `prices=` overrides the
    price table for this chat's `cost` (checked here: a bad price raises ValueError).
    """

    def __init__(
        self,
        model: str | None = None,
        system: str | None = None,
        *,
        tools: Sequence[Any] | None = None,
        client: GLMClient | None = None,
        max_history: int | None = None,
        prices: Mapping[str, PriceLike] | None = None,
        name: str | None = None,
        **params: Any,
    ) -> None:
        self.model = model
        self.system = system
        self.tools = list(tools) if tools else []
        self.max_history = _check_max_history(max_history)
        self.prices = checked_prices(prices) if prices else None
        self.name = name
        self.params = params
        self.turns: list[ChatTurn] = []
        self._client = client

    # -- the history ------------------------------------------------------------------------------

    @property
    def messages(self) -> list[dict[str, Any]]:
        """The whole history as message dicts, system prompt first; settable (a list of
        `{"role", "content"}` dicts: a leading system message becomes `system`)."""
        return self._head() + [dict(m) for turn in self.turns for m in turn.messages]

    @messages.setter
    def messages(self, messages: Sequence[Mapping[str, Any]]) -> None:
        checked = _checked_messages(messages, "messages")
        system = None
        if checked and checked[0]["role"] == "system":
            system = _text_of(checked.pop(0).get("content"))
        self.turns = _turns_of(checked, self.model)
        self.system = system if system is not None else self.system

    def request(self, content: str | list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The messages to send for a new user message `content`: the system prompt, the last
        `max_history` turns (all without a limit), then the new message."""
        kept = len(self.turns) if self.max_history is None else min(self.max_history, len(self.turns))
        history = [m for turn in self.turns[len(self.turns) - kept :] for m in turn.messages]
        return self._head() + history + [{"role": "user", "content": content}]

    def _head(self) -> list[dict[str, Any]]:
        return [{"role": "system", "content": self.system}] if self.system else []

    def record(
        self,
        content: str | list[dict[str, Any]],
        reply: Reply | ToolReply,
        added: list[dict[str, Any]] | None = None,
    ) -> ChatTurn:
        """Add a turn: the user message `content`, then `added` (by default what `reply` added:
        its answer; a `ToolReply`'s assistant and tool messages)."""
        if added is None:
            added = getattr(reply, "new_messages", None) or [
                reply.message(reasoning=_preserves_thinking(reply))
            ]
        messages = [{"role": "user", "content": content}, *added]
        turn = ChatTurn(messages, model=reply.model, usage=reply.usage, reply=reply)
        self.turns.append(turn)
        return turn

    def undo(self) -> ChatTurn | None:
        """Drop the last turn and return it (None when there is none)."""
        return self.turns.pop() if self.turns else None

    def reset(self) -> None:
        """Forget every turn (model, system prompt and parameters stay)."""
        self.turns = []

    # -- totals -------------------------------------------------------------------------------------

    @property
    def replies(self) -> list[Reply | ToolReply]:
        """The `Reply` of each turn that ran in this session, in order."""
        return [turn.reply for turn in self.turns if turn.reply is not None]

    @property
    def usage(self) -> Usage:
        """Tokens summed over the turns."""
        return sum((turn.usage for turn in self.turns if turn.usage is not None), Usage())

    @property
    def cost(self) -> float | None:
        """USD summed over the turns; None when a turn's model has no known price."""
        return self.priced()

    def priced(self, *, warn: bool = True) -> float | None:
        """`cost`; `warn=False` leaves an unknown price unsaid (for a view that redraws)."""
        return total_cost(cost_of(turn.model, turn.usage, self.prices, warn=warn) for turn in self.turns)

    # -- asking -------------------------------------------------------------------------------------

    @property
    def client(self) -> GLMClient:
        """The client requests go through: the one given, else the default one (the `%config GLM`
        settings' in a notebook with the extension loaded, else one from the environment)."""
        if self._client is not None:
            return self._client
        make = hooks.clients.find("default")
        if make is None:  # only when the package's __init__ did not run
            raise RuntimeError("no default client: pass client=GLMClient(...)")
        client: GLMClient = make()
        return client

    @client.setter
    def client(self, client: GLMClient | None) -> None:
        self._client = client

    def request_params(self, **params: Any) -> dict[str, Any]:
        """The keywords of one request: the chat's model, tools and parameters, then `params`."""
        merged = {**self.params, **({"tools": self.tools} if self.tools else {}), **params}
        merged["model"] = merged.get("model") or self.model
        return {key: value for key, value in merged.items() if value is not None}

    def stream(self, prompt: str | list[dict[str, Any]], **params: Any) -> Stream:
        """Stream one turn (iterate its events); the turn is recorded when the answer ends."""
        stream = self.client.stream(self.request(prompt), **self.request_params(**params))
        return _Recording(self, prompt, stream)  # type: ignore[return-value]

    def astream(self, prompt: str | list[dict[str, Any]], **params: Any) -> AsyncStream:
        """The async twin of `stream`."""
        stream = self.client.astream(self.request(prompt), **self.request_params(**params))
        return _AsyncRecording(self, prompt, stream)  # type: ignore[return-value]

    def send(self, prompt: str | list[dict[str, Any]], **params: Any) -> Reply:
        """Ask, wait for the whole answer, record the turn, return the `Reply` (no display)."""
        with self.stream(prompt, **params) as stream:
            for _event in stream:
                pass
        return stream.reply

    async def asend(self, prompt: str | list[dict[str, Any]], **params: Any) -> Reply:
        """The async twin of `send`."""
        async with self.astream(prompt, **params) as stream:
            async for _event in stream:
                pass
        return stream.reply

    def __call__(self, prompt: str | list[dict[str, Any]], **params: Any) -> Reply:
        """Ask: in a notebook the answer streams in place like `%%glm`; elsewhere as `send`."""
        show = hooks.displays.find("chat-turn") if "IPython" in sys.modules else None
        reply = show(self, prompt, params) if show is not None else None
        return reply if reply is not None else self.send(prompt, **params)

    def widget(self, **options: Any) -> Any:
        """Open the chat widget on this conversation (what is typed there lands here)."""
        open_widget = hooks.displays.find("chat-widget")
        if open_widget is None:
            raise RuntimeError("the chat widget needs IPython and ipywidgets (pip install glm-notebook)")
        return open_widget(self, **options)

    # -- saving -------------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """What `save` writes: history, model, system prompt, JSON-safe parameters, usage."""
        return {
            "glm_notebook_chat": CHAT_FILE_VERSION,
            "name": self.name,
            "model": self.model,
            "system": self.system,
            "max_history": self.max_history,
            "params": {k: v for k, v in self.params.items() if k in SAVED_PARAMS and _is_json(v)},
            "turns": [
                {
                    "messages": turn.messages,
                    "model": turn.model,
                    "usage": _usage_dict(turn.usage),
                }
                for turn in self.turns
            ],
        }

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the chat to `path` as JSON (a new file renamed into place: never half-written;
        a symlink at `path` is refused rather than followed). Returns the path."""
        data = json.dumps(self.to_dict(), ensure_ascii=False, indent=1).encode("utf-8")
        target = replace_file(path, data, error=ChatFileError)
        return target

    @classmethod
    def from_dict(cls, data: Any, **options: Any) -> Chat:
        """A chat from `to_dict()`'s shape, checked field by field (`ChatFileError` if not)."""
        if not isinstance(data, dict) or data.get("glm_notebook_chat") != CHAT_FILE_VERSION:
            raise ChatFileError("not a chat saved by glm_notebook (no 'glm_notebook_chat': 1 in it).")
        model = _optional_str(data, "model")
        params = data.get("params") or {}
        if not isinstance(params, dict) or not all(
            k in SAVED_PARAMS and _is_json(v) for k, v in params.items()
        ):
            raise ChatFileError(f"'params' may hold only {', '.join(SAVED_PARAMS)} with JSON values.")
        try:
            max_history = _check_max_history(data.get("max_history"))
        except ValueError as exc:
            raise ChatFileError(str(exc)) from None
        chat = cls(
            model=model,
            system=_optional_str(data, "system"),
            max_history=max_history,
            name=_optional_str(data, "name"),
            **{**params, **options},
        )
        turns = data.get("turns")
        if not isinstance(turns, list):
            raise ChatFileError("'turns' is not a list.")
        for number, turn in enumerate(turns, 1):
            if not isinstance(turn, dict):
                raise ChatFileError(f"turn {number} is not an object.")
            messages = _checked_messages(turn.get("messages"), f"turn {number}", error=ChatFileError)
            if not messages or messages[0]["role"] != "user":
                raise ChatFileError(f"turn {number} does not start with a user message.")
            chat.turns.append(
                ChatTurn(
                    messages,
                    model=_optional_str(turn, "model", f"turn {number}"),
                    usage=_usage_of(turn.get("usage"), number),
                )
            )
        return chat

    @classmethod
    def load(cls, path: str | os.PathLike[str], **options: Any) -> Chat:
        """A chat saved by `save` (untrusted: checked field by field). `options` (`client=`,
        `tools=`, `prices=`, parameters) apply to the loaded chat."""
        shown = short_line(str(path), 120)
        if not os.path.lexists(path):
            raise ChatFileError(f"Cannot read {shown}: No such file or directory.")
        try:
            with os.fdopen(open_nofollow(path, os.O_RDONLY, error=ChatFileError), "rb") as file:
                raw = file.read(MAX_CHAT_FILE + 1)
        except OSError as exc:
            raise ChatFileError(f"Cannot read {shown}: {exc.strerror or exc}.") from None
        if len(raw) > MAX_CHAT_FILE:
            raise ChatFileError(f"{shown} is larger than {MAX_CHAT_FILE // 2**20} MiB: not a saved chat.")
        try:
            data = json.loads(raw)
        except ValueError as exc:
            raise ChatFileError(f"{shown} is not JSON ({one_line(str(exc))}).") from None
        try:
            return cls.from_dict(data, **options)
        except ChatFileError as exc:
            raise ChatFileError(f"{shown}: {exc.message}") from None

    # -- reading ------------------------------------------------------------------------------------

    def to_markdown(self) -> str:
        """The conversation as Markdown: system prompt, then each prompt and answer."""
        parts = [f"**System:** {self.system}"] if self.system else []
        for turn in self.turns:
            calls = [
                f"`{call['function']['name']}({call['function']['arguments']})`"
                for message in turn.messages
                for call in message.get("tool_calls") or ()
                if isinstance(call, dict) and isinstance(call.get("function"), dict)
            ]
            pieces = [f"**You:**\n\n{turn.prompt}", "**Assistant:**"]
            if calls:
                pieces.append("Tool calls: " + ", ".join(calls))
            pieces.append(turn.answer)
            parts.append("\n\n".join(pieces))
        return "\n\n---\n\n".join(parts) + "\n" if parts else ""

    def summary(self) -> str:
        """`Chat 'trip' · glm-4.6 · 3 turns · 1,234 tokens · $0.0012`."""
        name = f" {self.name!r}" if self.name else ""
        turns = len(self.turns)
        facts = [f"Chat{name}", self.model or "default model", f"{turns} turn{'' if turns == 1 else 's'}"]
        if self.usage.total_tokens:
            facts += [f"{self.usage.total_tokens:,} tokens", format_cost(self.cost)]
        return " · ".join(facts)

    def __repr__(self) -> str:
        return f"<{one_line(self.summary())}>"

    def __len__(self) -> int:
        return len(self.turns)


class _Recording:
    """A stream that records its turn in the chat when the answer arrived (finished, or ended on
    the service's terms); a failed or stopped one records nothing."""

    def __init__(self, chat: Chat, prompt: Any, stream: Any) -> None:
        self._chat, self._prompt, self._stream = chat, prompt, stream
        self.reply = stream.reply

    def __iter__(self) -> Any:
        yield from self._stream
        self._chat.record(self._prompt, self._stream.reply)  # reached only when it ended well

    def close(self) -> None:
        self._stream.close()

    def __enter__(self) -> _Recording:
        self._stream.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stream.__exit__(*exc)


class _AsyncRecording(_Recording):
    async def __aiter__(self) -> Any:
        async for event in self._stream:
            yield event
        self._chat.record(self._prompt, self._stream.reply)

    async def aclose(self) -> None:
        await self._stream.aclose()

    async def __aenter__(self) -> _AsyncRecording:
        await self._stream.__aenter__()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self._stream.__aexit__(*exc)


# -- checks of untrusted input ------------------------------------------------------------------------


def _check_max_history(value: Any) -> int | None:
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError(f"max_history is a number of turns (0 or more) or None, not {value!r}")
    return value


def _checked_messages(messages: Any, what: str, error: type[Exception] = ValueError) -> list[dict[str, Any]]:
    if isinstance(messages, (str, bytes)) or not isinstance(messages, Sequence):
        raise error(f"{what} is a list of message dicts, not {type(messages).__name__}")
    out = []
    for number, message in enumerate(messages, 1):
        if not isinstance(message, Mapping):
            raise error(f"{what}: message {number} is not a dict")
        role = message.get("role")
        if role not in _ROLES:
            raise error(
                f"{what}: message {number} has role {short_line(repr(role), 40)}, not one of {', '.join(_ROLES)}"
            )
        content = message.get("content")
        if content is not None and not isinstance(content, (str, list)):
            raise error(f"{what}: message {number}'s content is not text or a list of parts")
        out.append(dict(message))
    return out


def _turns_of(messages: list[dict[str, Any]], model: str | None) -> list[ChatTurn]:
    """Messages grouped into turns, each starting at a user message."""
    turns: list[ChatTurn] = []
    for message in messages:
        if message["role"] == "user" or not turns:
            turns.append(ChatTurn([message], model=model))
        else:
            turns[-1].messages.append(message)
    return turns


def _text_of(content: Any) -> str:
    if isinstance(content, list):
        return " ".join(
            str(part.get("text") or "") if part.get("type") == "text" else image_placeholder(part)
            for part in content
            if isinstance(part, dict)
        )
    return content if isinstance(content, str) else ""


def _optional_str(data: dict[str, Any], key: str, what: str = "the file") -> str | None:
    value = data.get(key)
    if value is not None and not isinstance(value, str):
        raise ChatFileError(f"{what}: '{key}' is not a string.")
    return value


def _is_json(value: Any) -> bool:
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):
        return False
    return True


_USAGE_FIELDS = frozenset(f.name for f in dataclasses.fields(Usage))


def _usage_dict(usage: Usage | None) -> dict[str, int] | None:
    return None if usage is None else dataclasses.asdict(usage)


def _usage_of(data: Any, number: int) -> Usage | None:
    if data is None:
        return None
    if not isinstance(data, dict) or set(data) - _USAGE_FIELDS:
        raise ChatFileError(f"turn {number}: 'usage' is not a token count object.")
    counts = {}
    for name, value in data.items():
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 10**12:
            raise ChatFileError(f"turn {number}: usage {name} is not a count.")
        counts[name] = value
    return Usage(**counts)
