"""Image parts shown as thumbnails: in the chat, its saved transcript and `%glm history`.

A thumbnail is made by `content.thumbnail` (Pillow re-encodes the pixels as a small JPEG), so no
byte of the user's file, and no model or server text, reaches an `<img>`; without Pillow the
placeholder `[image 640×480 PNG]` shows instead. `thumbnail_items` gives them as data
(`{src, alt}`) for a front end that builds the `<img>` itself; `thumbnails_html` as HTML to add
*after* sanitising (the allow-list has no `img`), accepting only our JPEG data URLs.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

from ..client.content import image_placeholder, thumbnail
from .markdown import escape_text

__all__ = ["thumbnail_items", "thumbnails_html", "image_parts"]

_SRC = re.compile(r"data:image/jpeg;base64,[A-Za-z0-9+/=]+\Z")


def image_parts(content: Any) -> list[dict[str, Any]]:
    """The `image_url` parts of a message's content (none for a string)."""
    if not isinstance(content, list):
        return []
    return [part for part in content if isinstance(part, dict) and part.get("type") == "image_url"]


def thumbnail_items(images: Iterable[dict[str, Any]]) -> list[dict[str, str]]:
    """`{src, alt}` per image part: `src` a thumbnail data URL ("" without Pillow), `alt` the
    placeholder text."""
    return [{"src": thumbnail(part) or "", "alt": image_placeholder(part)} for part in images]


def thumbnails_html(items: Sequence[dict[str, str]]) -> str:
    """`div.glm-thumbs` with an `img.glm-thumb` per item (`span.glm-thumb-placeholder` when it
    has no thumbnail of ours); "" for none."""
    shown = []
    for item in items:
        alt = escape_text(str(item.get("alt", "[image]")))
        src = str(item.get("src", ""))
        if _SRC.match(src):
            shown.append(f'<img class="glm-thumb" src="{src}" alt="{alt}" title="{alt}">')
        else:
            shown.append(f'<span class="glm-thumb-placeholder">{alt}</span>')
    return f'<div class="glm-thumbs">{"".join(shown)}</div>' if shown else ""
