"""Code blocks: syntax highlighting by Pygments into class-only token spans, no inline styles.

`code_block_html(code, language)` returns the shared code-block structure:

```html
<div class="glm-code" data-lang="python">
  <div class="glm-code-head"><span class="glm-code-lang">python</span></div>
  <pre class="glm-highlight"><code class="language-python"><span class="glm-tok-k">def</span> …</code></pre>
</div>
```

The three inline styles (`CODE_STYLES`: a frame, a small muted label, the code's padding) are
constants in colours that read on light and dark backgrounds: where the stylesheet is stripped
(an untrusted notebook) the block is still a framed, labelled box; `styles.STYLESHEET` refines
them with the theme's colours. Token classes are Pygments' short names prefixed with `glm-tok-` (`glm-tok-k` keyword,
`glm-tok-s2` string, …); `styles.STYLESHEET` colours them with JupyterLab's editor variables.
The language is taken as written (lower-cased) and never guessed: an unknown or missing
language gives plain escaped text labelled `text`. Lexers are cached per language name.

A live view re-renders its open code block as it grows; a `Resumable` passed along lexes only
what follows the last line where the lexer was back at top level (a newline it read as plain
text), so a redraw costs the new lines, not the whole block.
"""

from __future__ import annotations

import html
import re
from functools import lru_cache

from pygments.lexer import Lexer
from pygments.lexers import get_lexer_by_name
from pygments.token import STANDARD_TYPES, _TokenType
from pygments.util import ClassNotFound

__all__ = ["code_block_html", "highlight", "normalize_language", "Resumable", "TOKEN_CLASS_PREFIX", "PLAIN"]

#: Prefix of every token class (`glm-tok-k`, `glm-tok-s2`, …).
TOKEN_CLASS_PREFIX = "glm-tok-"
#: The label of a block without a known language.
PLAIN = "text"

_LANGUAGE = re.compile(r"[a-z0-9_+#.\-]{1,40}")
_NO_SPAN = {"", "w", "n", "p"}  # plain text, whitespace, names and punctuation: no span


def normalize_language(info: str | None) -> str:
    """The language name of a fence's info string (`"Python {linenos}"` → `"python"`),
    or `"text"` when it is missing, malformed or has no lexer."""
    words = (info or "").split(maxsplit=1)
    word = words[0].strip("{}.").lower() if words else ""
    if not _LANGUAGE.fullmatch(word) or _lexer(word) is None:
        return PLAIN
    return word


@lru_cache(maxsize=256)
def _lexer(language: str) -> Lexer | None:
    if language == PLAIN:
        return None
    try:
        return get_lexer_by_name(language, stripnl=False, ensurenl=True)
    except ClassNotFound:
        return None


@lru_cache(maxsize=512)
def _token_class(ttype: _TokenType) -> str:
    while ttype not in STANDARD_TYPES:
        ttype = ttype.parent
    return STANDARD_TYPES[ttype]


class Resumable:
    """Highlights one growing code block between calls: the tokens up to a checkpoint (the end of
    a line whose newline the lexer read as plain text, so it was back at top level, one line
    short of the end) are lexed and turned into HTML once; only the rest is lexed again. Any
    other code starts over. A construct the lexer matches across lines only once it is closed
    (a shell heredoc) may show other colours until the block closes and is highlighted whole.
    """

    def __init__(self) -> None:
        self._language = ""
        self._code = ""  # the code the kept HTML covers (ends at the checkpoint)
        self._html = ""

    def html(self, code: str, language: str, lexer: Lexer) -> str:
        """`code` highlighted, as `highlight(code, language)` gives it."""
        if language != self._language or not code.startswith(self._code):
            self._language, self._code, self._html = language, "", ""
        at = len(self._code)
        fresh = _tokens(lexer, code[at:])
        # The last line may still change, and the line before it decides how it lexes.
        limit = code.rfind("\n", 0, max(code.rfind("\n"), 0)) + 1
        end, keep, kept_end = at, 0, at
        for i, (name, value) in enumerate(fresh):
            end += len(value)
            if end > limit:
                break
            if name == "" and value.endswith("\n"):
                keep, kept_end = i + 1, end
        if keep:  # kept HTML ends in plain text: what follows joins it as a fresh render would
            self._html += _spans(fresh[:keep])
            self._code = code[:kept_end]
        return self._html + _spans(_without_added_newline(fresh[keep:], code))


def highlight(code: str, language: str, resume: Resumable | None = None) -> str:
    """`code` as escaped HTML with `<span class="glm-tok-…">` around tokens (plain escaped text
    if `language` has no lexer); `resume` lexes only what is new since its last call."""
    lexer = _lexer(language)
    if lexer is None:
        return html.escape(code, quote=False)
    if resume is not None:
        return resume.html(code, language, lexer)
    return _spans(_without_added_newline(_tokens(lexer, code), code))


def _tokens(lexer: Lexer, code: str) -> list[tuple[str, str]]:
    """(class, text) tokens; plain text, whitespace, names and punctuation have the class ""."""
    tokens = []
    for ttype, value in lexer.get_tokens(code):
        name = _token_class(ttype)
        tokens.append(("" if name in _NO_SPAN else name, value))
    return tokens


def _without_added_newline(tokens: list[tuple[str, str]], code: str) -> list[tuple[str, str]]:
    if tokens and not code.endswith("\n") and tokens[-1][1].endswith("\n"):
        tokens[-1] = (tokens[-1][0], tokens[-1][1][:-1])  # the newline Pygments added
    return tokens


def _spans(tokens: list[tuple[str, str]]) -> str:
    """Tokens as HTML; neighbouring tokens of the same class share one span."""
    parts: list[str] = []
    current, run = "", list[str]()
    for name, value in tokens:
        if name != current and run:
            parts.append(_span(current, "".join(run)))
            run = []
        current = name
        run.append(value)
    if run:
        parts.append(_span(current, "".join(run)))
    return "".join(parts)


def _span(name: str, text: str) -> str:
    escaped = html.escape(text, quote=False)
    return f'<span class="{TOKEN_CLASS_PREFIX}{name}">{escaped}</span>' if name else escaped


#: Inline styles of a code block (see the module docstring), and the set the sanitiser lets through.
CODE_FRAME = "border:1px solid #8886;border-radius:6px"
CODE_HEAD = "padding:0 .8em;font-size:.75em;color:#888"
CODE_PRE = "margin:.6em .9em"
CODE_STYLES = frozenset({CODE_FRAME, CODE_HEAD, CODE_PRE})


def code_block_html(code: str, language: str | None, resume: Resumable | None = None) -> str:
    """A whole code block (`div.glm-code`), highlighted if `language` names a lexer.

    `language` is a fence's info string or a language name; the block's trailing newline is
    dropped (the `pre` adds its own spacing). `resume`: see `Resumable`.
    """
    lang = normalize_language(language)
    body = highlight(code[:-1] if code.endswith("\n") else code, lang, resume)
    return (
        f'<div class="glm-code" data-lang="{lang}" style="{CODE_FRAME}">'
        f'<div class="glm-code-head" style="{CODE_HEAD}"><span class="glm-code-lang">{lang}</span></div>'
        f'<pre class="glm-highlight" style="{CODE_PRE}"><code class="language-{lang}">{body}</code></pre></div>\n'
    )


#: A code block's Copy button for `text/html` outputs. Hidden by an inline style that the
#: stylesheet overrides: where the frontend strips the stylesheet (an untrusted notebook) it
#: strips the handler too, so no button that cannot work is shown. The handler is our constant;
#: it copies the block's text and says "Copied" for a moment. Works in a saved notebook without
#: a kernel (JupyterLab, Notebook 7, nbconvert HTML).
COPY_BUTTON = (
    '<button class="glm-copy" style="display:none" onclick="'
    "const b=this,say=(w)=>{b.textContent=w;setTimeout(()=>b.textContent='Copy',1500)};"
    "navigator.clipboard.writeText(b.parentNode.nextSibling.textContent).then(()=>say('Copied'),()=>say('Copy failed'))"
    '">Copy</button>'
)
#: Code blocks of one output that get a button (a huge answer's view stays small).
MAX_COPY_BUTTONS = 30
_CODE_HEAD_END = re.compile(r'(<span class="glm-code-lang">[^<]*</span>)(</div><pre class="glm-highlight")')


def copy_buttons(html: str) -> str:
    """`html` (sanitised already) with a Copy button in each code block's head."""
    return (
        _CODE_HEAD_END.sub(lambda m: m.group(1) + COPY_BUTTON + m.group(2), html)
        if "glm-code-lang" in html
        else html
    )
