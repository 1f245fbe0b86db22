"""`%glm history`'s view of a conversation: each message rendered as sanitised Markdown under
its role, long ones collapsed, images as thumbnails (`_repr_html_`); elsewhere plain text wrapped
at word boundaries. Model text is cleaned of control sequences on the plain path and rendered
safely on the HTML one.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from typing import Any

from ..client.content import image_placeholder
from ..results.cost import format_cost
from ..text import one_line, plural, strip_controls
from .highlight import copy_buttons
from .images import image_parts, thumbnail_items, thumbnails_html
from .markdown import NO_MATHJAX, escape_text, markdown_html, sanitize_html
from .styles import style_tag

__all__ = ["History", "LONG_CHARS", "LONG_LINES", "chat_bundle", "chat_view"]

#: Messages longer than this (characters or lines) start collapsed in the HTML view.
LONG_CHARS, LONG_LINES = 2000, 40


def _content(message: dict[str, Any]) -> str:
    """A message's text (a string, or the text parts of a list, images as `[image W×H PNG]`) and
    its tool calls, cleaned of control sequences."""
    content = message.get("content")
    if isinstance(content, list):
        parts = [p for p in content if isinstance(p, dict) and p.get("type") in ("text", "image_url")]
        glue = "" if any(p["type"] == "image_url" for p in parts) else "\n"  # images sit inline
        content = glue.join(
            str(p.get("text") or "") if p["type"] == "text" else image_placeholder(p) for p in parts
        )
    text = strip_controls(content) if isinstance(content, str) else ""
    calls = [
        f"tool call: {call['function']['name']}({call['function']['arguments']})"
        for call in message.get("tool_calls") or ()
        if isinstance(call, dict) and isinstance(call.get("function"), dict)
    ]
    return "\n\n".join([text, *map(strip_controls, calls)]) if calls else text


def _wrap(text: str, width: int) -> list[str]:
    """`text` wrapped at word boundaries; code blocks and indentation kept as written."""
    lines: list[str] = []
    fence: str | None = None
    for line in text.splitlines() or [""]:
        marker = line.lstrip()[:3]
        if marker in ("```", "~~~"):
            fence = None if fence == marker else fence or marker
        if fence or len(line) <= width:
            lines.append(line)
            continue
        body = line.lstrip()
        indent = line[: len(line) - len(body)]
        bullet = body[:2] if body[:2] in ("- ", "* ", "+ ") else ""
        lines += textwrap.wrap(
            body, width, initial_indent=indent, subsequent_indent=indent + " " * len(bullet),
            break_long_words=False, break_on_hyphens=False,
        )  # fmt: skip
    return lines


@dataclass(frozen=True)
class History:
    """A conversation's messages for reading: `_repr_html_` in a notebook, `repr()` as plain
    text wrapped at `width` columns."""

    name: str
    messages: tuple[dict[str, Any], ...]
    width: int = 88
    facts: str = ""
    """One line under the title: model, tokens, cost."""

    @property
    def turns(self) -> int:
        return sum(1 for message in self.messages if message.get("role") == "user")

    def title(self) -> str:
        """`Conversation 'trip' · 2 turns`, or that it is empty."""
        if not self.messages:
            return f"Conversation {self.name!r} is empty."
        return f"Conversation {self.name!r} · {self.turns} turn{'' if self.turns == 1 else 's'}"

    def __repr__(self) -> str:
        blocks = [self.title() + (f"\n{one_line(self.facts)}" if self.facts else "")]
        for message in self.messages:
            role = one_line(str(message.get("role", "?")))
            rule = f"── {role} " + "─" * max(0, min(self.width, 40) - len(role) - 4)
            blocks.append("\n".join([rule, *_wrap(_content(message), self.width)]))
        return "\n\n".join(blocks)

    def _repr_html_(self) -> str:
        title = f'<p class="glm-history-title"><strong>{escape_text(self.title())}</strong></p>'
        if self.facts:
            title += f'<p class="glm-history-facts"><small>{escape_text(one_line(self.facts))}</small></p>'
        parts = []
        for message in self.messages:
            role = escape_text(one_line(str(message.get("role", "?"))))
            text = _content(message)
            body = markdown_html(text) or '<p class="glm-empty"><em>(empty)</em></p>'
            if len(text) > LONG_CHARS or text.count("\n") >= LONG_LINES:
                preview = escape_text(one_line(text)[:100])
                lines = text.count("\n") + 1
                body = (
                    f'<details class="glm-history-long"><summary>{preview}… '
                    f"<small>({len(text):,} characters, {lines:,} lines)</small></summary>{body}</details>"
                )
            message_html = sanitize_html(
                f'<div class="glm-history-message glm-history-{role}">'
                f'<p class="glm-history-role"><strong>{role}</strong></p>{body}</div>'
            )
            images = thumbnails_html(thumbnail_items(image_parts(message.get("content"))))
            if images:  # ours, added after the allow-list (which has no img)
                message_html = message_html.removesuffix("</div>") + images + "</div>"
            parts.append(copy_buttons(message_html))
        html = f'<div class="glm-reply glm-history {NO_MATHJAX}">{sanitize_html(title)}{"".join(parts)}</div>'
        return style_tag(html) + html


def chat_view(chat: Any) -> History:
    """The `History` of a `Chat`, with its model, tokens and cost under the title."""
    models = list(dict.fromkeys(turn.model for turn in chat.turns if turn.model))
    facts = [chat.model or ", ".join(models) or "default model"]
    usage = chat.usage
    if usage.total_tokens:
        facts.append(f"{usage.prompt_tokens:,} prompt + {usage.completion_tokens:,} completion tokens")
        facts.append(format_cost(chat.cost))
    if chat.max_history is not None:
        facts.append(f"sends the last {plural(chat.max_history, 'turn')}")
    return History(chat.name or "chat", tuple(chat.messages), facts=" · ".join(facts) if chat.turns else "")


def chat_bundle(chat: Any, include: Any = None, exclude: Any = None) -> tuple[dict[str, str], dict]:
    """A `Chat`'s MIME bundle: its history as HTML and as wrapped plain text."""
    view = chat_view(chat)
    return {"text/plain": repr(view), "text/html": view._repr_html_()}, {}
