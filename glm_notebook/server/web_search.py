"""The built-in web search, emulated: deterministic sources and an answer that cites them.

A request whose `tools` hold `{"type": "web_search", "web_search": {"enable": true, …}}` gets
`count` sources (3 unless asked; at most 10 here) made from the prompt's words, on example
domains, and an answer that cites them as `[ref_N]`, as the service's answers do. The sources go
out as a top-level `web_search` array on the first chunk (which chunk carries them on the service
is not confirmed; the client accepts any). A bare `{"type": "web_search"}` is refused, as the
service documents.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from .answers import Answer
from .errors import ApiError

__all__ = ["web_search_options", "search_sources", "web_answer"]

_SITES = (
    ("Example Docs", "https://docs.example.org/{slug}"),
    ("Example News", "https://news.example.com/2026/{slug}"),
    ("Example Wiki", "https://wiki.example.net/wiki/{slug}"),
    ("Example Forum", "https://forum.example.org/t/{slug}"),
    ("Example Blog", "https://blog.example.com/{slug}"),
)
_ANGLES = (
    "an overview",
    "the latest changes",
    "a practical guide",
    "questions and answers",
    "notes from the field",
)
_STOP = frozenset(
    "a an and are did does for from how in is it of on or the to was what when where which who why with".split()
)


def web_search_options(body: dict[str, Any]) -> dict[str, Any] | None:
    """The options of the request's enabled web search tool, or None without one."""
    tools = body.get("tools")
    if not isinstance(tools, list):
        return None
    for position, tool in enumerate(tools):
        if not isinstance(tool, dict) or tool.get("type") != "web_search":
            continue
        options = tool.get("web_search")
        if not isinstance(options, dict):
            raise ApiError(
                400, "1214", f"Invalid parameter tools[{position}].web_search: an object is required"
            )
        count = options.get("count", 3)
        if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= 50:
            raise ApiError(400, "1214", f"Invalid parameter tools[{position}].web_search.count: 1 to 50")
        return options if options.get("enable", True) else None
    return None


def _topic(query: str) -> list[str]:
    words = [w for w in re.findall(r"[A-Za-z0-9][\w.+-]*", query) if w.lower() not in _STOP]
    return words[:6] or ["search"]


def search_sources(query: str, options: dict[str, Any]) -> list[dict[str, Any]]:
    """`count` sources about `query` (the prompt, or the options' `search_query`), the same
    for the same query."""
    chosen = options.get("search_query")
    if isinstance(chosen, str) and chosen.strip():
        query = chosen
    words = _topic(query)
    topic = " ".join(words)
    slug = "-".join(w.lower() for w in words)
    digest = hashlib.sha256(topic.encode()).digest()
    domains = options.get("search_domain_filter")
    sources = []
    for n in range(min(int(options.get("count", 3)), 10)):
        media, link = _SITES[(digest[0] + n) % len(_SITES)]
        link = link.format(slug=slug)
        if isinstance(domains, str) and domains.strip():
            link = f"https://{domains.strip()}/{slug}"
            media = domains.strip()
        angle = _ANGLES[(digest[1] + n) % len(_ANGLES)]
        sources.append(
            {
                "title": f"{topic}: {angle}",
                "content": f"{media} gives {angle} on {topic}.",
                "link": f"{link}?n={n + 1}" if n else link,
                "media": media,
                "icon": "",
                "refer": f"ref_{n + 1}",
                "publish_date": f"2026-11-{1 + (digest[2] + 7 * n) % 28:02d}",
            }
        )
    return sources


def web_answer(prompt: str, sources: list[dict[str, Any]], *, thinking: bool) -> Answer:
    """An answer to `prompt` (directives already taken out) built from `sources`, citing each."""
    prompt = prompt.strip()
    topic = " ".join(_topic(prompt))
    lines = [f"Here is what {len(sources)} web sources say about **{topic}**:", ""]
    for source in sources:
        lines.append(f"- {source['content']} [{source['refer']}]")
    refs = "".join(f"[{source['refer']}]" for source in sources[:2])
    lines += ["", f"In short: the sources agree on the main points {refs}."]
    reasoning = f'The user asks: "{prompt[:60]}". I searched the web and will cite what I found.'
    return Answer(reasoning if thinking else "", "\n".join(lines))
