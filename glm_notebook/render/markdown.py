"""Markdown from the model → HTML that is safe to put in a notebook output.

Model output is untrusted: JupyterLab runs `<img onerror>` and `<script>` found in fresh
`text/html` *and* `text/markdown` outputs. So glm_notebook never emits model text as Markdown;
it renders it here, in two layers:

1. markdown-it-py (CommonMark + GFM tables, strikethrough and task lists) with `html=False`, so
   raw HTML in the model's text is shown as text; links must be `http(s):` or `mailto:` (others
   stay text); images become plain links (no remote image is fetched when the output is shown);
   code blocks are highlighted by Pygments into class-only spans (`highlight.code_block_html`);
   math (`$…$`, `$$…$$`, `\\(…\\)`, `\\[…\\]`) becomes MathML on our side through an
   allow-list of TeX commands, or is shown as its source (`math.math_html`).
2. nh3 with an explicit allow-list over the whole fragment (our own markup included): no
   scripts, styles, event handlers, iframes, forms or images; `class` only from a known set;
   inline `style` only as table-cell alignment and our own constants (`highlight.CODE_STYLES`,
   `math.MATHML_HIDDEN`: what keeps an answer readable where the stylesheet is stripped);
   MathML elements and attributes from `math.MATHML_TAGS` with checked values; task-list
   checkboxes forced disabled; links get `target="_blank" rel="noopener noreferrer"`.

Nothing we emit is left for MathJax: the fragment sits in a `mathjax_ignore tex2jax_ignore`
container, so a stray dollar in prose ("it costs $5 and $10") stays text and TeX that MathJax
would turn into CSS or links (`\\unicode`, `\\style`, `\\href`, …) never reaches it.

```python
>>> markdown_html("Hi <img src=x onerror=alert(1)> **there**")
'<div class="glm-md mathjax_ignore tex2jax_ignore"><p>Hi &lt;img src=x onerror=alert(1)&gt; <strong>there</strong></p>\\n</div>'
```
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import nh3
from markdown_it import MarkdownIt
from markdown_it.rules_block import StateBlock
from markdown_it.rules_core import StateCore
from markdown_it.rules_inline import StateInline
from markdown_it.token import Token
from mdit_py_plugins.dollarmath import dollarmath_plugin
from mdit_py_plugins.dollarmath.index import math_block_dollar, math_inline_dollar
from mdit_py_plugins.tasklists import tasklists_plugin

from ..wire.events import Source
from .highlight import CODE_STYLES, Resumable, code_block_html
from .math import MATHML_ATTRIBUTES, MATHML_HIDDEN, MATHML_TAGS, math_html, mathml_attribute
from .sources import citation_rule, cites_env, render_citation

__all__ = [
    "markdown_html",
    "escape_text",
    "sanitize_html",
    "code_block_html",
    "ALLOWED_TAGS",
    "HTML_TAGS",
    "LINK_SCHEMES",
    "HEADING_TAGS",
    "TOC_IGNORE_CLASS",
    "NO_MATHJAX",
    "MD_OPEN",
]

#: HTML tags that survive sanitising. No img, no forms (only disabled checkboxes), no embedding.
HTML_TAGS = frozenset(
    {
        "a", "abbr", "b", "blockquote", "br", "code", "del", "details", "div", "em",
        "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "input", "kbd", "li", "ol", "p", "pre",
        "s", "small", "span", "strong", "sub", "summary", "sup", "table", "tbody", "td", "th",
        "thead", "tr", "ul",
    }
)  # fmt: skip

HEADING_TAGS = frozenset({"h1", "h2", "h3", "h4", "h5", "h6"})

#: Every tag that survives sanitising: `HTML_TAGS` and the MathML elements of `math.MATHML_TAGS`.
ALLOWED_TAGS = HTML_TAGS | MATHML_TAGS

#: URL schemes a link may use; everything else (javascript:, data:, vbscript:, relative) is dropped.
LINK_SCHEMES = frozenset({"http", "https", "mailto"})

_ATTRIBUTES = {
    "a": {"href", "title"},
    "ol": {"start", "class"},
    "details": {"open", "class"},
    "th": {"style"},
    "td": {"style"},
    "input": {"checked"},
    "div": {"class", "data-lang", "style"},
    "span": {"class", "style"},
    "pre": {"class", "style"},
    **{tag: {"class"} for tag in ("code", "summary", "p", "small", "li", "ul", "sup")},
    **{tag: {"class"} for tag in HEADING_TAGS},
    **{tag: set(MATHML_ATTRIBUTES) for tag in MATHML_TAGS},
}
_FORCED = {
    "a": {"target": "_blank"},
    "input": {"type": "checkbox", "disabled": "disabled"},
}

#: The classes that keep MathJax (JupyterLab, Notebook 7, nbconvert, ipywidgets' HTML) off everything
#: inside: every element we emit that holds untrusted text sits in one (a test walks every surface).
NO_MATHJAX = "mathjax_ignore tex2jax_ignore"
_CONTAINER_CLASSES = set(NO_MATHJAX.split())
#: The class that keeps a heading out of JupyterLab's table of contents (see `reply_view`).
TOC_IGNORE_CLASS = "jp-toc-ignore"
_LANGUAGE_CLASS = re.compile(r"language-[a-z0-9_+#.\-]{1,40}")
_LANGUAGE = re.compile(r"[a-z0-9_+#.\-]{1,40}")
_LINK_OK = re.compile(r"(?i)(?:https?:|mailto:)")
#: How every rendered Markdown fragment opens (and closes with `</div>`).
MD_OPEN = f'<div class="glm-md {NO_MATHJAX}">'


def _class_ok(tag: str, name: str) -> bool:
    if tag == "code":
        return name in ("glm-tex", "glm-tex-alt") or bool(_LANGUAGE_CLASS.fullmatch(name))
    if tag in HEADING_TAGS and name == TOC_IGNORE_CLASS:
        return True
    return name.startswith("glm-") or name in _CONTAINER_CLASSES


@lru_cache(maxsize=1024)  # a highlighted code block repeats a few token classes many times
def _filter_class(tag: str, value: str) -> str | None:
    kept = [name for name in value.split() if _class_ok(tag, name)]
    return " ".join(kept) or None


def _filter_attribute(tag: str, attribute: str, value: str) -> str | None:
    if tag in MATHML_TAGS:
        return mathml_attribute(attribute, value)
    if attribute == "class":
        return _filter_class(tag, value)
    if attribute == "style":
        if tag in ("div", "span", "pre"):  # our own constants only (model text writes no tags)
            return value if value in _OWN_STYLES else None
        # Only table-cell alignment, exactly as markdown-it writes it.
        match = re.fullmatch(r"\s*text-align\s*:\s*(left|right|center)\s*;?\s*", value)
        return f"text-align:{match.group(1)}" if match else None
    if attribute == "href":
        return value if _LINK_OK.match(value.strip()) else None
    if attribute == "data-lang":
        return value if _LANGUAGE.fullmatch(value) else None
    return value


_OWN_STYLES = CODE_STYLES | {MATHML_HIDDEN}

_CLEANER = nh3.Cleaner(
    tags=set(ALLOWED_TAGS),
    clean_content_tags={"script", "style"},
    attributes=_ATTRIBUTES,
    attribute_filter=_filter_attribute,
    strip_comments=True,
    link_rel="noopener noreferrer",
    set_tag_attribute_values=_FORCED,
    url_schemes=set(LINK_SCHEMES),
    url_relative="deny",
)


def sanitize_html(fragment: str) -> str:
    """Pass an HTML fragment through the allow-list (the last step of every rendering)."""
    return _CLEANER.clean(fragment)


def escape_text(text: str) -> str:
    """`text` as HTML text: `&`, `<`, `>`, `"` and `'` escaped."""
    return html.escape(text, quote=True)


# -- math and code ------------------------------------------------------------------------------


_DELIMITERS = {"$": ("$", "$"), "$$": ("$$", "$$"), "\\(": ("\\(", "\\)"), "\\[": ("\\[", "\\]")}


def _render_math_inline(self: Any, tokens: Sequence[Token], idx: int, options: Any, env: Any) -> str:
    token = tokens[idx]
    opener, closer = _DELIMITERS.get(token.markup, ("$", "$"))
    # Display math written inside a paragraph stays a span (a div inside <p> is invalid HTML).
    display = token.type == "math_inline_double"
    source = f"{opener}{token.content.strip()}{closer}"
    return math_html(token.content, display=display, block=False, source=source)


def _render_math_block(self: Any, tokens: Sequence[Token], idx: int, options: Any, env: Any) -> str:
    token = tokens[idx]
    opener, closer = _DELIMITERS.get(token.markup, ("$$", "$$"))
    source = f"{opener}{token.content.strip()}{closer}"
    return math_html(token.content, display=True, block=True, source=source)


def _render_fence(self: Any, tokens: Sequence[Token], idx: int, options: Any, env: Any) -> str:
    token = tokens[idx]
    return code_block_html(token.content, token.info, env.get(_RESUME))


def _render_code_block(self: Any, tokens: Sequence[Token], idx: int, options: Any, env: Any) -> str:
    return code_block_html(tokens[idx].content, None, env.get(_RESUME))


def _task_classes(state: StateCore) -> None:
    """Our class names on task lists (`li.glm-task`, `ul.glm-tasks`) instead of the plugin's."""
    for token in state.tokens:
        kind = token.attrGet("class")
        if kind == "task-list-item":
            token.attrSet("class", "glm-task")
        elif kind == "contains-task-list":
            token.attrSet("class", "glm-tasks")


def _paren_math_inline(state: StateInline, silent: bool) -> bool:
    r"""Inline `\(…\)` and `\[…\]` (GLM models write these often); CommonMark would eat the `\`."""
    src, pos = state.src, state.pos
    if src[pos] != "\\" or pos + 1 >= state.posMax or src[pos + 1] not in "([":
        return False
    closer = "\\)" if src[pos + 1] == "(" else "\\]"
    end = src.find(closer, pos + 2, state.posMax)
    if end < 0 or not src[pos + 2 : end].strip():
        return False
    if not silent:
        token = state.push("math_inline_double" if closer == "\\]" else "math_inline", "math", 0)
        token.content = src[pos + 2 : end]
        token.markup = src[pos : pos + 2]
    state.pos = end + 2
    return True


def _bracket_math_block(state: StateBlock, start: int, end: int, silent: bool) -> bool:
    r"""`\[` … `\]` on their own lines (no blank line inside), like `$$` … `$$`."""
    if state.sCount[start] - state.blkIndent >= 4:
        return False
    first = state.src[state.bMarks[start] + state.tShift[start] : state.eMarks[start]]
    if not first.startswith("\\["):
        return False
    body = first[2:]
    if body.rstrip().endswith("\\]"):
        content, last = body.rstrip()[:-2], start
    else:
        parts, last = [body], start
        while True:
            last += 1
            if last >= end:
                return False
            line = state.src[state.bMarks[last] + state.tShift[last] : state.eMarks[last]]
            if not line.strip():
                return False
            if line.rstrip().endswith("\\]"):
                parts.append(line.rstrip()[:-2])
                break
            parts.append(line)
        content = "\n".join(parts)
    if silent:
        return True
    state.line = last + 1
    token = state.push("math_block", "math", 0)
    token.block = True
    token.content = content
    token.markup = "\\["
    token.map = [start, state.line]
    return True


_MONEY = re.compile(r"\$\d[\d,.]*[.,;:!?]?\s")
_PROSE_WORD = re.compile(r"(?<![\\A-Za-z])[A-Za-z]{2,}")


def _not_money(rule: Any) -> Any:
    """Inline `$…$` that reads as prose is not math: an amount followed by words
    ("costs $10. Use `$x$`") or anything with a backtick in it."""

    def guarded(state: StateInline, silent: bool) -> bool:
        start = state.pos
        if not rule(state, True):
            return False
        span, state.pos = state.src[start : state.pos], start
        if "`" in span or (_MONEY.match(span) and _PROSE_WORD.search(span)):
            return False
        return rule(state, silent)

    return guarded


def _probe_safely(rule: Any) -> Any:
    """Make a block rule honour `silent` (dollarmath's pushes tokens even when only probed,
    which matters once it may end a paragraph)."""

    def probe(state: StateBlock, start: int, end: int, silent: bool) -> bool:
        if not silent:
            return rule(state, start, end, False)
        count, line = len(state.tokens), state.line
        matched = rule(state, start, end, False)
        del state.tokens[count:]
        state.line = line
        return matched

    return probe


# -- links and images ---------------------------------------------------------------------------


def _validate_link(url: str) -> bool:
    return bool(_LINK_OK.match(url.strip()))


def _render_image(self: Any, tokens: Sequence[Token], idx: int, options: Any, env: Any) -> str:
    # A remote image in model output is a tracking/exfiltration channel: show a link instead.
    token = tokens[idx]
    src = escape_text(str(token.attrGet("src") or ""))
    alt = self.renderInlineAsText(token.children or [], options, env) or "image"
    return f'<a href="{src}">[image: {escape_text(alt)}]</a>'


def _parser() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
    md.enable(["table", "strikethrough"])
    md.use(tasklists_plugin)
    md.core.ruler.after("github-tasklists", "glm_task_classes", _task_classes)
    md.use(
        dollarmath_plugin,
        allow_labels=False,
        # Pandoc's rule: no space just inside the dollars, no digit right after the closing one,
        # so "$5 and $10" or "$10. Then $x$" is money, not math.
        allow_space=False,
        allow_digits=False,
        allow_blank_lines=False,
        double_inline=True,
    )
    # `$$` on its own line may follow a paragraph line directly (models write it that way).
    md.block.ruler.at(
        "math_block",
        _probe_safely(math_block_dollar(False, None, False)),
        {"alt": ["paragraph", "reference", "blockquote", "list"]},
    )
    md.block.ruler.before(
        "math_block",
        "math_block_bracket",
        _bracket_math_block,
        {"alt": ["paragraph", "reference", "blockquote", "list"]},
    )
    md.inline.ruler.at("math_inline", _not_money(math_inline_dollar(False, False, True)))
    md.inline.ruler.before("escape", "math_inline_paren", _paren_math_inline)
    md.add_render_rule("math_inline", _render_math_inline)
    md.add_render_rule("math_inline_double", _render_math_inline)
    md.add_render_rule("math_block", _render_math_block)
    md.inline.ruler.before("link", "glm_citation", citation_rule)
    md.add_render_rule("glm_citation", render_citation)
    md.add_render_rule("image", _render_image)
    md.add_render_rule("fence", _render_fence)
    md.add_render_rule("code_block", _render_code_block)
    md.validateLink = _validate_link  # type: ignore[method-assign]
    return md


_MD = _parser()


#: The markdown-it `env` key of a `Resumable` for the code blocks of a growing text.
_RESUME = "glm_resume"


def markdown_html(text: str, sources: Sequence[Source] | None = None, resume: Resumable | None = None) -> str:
    """Render untrusted Markdown (model output) to a sanitised HTML fragment.

    The result is one `<div class="glm-md …">`; raw HTML in `text` appears as text, never as
    markup. Safe to put in a `text/html` output or an ipywidgets `HTML` value. With `sources`
    (a web search's), `[ref_N]` citations become numbered links to them. `resume` (a live
    view's open tail, re-rendered as it grows): its code block is lexed only where it grew.
    """
    if not text:
        return ""
    env = cites_env(sources)
    if resume is not None:
        env[_RESUME] = resume
    return sanitize_html(MD_OPEN + _MD.render(text, env) + "</div>")


def markdown_plain(text: str) -> str:
    """Markdown as one line of plain text (headings, emphasis, code marks and link targets
    dropped, blocks joined by spaces): an answer in a table cell, readable at a glance."""
    pieces: list[str] = []
    for token in _MD.parse(text):
        if token.type == "inline":
            pieces.append(
                "".join(c.content for c in token.children or () if c.type in ("text", "code_inline"))
            )
        elif token.type in ("fence", "code_block", "math_block"):
            pieces.append(token.content)
    return " ".join(" ".join(pieces).split())
