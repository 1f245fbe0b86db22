"""Z.ai's built-in web search on the wire: the request's tool entry and the sources that come back.

The request shape follows the docs (PROTOCOL.md, "Built-in web search"; not in the recorded
corpus): `tools: [{"type": "web_search", "web_search": {"enable": true, "search_engine":
"search_pro", "search_result": true, …options}}]`, beside any function tools. Results arrive in a
top-level `web_search` array of `{refer, title, link, media, publish_date, content, icon}`.
Everything in them is the service's text: kept as strings, cut to a sane length, never trusted.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..text import one_line
from .events import Source

__all__ = ["web_search_tool", "with_web_search", "parse_sources", "RECENCY", "MAX_SOURCES"]

#: `search_recency_filter` values the service documents.
RECENCY = ("oneDay", "oneWeek", "oneMonth", "oneYear", "noLimit")
#: Most sources kept from one reply (the service documents `count` up to 50).
MAX_SOURCES = 50
_LIMITS = {"title": 300, "link": 2000, "media": 120, "publish_date": 40, "content": 4000}
_DEFAULTS = {"enable": True, "search_engine": "search_pro", "search_result": True}


def web_search_tool(options: bool | Mapping[str, Any]) -> dict[str, Any]:
    """The tool entry for `web_search=True` or a dict of the documented options
    (`count`, `search_recency_filter`, `search_domain_filter`, `search_query`, …)."""
    given = dict(options) if isinstance(options, Mapping) else {}
    recency = given.get("search_recency_filter")
    if recency is not None and recency not in RECENCY:
        raise ValueError(f"search_recency_filter must be one of {', '.join(RECENCY)}, not {recency!r}")
    count = given.get("count")
    if count is not None and (type(count) is not int or not 1 <= count <= 50):
        raise ValueError(f"web search count must be a whole number from 1 to 50, not {count!r}")
    return {"type": "web_search", "web_search": {**_DEFAULTS, **given}}


def with_web_search(tools: Any, options: bool | Mapping[str, Any] | None) -> Any:
    """`tools` with the web search entry added last (unchanged for `None` / `False`)."""
    if options is None or options is False:
        return tools
    return [*(tools or []), web_search_tool(options)]


def _field(item: Mapping[str, Any], key: str, wire_key: str | None = None) -> str:
    value = item.get(wire_key or key)
    if type(value) is not str:
        return ""
    return " ".join(one_line(value).split())[: _LIMITS[key]]


def parse_sources(array: Any) -> tuple[Source, ...]:
    """Sources from a `web_search` array; items that are not objects with a `refer` are skipped
    (an odd source never costs the answer)."""
    if type(array) is not list:
        return ()
    sources = []
    for item in array[:MAX_SOURCES]:
        if type(item) is not dict or type(item.get("refer")) is not str:
            continue
        sources.append(
            Source(
                ref=item["refer"][:40],
                title=_field(item, "title"),
                link=_field(item, "link"),
                media=_field(item, "media"),
                publish_date=_field(item, "publish_date"),
                content=_field(item, "content"),
            )
        )
    return tuple(sources)
