"""The conversations `%%glm -c NAME` continues: each a `Chat`, the same object Python holds.

`-c trip` continues the `Chat` in the notebook variable `trip` when there is one, and otherwise
makes one and binds it there, so `trip.messages`, `trip.usage`, `trip.save(...)` and
`trip("…")` work on what the cells said. `-c` alone continues the magic's own chat ("default"),
which is bound to no variable. A name that holds something other than a `Chat` is refused in one
line rather than overwritten.

A turn is recorded only when the answer arrived (finished, or ended on the service's terms, e.g.
`length`); a failed or interrupted cell leaves the history as it was, so running the cell again
does not send a duplicate question.
"""

from __future__ import annotations

import keyword
from collections.abc import Callable, MutableMapping
from typing import Any

from IPython.core.error import UsageError

from ..client.conversation import Chat

__all__ = ["Conversations", "DEFAULT_CONVERSATION"]

DEFAULT_CONVERSATION = "default"


class Conversations:
    """The chats of one notebook session: the magic's default chat, and `Chat`s in variables."""

    def __init__(self, namespace: MutableMapping[str, Any]) -> None:
        self.namespace = namespace
        self.default: Chat | None = None

    def get(self, name: str, make: Callable[[str], Chat]) -> Chat:
        """The chat called `name`, made by `make(name)` (and bound to the variable `name`) the
        first time."""
        found = self.find(name)
        if found is not None:
            return found
        if name == DEFAULT_CONVERSATION:
            self.default = make(name)
            return self.default
        if not name.isidentifier() or keyword.iskeyword(name):
            raise UsageError(
                f"-c {name}: the conversation is kept in a notebook variable, so use a Python name"
            )
        if name in self.namespace:
            raise UsageError(
                f"-c {name}: the notebook variable {name!r} holds a "
                f"{type(self.namespace[name]).__name__}, not a Chat; use another name, or `del {name}` first"
            )
        chat = self.namespace[name] = make(name)
        return chat

    def find(self, name: str) -> Chat | None:
        """The chat called `name` if there is one (named after its variable if it had none)."""
        if name == DEFAULT_CONVERSATION:
            return self.default
        found = self.namespace.get(name)
        if not isinstance(found, Chat):
            return None
        found.name = found.name or name
        return found

    def names(self) -> list[str]:
        """Names of the chats there are (the default one first)."""
        named = sorted(
            name
            for name, value in self.namespace.items()
            if isinstance(value, Chat) and not name.startswith("_")
        )
        return ([DEFAULT_CONVERSATION] if self.default is not None else []) + named

    def reset(self, name: str | None = None) -> list[str]:
        """Empty chat `name`, or every chat when `name` is None; returns the names emptied."""
        names = self.names() if name is None else [name]
        emptied = []
        for each in names:
            chat = self.find(each)
            if chat is not None:
                chat.reset()
                emptied.append(each)
        return emptied
