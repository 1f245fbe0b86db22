"""Markdown from the model → HTML that is safe to put in a notebook output.

Model output is untrusted: JupyterLab runs `<img onerror>` and `<script>` found in fresh
`text/html` *and* `text/markdown` outputs. So glm_notebook never emits model text as Markdown;
it renders it here, in two layers:

1. markdown-it-py (CommonMark + GFM tables + strikethrough) with `html=False`, so raw HTML in
   the model's text is shown as text; links must be `http(s):` or `mailto:` (others stay text);
   images become plain links (no remote image is fetched when the output is shown); math
   (`$…$`, `$$…$$`, `\\(…\\)`, `\\[…\\]`) is kept as TeX, HTML-escaped, inside
   `<span class="math …">` / `<div class="math …">` so the notebook's MathJax typesets it.
2. nh3 with an explicit allow-list over the whole fragment (our own markup included): no
   scripts, styles, event handlers, iframes, forms or images; `class` only from a known set;
   links get `rel="noopener noreferrer"`.

MathJax in JupyterLab typesets any `$…$` it finds in an HTML output. The fragment therefore sits
in a `mathjax_ignore` container and only our math elements carry `mathjax_process`: a stray
dollar in prose ("it costs $5 and $10") stays text. TeX that could make links or load code
(`\\href`, `\\url`, `\\require`, `\\class`, `\\style`, `\\cssId`, `\\data`, `\\html`) is shown as
code instead of being typeset.

```python
>>> markdown_html("Hi <img src=x onerror=alert(1)> **there**")
'<div class="glm-md mathjax_ignore tex2jax_ignore"><p>Hi &lt;img src=x onerror=alert(1)&gt; <strong>there</strong></p>\\n</div>'
```
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from typing import Any

import nh3
from markdown_it import MarkdownIt
from markdown_it.rules_block import StateBlock
from markdown_it.rules_inline import StateInline
from markdown_it.token import Token
from mdit_py_plugins.dollarmath import dollarmath_plugin
from mdit_py_plugins.dollarmath.index import math_block_dollar

__all__ = ["markdown_html", "escape_text", "sanitize_html", "ALLOWED_TAGS", "LINK_SCHEMES"]

#: Tags that survive sanitising. No img, no form controls, no embedding, no style.
ALLOWED_TAGS = frozenset(
    {
        "a", "abbr", "b", "blockquote", "br", "code", "del", "details", "div", "em",
        "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "kbd", "li", "ol", "p", "pre", "s",
        "small", "span", "strong", "sub", "summary", "sup", "table", "tbody", "td", "th",
        "thead", "tr", "ul",
    }
)  # fmt: skip

#: URL schemes a link may use; everything else (javascript:, data:, vbscript:, relative) is dropped.
LINK_SCHEMES = frozenset({"http", "https", "mailto"})

_ATTRIBUTES = {
    "a": {"href", "title"},
    "ol": {"start"},
    "details": {"open", "class"},
    "th": {"style"},
    "td": {"style"},
    **{tag: {"class"} for tag in ("code", "span", "div", "summary", "p", "small", "pre")},
}

_MATH_CLASSES = {"math", "inline", "display", "mathjax_process", "tex2jax_process"}
_CONTAINER_CLASSES = {"mathjax_ignore", "tex2jax_ignore"}
_LANGUAGE_CLASS = re.compile(r"language-[A-Za-z0-9_+#.\-]{1,40}")
_LINK_OK = re.compile(r"(?i)(?:https?:|mailto:)")
_UNSAFE_TEX = re.compile(r"\\(?:href|url|require|class|style|cssId|data|html)(?![A-Za-z])")

_MATH_INLINE_CLASS = "math inline mathjax_process tex2jax_process"
_MATH_DISPLAY_CLASS = "math display mathjax_process tex2jax_process"
_CONTAINER_OPEN = '<div class="glm-md mathjax_ignore tex2jax_ignore">'


def _class_ok(tag: str, name: str) -> bool:
    if tag == "code":
        return bool(_LANGUAGE_CLASS.fullmatch(name))
    return name.startswith("glm-") or name in _MATH_CLASSES or name in _CONTAINER_CLASSES


def _filter_attribute(tag: str, attribute: str, value: str) -> str | None:
    if attribute == "class":
        kept = [name for name in value.split() if _class_ok(tag, name)]
        return " ".join(kept) or None
    if attribute == "style":
        # Only table-cell alignment, exactly as markdown-it writes it.
        match = re.fullmatch(r"\s*text-align\s*:\s*(left|right|center)\s*;?\s*", value)
        return f"text-align:{match.group(1)}" if match else None
    if attribute == "href":
        return value if _LINK_OK.match(value.strip()) else None
    return value


_CLEANER = nh3.Cleaner(
    tags=set(ALLOWED_TAGS),
    clean_content_tags={"script", "style"},
    attributes=_ATTRIBUTES,
    attribute_filter=_filter_attribute,
    strip_comments=True,
    link_rel="noopener noreferrer",
    url_schemes=set(LINK_SCHEMES),
    url_relative="deny",
)


def sanitize_html(fragment: str) -> str:
    """Pass an HTML fragment through the allow-list (the last step of every rendering)."""
    return _CLEANER.clean(fragment)


def escape_text(text: str) -> str:
    """`text` as HTML text: `&`, `<`, `>`, `"` and `'` escaped."""
    return html.escape(text, quote=True)


# -- math ---------------------------------------------------------------------------------------


def _math_html(tex: str, opener: str, closer: str, display: bool) -> str:
    tex = tex.strip()
    source = escape_text(f"{opener}{tex}{closer}")
    if _UNSAFE_TEX.search(tex):
        return f"<code>{source}</code>"
    if display:
        return f'<div class="{_MATH_DISPLAY_CLASS}">{source}</div>\n'
    return f'<span class="{_MATH_INLINE_CLASS}">{source}</span>'


_DELIMITERS = {"$": ("$", "$"), "$$": ("$$", "$$"), "\\(": ("\\(", "\\)"), "\\[": ("\\[", "\\]")}


def _render_math_inline(self: Any, tokens: Sequence[Token], idx: int, options: Any, env: Any) -> str:
    token = tokens[idx]
    opener, closer = _DELIMITERS.get(token.markup, ("$", "$"))
    # Display math written inside a paragraph stays a span (a div inside <p> is invalid HTML);
    # MathJax still typesets `$$…$$` / `\[…\]` as display math.
    return _math_html(token.content, opener, closer, display=False)


def _render_math_block(self: Any, tokens: Sequence[Token], idx: int, options: Any, env: Any) -> str:
    token = tokens[idx]
    opener, closer = _DELIMITERS.get(token.markup, ("$$", "$$"))
    return _math_html(token.content, opener, closer, display=True)


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
    md.inline.ruler.before("escape", "math_inline_paren", _paren_math_inline)
    md.add_render_rule("math_inline", _render_math_inline)
    md.add_render_rule("math_inline_double", _render_math_inline)
    md.add_render_rule("math_block", _render_math_block)
    md.add_render_rule("image", _render_image)
    md.validateLink = _validate_link  # type: ignore[method-assign]
    return md


_MD = _parser()


def markdown_html(text: str) -> str:
    """Render untrusted Markdown (model output) to a sanitised HTML fragment.

    The result is one `<div class="glm-md …">`; raw HTML in `text` appears as text, never as
    markup. Safe to put in a `text/html` output or an ipywidgets `HTML` value.
    """
    if not text:
        return ""
    return sanitize_html(_CONTAINER_OPEN + _MD.render(text) + "</div>")
