"""Named conversations for `%%glm -c NAME`: the message history carried across cells.

A turn is recorded only when the answer arrived whole (or ended on the service's terms, e.g.
`length`); a failed or interrupted cell leaves the history as it was, so running the cell again
does not send a duplicate question. The system prompt is not stored: each cell sends its own
(`-s` or `%config GLM.system`).

`%glm history NAME` shows a `History` (`render/history_view.py`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..render.history_view import History

__all__ = ["Conversation", "Conversations", "History", "DEFAULT_CONVERSATION"]

DEFAULT_CONVERSATION = "default"


@dataclass
class Conversation:
    """One named conversation: alternating user / assistant messages."""

    name: str
    messages: list[dict[str, Any]] = field(default_factory=list)

    @property
    def turns(self) -> int:
        """Questions answered so far."""
        return sum(1 for message in self.messages if message["role"] == "user")

    def request(self, prompt: str) -> list[dict[str, Any]]:
        """The messages to send for a new question: the history, then `prompt`."""
        return [*self.messages, {"role": "user", "content": prompt}]

    def record(self, prompt: str, reply: Any) -> None:
        """Add a finished turn (`reply` is a `Reply`, or a `ToolReply` whose assistant and tool
        messages all go in)."""
        self.messages.append({"role": "user", "content": prompt})
        added = getattr(reply, "new_messages", None)
        self.messages.extend(added if added else [reply.message()])

    def reset(self) -> None:
        """Forget every turn."""
        self.messages.clear()

    def history(self) -> History:
        """The conversation for reading (`%glm history`)."""
        return History(self.name, tuple(self.messages))

    def __repr__(self) -> str:
        return f"<Conversation {self.name!r}: {self.turns} turns>"


class Conversations:
    """All conversations of one notebook session, by name."""

    def __init__(self) -> None:
        self._by_name: dict[str, Conversation] = {}

    def __getitem__(self, name: str) -> Conversation:
        """The conversation called `name`, created empty on first use."""
        if name not in self._by_name:
            self._by_name[name] = Conversation(name)
        return self._by_name[name]

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    def names(self) -> list[str]:
        """Names of the conversations that exist."""
        return sorted(self._by_name)

    def reset(self, name: str | None = None) -> list[str]:
        """Forget conversation `name`, or all of them when `name` is None; the names reset."""
        names = self.names() if name is None else [name]
        for each in names:
            self._by_name.pop(each, None)
        return names
