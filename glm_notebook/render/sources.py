"""Web search sources in an answer: `[ref_N]` citations as numbered links, and the Sources list.

Sources are the service's text (untrusted): titles, sites and dates are escaped, a link is kept
only when it is `http(s)://`, and everything sits inside the answer's no-MathJax container.
The citation rule runs inside markdown-it (so `[ref_1]` in a code span stays as written); it
reads the sources from the render `env` (`{"cites": {ref: Source}}`) and does nothing without.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Sequence
from typing import Any
from urllib.parse import urlsplit

from markdown_it.rules_inline import StateInline
from markdown_it.token import Token

from ..wire.events import Source

__all__ = [
    "citation_rule",
    "render_citation",
    "cites_env",
    "sources_html",
    "sources_lines",
    "site_of",
    "plain_citations",
    "CITATION_ARRIVING",
]

_CITATION = re.compile(r"\[(ref_(\d{1,5}))\]")
_HTTP = re.compile(r"(?i)https?://[^\s]+\Z")
#: The end of a text where a `[ref_N]` citation may still be arriving.
CITATION_ARRIVING = re.compile(r"\[(?:r(?:e(?:f(?:_\d{0,5})?)?)?)?\Z")


def cites_env(sources: Iterable[Source] | None) -> dict[str, Any]:
    """The markdown-it `env` for an answer with these sources (None: no citation links)."""
    return {} if sources is None else {"cites": {source.ref: source for source in sources}}


def _link(source: Source | None) -> str:
    return source.link if source is not None and _HTTP.match(source.link) else ""


def site_of(source: Source) -> str:
    """The source's site: its `media` name, else the link's host without `www.`."""
    if source.media:
        return source.media
    host = urlsplit(_link(source)).hostname or ""
    return host.removeprefix("www.")


def citation_rule(state: StateInline, silent: bool) -> bool:
    """`[ref_N]` as one `glm_citation` token, when the answer came with sources."""
    cites = state.env.get("cites") if isinstance(state.env, dict) else None
    if cites is None or state.src[state.pos] != "[":
        return False
    match = _CITATION.match(state.src, state.pos, state.posMax)
    if match is None:
        return False
    if not silent:
        token = state.push("glm_citation", "sup", 0)
        token.meta = {"ref": match.group(1), "number": int(match.group(2))}
    state.pos = match.end()
    return True


def render_citation(self: Any, tokens: Sequence[Token], idx: int, options: Any, env: Any) -> str:
    """`<sup class="glm-cite"><a href=… title=…>[N]</a></sup>`; a plain `[N]` for a source
    the answer did not get (or whose link is not http/https)."""
    ref, number = tokens[idx].meta["ref"], tokens[idx].meta["number"]
    source = (env.get("cites") or {}).get(ref)
    link = _link(source)
    if not link:
        return f'<sup class="glm-cite">[{number}]</sup>'
    title = html.escape(source.title or site_of(source), quote=True) if source else ""
    return f'<sup class="glm-cite"><a href="{html.escape(link, quote=True)}" title="{title}">[{number}]</a></sup>'


def plain_citations(text: str) -> str:
    """`[ref_N]` as `[N]`, the number the Sources list gives it (plain text: the terminal)."""
    return _CITATION.sub(lambda match: f"[{int(match.group(2))}]", text)


def _label(source: Source, position: int) -> str:
    return f"[{source.number if source.number is not None else position}]"


def sources_html(sources: Sequence[Source]) -> str:
    """The compact Sources list under an answer: number, linked title, site, date."""
    if not sources:
        return ""
    items = []
    for position, source in enumerate(sources, 1):
        title = html.escape(source.title or site_of(source) or source.ref)
        link = _link(source)
        if link:
            title = f'<a href="{html.escape(link, quote=True)}">{title}</a>'
        facts = " · ".join(html.escape(fact) for fact in (site_of(source), source.publish_date) if fact)
        items.append(
            f'<li><span class="glm-source-n">{_label(source, position)}</span> {title}'
            + (f' <span class="glm-source-site">{facts}</span>' if facts else "")
            + "</li>"
        )
    return f'<div class="glm-sources"><p><strong>Sources</strong></p><ul>{"".join(items)}</ul></div>'


def sources_lines(sources: Sequence[Source]) -> list[str]:
    """The Sources list as plain lines (terminal, text mode): `[1] Title — site · date · link`."""
    lines = []
    for position, source in enumerate(sources, 1):
        facts = [fact for fact in (site_of(source), source.publish_date, _link(source)) if fact]
        title = source.title or source.ref
        lines.append(f"{_label(source, position)} {title}" + (f" — {' · '.join(facts)}" if facts else ""))
    return lines
