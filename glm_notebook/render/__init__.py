"""Rendering of model output for notebooks: safe HTML, incremental live views, the final reply.

- `markdown.markdown_html(text)`: untrusted Markdown → sanitised HTML fragment.
- `live.LiveAnswer`: a streaming answer as a few HTML panes, re-rendering only what changed.
- `live.Throttle`: caps redraws per second.
- `reply_view.reply_bundle(reply)`: the final MIME bundle of a `Reply`.

No IPython imports here: the widget and the magic both build on these.
"""

from __future__ import annotations

from .live import BlockSplitter, LiveAnswer, PaneUpdate, Throttle
from .markdown import escape_text, markdown_html, sanitize_html
from .reply_view import reply_bundle, reply_html

__all__ = [
    "markdown_html",
    "escape_text",
    "sanitize_html",
    "LiveAnswer",
    "PaneUpdate",
    "BlockSplitter",
    "Throttle",
    "reply_bundle",
    "reply_html",
]
