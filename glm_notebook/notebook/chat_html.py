"""The HTML pieces of a chat: a user message, the line under an answer, the static transcript.

Pure functions, no widgets and no I/O. Model and user text goes through
`render.markdown.markdown_html` (sanitised); our own markup around it is constant. The static
transcript is what a saved notebook shows without a kernel (JupyterLab, Notebook 7, nbconvert,
GitHub): the same classes as the live chat, with the shared stylesheet and the chat's own CSS.

Images of a user message show as our thumbnails (`render.images`): sent to the front end as
data, which builds the `<img>` itself, and added to the static transcript after sanitising.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..render.images import thumbnails_html
from ..render.markdown import NO_MATHJAX, escape_text, markdown_html, sanitize_html
from ..render.reply_view import footer_html
from ..render.sources import sources_html
from ..render.styles import STYLESHEET
from ..render.tool_view import tool_footer_html
from ..results.tool_reply import ToolReply
from .chat_state import Turn

__all__ = [
    "CHAT_CSS",
    "TurnHTML",
    "user_html",
    "note_html",
    "open_reasoning",
    "static_html",
]

#: The chat front end's own CSS (layout of transcript, messages, input, buttons).
CHAT_CSS = (Path(__file__).parent / "static" / "chat.css").read_text(encoding="utf-8")

_CLOSED_REASONING = re.compile(r'^<details class="glm-reasoning"(?![^>]*\sopen)([^>]*)>')


@dataclass(frozen=True, slots=True)
class TurnHTML:
    """One turn as the front end shows it: sanitised HTML pieces and the answer's Markdown."""

    id: int
    user_html: str
    panes: Sequence[str]
    note_html: str
    markdown: str
    ended: bool
    thumbs: Sequence[dict[str, str]] = ()

    def message(self) -> dict[str, object]:
        """The turn as JSON for the front end's snapshot."""
        return {
            "id": self.id,
            "user_html": self.user_html,
            "panes": list(self.panes),
            "note_html": self.note_html,
            "markdown": self.markdown,
            "ended": self.ended,
            "thumbs": list(self.thumbs),
        }


def user_html(prompt: str, notes: Sequence[str] = ()) -> str:
    """The user's message, rendered like an answer (it is untrusted text too), and quiet notes
    on how it was sent (undefined `{names}`, a resized image) as plain text."""
    lines = "".join(f'<p class="glm-chat-context"><small>{escape_text(note)}</small></p>' for note in notes)
    return markdown_html(prompt) + lines


def note_html(turn: Turn) -> str:
    """The line under an answer (after a web search's Sources): usage and timings, or how the
    turn ended."""
    state = turn.state
    if state == "done" and isinstance(turn.reply, ToolReply):
        return sources_html(turn.reply.sources) + tool_footer_html(turn.reply)
    if state == "done" and turn.reply is not None:
        return sources_html(turn.reply.sources) + footer_html(turn.reply)
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


def open_reasoning(pane: str) -> str:
    """Pane 0 with its collapsed reasoning opened (for a turn that ended before any answer)."""
    return _CLOSED_REASONING.sub(r'<details class="glm-reasoning"\1 open>', pane, count=1)


def _turn_html(turn: TurnHTML) -> str:
    """One turn, sanitised, with its thumbnails (ours) put in after the allow-list."""
    panes = "".join(f'<div class="glm-chat-pane">{pane}</div>' for pane in turn.panes if pane)
    answer = sanitize_html(f'<div class="glm-chat-answer">{panes}</div>{turn.note_html}')
    # The sanitiser drops `jp-RenderedHTMLCommon` (not ours): put it back on the answer.
    answer = answer.replace('class="glm-chat-answer"', 'class="glm-chat-answer jp-RenderedHTMLCommon"', 1)
    return (
        f'<div class="glm-chat-turn"><div class="glm-chat-user">{sanitize_html(turn.user_html)}'
        f"{thumbnails_html(turn.thumbs)}</div>{answer}</div>"
    )


def static_html(chat_id: str, turns: Sequence[TurnHTML], *, title: str) -> str:
    """The whole transcript as one HTML output, for notebooks opened without a kernel.

    `chat_id` (our own hex id) lets the live front end hide this output while it runs.
    """
    count = len(turns)
    head = f"{escape_text(title)} · {count} turn{'' if count == 1 else 's'} · saved transcript"
    body = "".join(_turn_html(turn) for turn in turns)
    return (
        f'<style class="glm-style">{STYLESHEET.strip()}\n{CHAT_CSS}</style>'
        f'<div class="glm-chat glm-chat-static {NO_MATHJAX}" data-glm-chat="{escape_text(chat_id)}">'
        f'<p class="glm-chat-static-head"><small>{head}</small></p>'
        f'<div class="glm-chat-transcript">{body}</div></div>'
    )
