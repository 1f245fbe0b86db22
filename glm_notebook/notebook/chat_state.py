"""The state of a chat: what was asked, what came back, what goes out as history. No widgets, no I/O.

`Transcript` holds the `Turn`s of one chat as shown (failed and stopped turns too) and builds the
history sent with the next prompt. How a turn that did not finish normally is kept:

- **Stop** leaves the partial answer in the transcript, marked "stopped", and in the history:
  the model is sent what the reader saw.
- A turn that produced **no answer text** (an error, or Stop before the answer began) stays in
  the transcript, marked, but not in the history.
- A finished **tool loop** (`ToolReply`) goes into the history whole: every assistant message
  with its tool calls, every tool result, then the answer.
- A prompt with **images** goes out (and stays in the history) as text and image parts in
  order; the transcript shows the prompt as typed and each image as `[image 640×480 PNG]`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..client.content import image_placeholder
from ..client.conversation import Chat, ChatTurn
from ..results.reply import Reply
from ..results.tool_reply import ToolReply
from ..wire.events import ContentDelta, Finish

__all__ = ["Transcript", "Turn"]


@dataclass(eq=False)
class Turn:
    """One exchange: the prompt, and the reply as far as it got.

    `state` is `"streaming"` until the turn ends, then `"done"`, `"stopped"` (Stop, or its task
    was cancelled) or `"error"` (`error` is one line saying why). `prompt` is what the user
    typed (API key masked); `content` the user message as sent when it differs (interpolated,
    or text and image parts); `notes` quiet lines about how it was sent.
    """

    prompt: str
    reply: Reply | ToolReply | None = None
    error: str | None = None
    stopped: bool = False
    ended: bool = False
    content: str | list[dict[str, Any]] | None = None
    notes: tuple[str, ...] = ()

    @property
    def images(self) -> list[dict[str, Any]]:
        """The image parts of the user message, in order."""
        if not isinstance(self.content, list):
            return []
        return [part for part in self.content if isinstance(part, dict) and part.get("type") == "image_url"]

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

    def messages(self) -> list[dict[str, Any]]:
        """The turn as chat messages: the user's, then the assistant's (for a finished tool
        loop, its assistant and tool messages)."""
        user = {"role": "user", "content": self.prompt if self.content is None else self.content}
        if isinstance(self.reply, ToolReply) and self.state == "done" and self.reply.new_messages:
            return [user, *self.reply.new_messages]
        return [user, {"role": "assistant", "content": self.answer}]


class Transcript:
    """The turns of one chat, as shown, over the `Chat` that holds the history. No widgets, no I/O.

    The transcript also keeps the turns that failed or were stopped, to show them; a turn goes
    into the `Chat` when it ends (`end`) if it belongs in the history (`Turn.in_history`). Turns
    the `Chat` had before are shown as finished ones.
    """

    def __init__(self, chat: Chat | None = None, *, system: str | None = None) -> None:
        self.chat = chat if chat is not None else Chat(system=system)
        self.turns: list[Turn] = [_shown(turn) for turn in self.chat.turns]

    @property
    def system(self) -> str | None:
        return self.chat.system

    @property
    def busy(self) -> bool:
        """True while the last turn is still streaming."""
        return bool(self.turns) and not self.turns[-1].ended

    def history(self) -> list[dict[str, Any]]:
        """The whole history, system prompt first (the chat's messages)."""
        return self.chat.messages

    def start(
        self, prompt: str, content: str | list[dict[str, Any]] | None = None, notes: tuple[str, ...] = ()
    ) -> tuple[Turn, list[dict[str, Any]]]:
        """Open a turn for `prompt` (sent as `content` when given); returns it and the messages
        to send for it (the chat's `max_history` applies)."""
        if not isinstance(prompt, str) or not (prompt.strip() or isinstance(content, list) and content):
            raise ValueError("nothing to send: the prompt is empty")
        if self.busy:
            raise RuntimeError("an answer is still streaming: wait for it, or stop() it first")
        turn = Turn(prompt, content=content, notes=notes)
        request = self.chat.request(turn.messages()[0]["content"])
        self.turns.append(turn)
        return turn, request

    def end(self, turn: Turn) -> None:
        """The turn ended: into the chat's history if it belongs there."""
        if turn.in_history and turn.reply is not None:
            user, *added = turn.messages()
            self.chat.record(user["content"], turn.reply, added=added)

    def clear(self) -> tuple[list[Turn], list[ChatTurn]]:
        """Forget every turn (the system prompt stays); returns what `restore` puts back."""
        previous = (self.turns, self.chat.turns)
        self.turns = []
        self.chat.reset()
        return previous

    def restore(self, previous: tuple[list[Turn], list[ChatTurn]]) -> None:
        self.turns, self.chat.turns = previous

    def to_markdown(self) -> str:
        """The transcript as Markdown: prompts, answers, and how unusual turns ended."""
        parts = [f"**System:** {self.system}"] if self.system else []
        for turn in self.turns:
            shown = "\n\n".join(filter(None, [turn.prompt, " ".join(map(image_placeholder, turn.images))]))
            pieces = [f"**You:**\n\n{shown}", "**Assistant:**"]
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


def _shown(turn: ChatTurn) -> Turn:
    """A finished `Turn` showing a turn the chat had already (its reply, or one made of its text)."""
    reply = turn.reply
    if reply is None:
        reply = Reply(model=turn.model, usage=turn.usage)
        reply.apply(ContentDelta(turn.answer))
        reply.apply(Finish("stop"))
        reply.finish()
    content = turn.messages[0].get("content")
    return Turn(turn.prompt, reply, ended=True, content=content if isinstance(content, list) else None)
