"""Small phrases shared by the rendered views: durations and the reasoning summary line."""

from __future__ import annotations

from ..text import plural

__all__ = ["format_seconds", "time_html", "reasoning_summary"]


def format_seconds(seconds: float) -> str:
    """`0.21 s`, `3.2 s`, `2 min 5 s`."""
    if seconds < 1:
        return f"{seconds:.2f} s"
    if seconds < 60:
        return f"{seconds:.1f} s"
    return f"{int(seconds // 60)} min {seconds % 60:.0f} s"


def time_html(seconds: float) -> str:
    return f'<span class="glm-time">{format_seconds(seconds)}</span>'


def reasoning_summary(words: int, seconds: float | None) -> str:
    """`Reasoning · 120 words · 3.2 s` (HTML; the time in a `glm-time` span)."""
    timing = f" · {time_html(seconds)}" if seconds is not None else ""
    return f"Reasoning · {plural(words, 'word')}{timing}"
