"""Deterministic answers derived from the conversation: same messages, same bytes."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .directives import strip_directives
from .tokens import slices, tokenize

__all__ = [
    "Answer",
    "derive_answer",
    "message_text",
    "count_prompt_words",
    "huge_markdown",
    "UNICODE_SAMPLE",
]

UNICODE_SAMPLE = (
    "Separators test: this sentence holds a line separator\u2028right here, and this one a "
    "paragraph separator\u2029right there; both are text, not line breaks.\n\n"
    "Emoji: 😀 🎉 👍🏽 👩\u200d💻 🇯🇵 — CJK: 你好，世界！日本語のテキストです。한국어 문장입니다.\n\n"
    "Mixed scripts: café, naïve, Ελληνικά, עברית, Кириллица. 🧪 Done."
)
"""The content of the `u2028` directive."""


@dataclass(frozen=True, slots=True)
class Answer:
    """Reasoning and content of a reply, and how the content is cut into stream chunks."""

    reasoning: str
    content: str
    fine_slices: bool = False
    """True: content goes out in 4-8 character slices (the `huge` directive) instead of words."""
    finish_reason: str = "stop"

    def tokens(self) -> list[tuple[str, str]]:
        """(`reasoning_content` | `content`, text) pairs in stream order; one pair = one chunk."""
        content = slices(self.content) if self.fine_slices else tokenize(self.content)
        return [("reasoning_content", t) for t in tokenize(self.reasoning)] + [
            ("content", t) for t in content
        ]


def message_text(content: Any) -> str:
    """The text of a message's `content`: a string, or the text parts of a list."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [
            part["text"]
            for part in content
            if isinstance(part, dict) and part.get("type") == "text" and isinstance(part.get("text"), str)
        ]
        return "\n".join(parts)
    return ""


def count_prompt_words(messages: Sequence[dict]) -> int:
    """Whitespace-separated words across every message's content."""
    return sum(len(message_text(m.get("content")).split()) for m in messages)


def _trim(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit].rstrip() + "…"


def _function_name(prompt: str) -> str:
    words = re.findall(r"[a-z0-9]+", prompt.lower())[:3]
    return "answer_" + "_".join(words) if words else "answer"


def _note(prompt: str, first: str, turn: int) -> str:
    lines = prompt.strip().splitlines() or [""]
    topic = _trim(lines[0], 60) or "An empty prompt"
    words, chars, line_count = len(prompt.split()), len(prompt), len(lines)
    name = _function_name(prompt)
    if turn > 1:
        paragraph = (
            f'This is turn {turn} of our conversation; you first asked about "{_trim(first, 60)}". '
            f'Now you ask about "{topic}", so here is a fresh note in the same shape.'
        )
    else:
        paragraph = (
            f'You asked about "{topic}". This note comes from the local GLM test server: it '
            "restates your prompt in a few shapes so that every part of the renderer is exercised."
        )
    return (
        f"## {topic}\n\n{paragraph}\n\n"
        f"- **Words:** your prompt has {words} words.\n"
        f"- **Characters:** it is {chars} characters long, over {line_count} line(s).\n"
        f"- **Function:** `{name}` counts the words of any prompt.\n\n"
        "```python\n"
        f"def {name}(text: str) -> int:\n"
        '    """Return the number of words in *text*."""\n'
        "    return len(text.split())\n\n\n"
        f'assert {name}("one two three") == 3\n'
        "```\n\n"
        "| Measure | Value |\n|---|---|\n"
        f"| Words | {words} |\n| Characters | {chars} |\n| Lines | {line_count} |\n\n"
        "Inline math such as $E = mc^2$ stays in the sentence, and the sum of the first $n$ "
        "integers gets a line of its own:\n\n"
        "$$\\sum_{i=1}^{n} i = \\frac{n(n+1)}{2}$$"
    )


def huge_markdown(size: int) -> str:
    """Exactly `size` characters of varied Markdown in numbered sections."""
    parts: list[str] = []
    total, number = 0, 0
    while total < size:
        number += 1
        kind = number % 4
        if kind == 1:
            body = (
                f"Paragraph {number} talks about streaming: tokens arrive one by one, the "
                "renderer keeps up, and **bold**, *italic* and `code` survive the trip.\n\n"
                f"- item {number}.1\n- item {number}.2\n  - nested {number}.2.1\n- item {number}.3\n"
            )
        elif kind == 2:
            body = (
                f"```python\ndef section_{number}(x: int) -> int:\n"
                f"    return x * {number} + sum(range({number}))\n```\n"
            )
        elif kind == 3:
            body = "| n | square | cube |\n|---:|---:|---:|\n" + "".join(
                f"| {n} | {n * n} | {n**3} |\n" for n in range(number, number + 3)
            )
        else:
            body = (
                f"> Quote {number}: a long answer must not slow the notebook down.\n\n"
                f"1. first step of {number}\n2. second step\n3. formula $x_{{{number}}}^2$\n"
            )
        part = f"## Section {number}\n\n{body}\n"
        parts.append(part)
        total += len(part)
    return "".join(parts)[:size]


def derive_answer(
    messages: Sequence[dict],
    *,
    thinking: bool = True,
    json_mode: bool = False,
    echo: bool = False,
    huge: int | None = None,
    unicode_sample: bool = False,
) -> Answer:
    """Build the reply for `messages`; directive groups are ignored wherever they appear."""
    users = [strip_directives(message_text(m.get("content"))) for m in messages if m.get("role") == "user"]
    prompt = users[-1].strip() if users else ""
    first = users[0].strip() if users else ""
    turn = len(users)
    quote = _trim(prompt, 60)
    if huge is not None:
        reasoning = (
            f"The user wants a long answer of {huge} characters. I will write numbered sections "
            "with paragraphs, lists, code and tables."
        )
        answer = Answer(reasoning, huge_markdown(huge), fine_slices=True)
    elif unicode_sample:
        reasoning = f'The user asks: "{quote}". I will answer with separators, emoji and CJK text.'
        answer = Answer(reasoning, UNICODE_SAMPLE)
    elif echo:
        answer = Answer("Echoing the prompt.", prompt)
    elif json_mode:
        reasoning = (
            f'The user asks: "{quote}". I will answer with a compact JSON object describing the prompt.'
        )
        data = {"prompt": quote, "words": len(prompt.split()), "characters": len(prompt), "turn": turn}
        answer = Answer(reasoning, json.dumps(data, separators=(",", ":"), ensure_ascii=False))
    else:
        reasoning = (
            f'The user asks: "{quote}". I will answer with a short structured note: a heading, '
            "a list, a code sample, a table and a formula."
        )
        if turn > 1:
            reasoning += f' This is turn {turn}; the conversation began with "{_trim(first, 60)}".'
        content = _note(prompt, first, turn)
        systems = [message_text(m.get("content")) for m in messages if m.get("role") == "system"]
        if systems:
            content = f"> System: {_trim(systems[0], 80)}\n\n{content}"
        answer = Answer(reasoning, content)
    return answer if thinking else Answer("", answer.content, answer.fine_slices)
