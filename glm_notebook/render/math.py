r"""TeX from the model → MathML, on the Python side, by an allow-list (no MathJax anywhere).

`math_html(tex, display=…, block=…, source=…)` returns

- inline: `<span class="glm-math glm-math-inline"><span class="glm-mathml" style="display:none">
  <math display="inline">…</math></span><code class="glm-tex glm-tex-alt">$source$</code></span>`;
- display: the same in a `div` (`glm-math-display`, `<math display="block">`); a `span` when the
  display formula sits inside a paragraph;
- TeX it refuses: `<code class="glm-tex">$source$</code>`, the source as text (in a `p` of its
  own for display math on its own lines).

The MathML is hidden by an inline style and its TeX source shown; `styles.STYLESHEET` turns that
around. So where the stylesheet is stripped — an untrusted notebook, whose `<style>` JupyterLab's
sanitiser removes along with the `<math>` elements (their text, `E=mc2`, would read wrong) — the
reader sees the formula's TeX source instead, and where it is present, typeset math.

Model text is untrusted, and TeX is a language: MathJax turns `\unicode[…]`, `\mmlToken`,
`\style`, `\class`, `\href`, `\color`, `\rule` and friends into inline CSS, links and boxes. So:

1. `tex_refusal(tex)` lets a formula through only if every command is on the allow-list:
   symbols that latex2mathml maps to one character (Greek letters, operators, relations,
   arrows, …) and the structural commands in `STRUCTURE` (fractions, roots, big operators,
   fonts, `\text`, `\left`/`\right`, accents, spacing); environments only from `ENVIRONMENTS`;
   no `[…]` option after a command other than `\sqrt`; no definitions, colours or boxes.
2. latex2mathml converts; its exceptions and its garbage (unknown commands echoed as text,
   broken entities, `\text{<b>}` copied unescaped into `<mtext>`) make the formula refused.
3. `markdown.sanitize_html` keeps only `MATHML_TAGS` with the attributes `mathml_attribute`
   accepts (enumerated values, small lengths; no style, class, id, href, colours or fonts).

Conversions are cached: the live view re-renders the open tail many times a second.
"""

from __future__ import annotations

import html
import re
from functools import lru_cache

import latex2mathml.commands as _commands
from latex2mathml.converter import convert
from latex2mathml.symbols_parser import SYMBOLS

__all__ = [
    "math_html",
    "tex_html",
    "tex_refusal",
    "mathml_attribute",
    "MATHML_TAGS",
    "MATHML_ATTRIBUTES",
    "STRUCTURE",
    "ENVIRONMENTS",
    "MAX_TEX_CHARS",
    "MATHML_HIDDEN",
]

#: The inline style that hides a formula's MathML until the stylesheet shows it (see above).
MATHML_HIDDEN = "display:none"
#: Longer formulas are shown as source.
MAX_TEX_CHARS = 4_000

#: Commands with structure (arguments, limits, fonts, spacing) that may appear in a formula.
STRUCTURE = frozenset(
    """
    frac dfrac tfrac cfrac binom dbinom tbinom sqrt over choose atop
    overset underset stackrel substack
    hat widehat tilde widetilde bar overline underline vec dot ddot dddot acute grave breve check
    mathring overrightarrow overleftarrow overleftrightarrow overbrace underbrace
    mathbf mathrm mathbb mathcal mathit mathsf mathtt mathfrak mathscr mathnormal boldsymbol bm
    Bbb bold text textbf textit textrm textsf texttt textnormal textup mbox emph
    operatorname
    sum prod int intop iint iiint oint lim limsup liminf sup inf max min argmax argmin det gcd
    Pr hom ker dim deg exp ln lg log sin cos tan cot sec csc sinh cosh tanh coth arcsin arccos
    arctan limits nolimits mod bmod pmod pod
    left right middle big Big bigg Bigg bigl bigr Bigl Bigr biggl biggr Biggl Biggr
    bigm Bigm biggm Biggm
    quad qquad enspace thinspace space displaystyle textstyle scriptstyle scriptscriptstyle
    begin end hline hdashline not prime boxed
    """.split()
)  # fmt: skip

#: Environments allowed inside math, and what latex2mathml is given instead.
ENVIRONMENTS = {
    "matrix": "matrix", "pmatrix": "pmatrix", "bmatrix": "bmatrix", "Bmatrix": "Bmatrix",
    "vmatrix": "vmatrix", "Vmatrix": "Vmatrix", "smallmatrix": "smallmatrix", "cases": "cases",
    "array": "array", "split": "split", "align": "align*", "align*": "align*",
    "aligned": "align*", "gather": "displaylines", "gather*": "displaylines",
    "gathered": "displaylines", "equation": "", "equation*": "",
}  # fmt: skip

#: One-character commands: spacing, escaped specials, the row break, `\|`.
_SHORT = frozenset({"\\", ",", ":", ";", "!", ">", " ", "{", "}", "|", "#", "$", "%", "&", "_"})


def _special_commands() -> frozenset[str]:
    """Every command latex2mathml treats specially (only those in STRUCTURE may pass)."""
    names: set[str] = set()
    for value in vars(_commands).values():
        items = value if isinstance(value, (tuple, list, dict)) else (value,)
        names.update(item[1:] for item in items if isinstance(item, str) and item.startswith("\\"))
    return frozenset(names)


_SYMBOLS = frozenset(name[1:] for name in SYMBOLS if re.fullmatch(r"\\[A-Za-z]+", name)) - _special_commands()
_COMMAND = re.compile(r"\\([A-Za-z]+|.?)", re.S)
_ENV = re.compile(r"\s*\{([A-Za-z]+\*?)\}")
_ARRAY_SPEC = re.compile(r"\s*\{[lcr| ]{1,40}\}")
_OPTION = re.compile(r"\s*\[")
# Commands after which `[` is a bracket, not an option.
_BRACKET_OK = frozenset({"left", "right", "middle", "sqrt"}) | {
    name for name in STRUCTURE if name.lower().startswith("big")
}
_BAD_OUTPUT = re.compile(r">\\|&#x(?![0-9A-Fa-f]{1,6};)|&(?!#x[0-9A-Fa-f]{1,6};|amp;|lt;|gt;|quot;)")
_ENV_NAME = re.compile(r"\\(begin|end)\s*\{([A-Za-z]+\*?)\}")
_XMLNS = ' xmlns="http://www.w3.org/1998/Math/MathML"'
_TAG = re.compile(r"</?([a-z]+)(?=[\s/>])")


def tex_refusal(tex: str) -> str | None:
    """Why `tex` may not be typeset (a short reason), or None if every command is allowed."""
    if len(tex) > MAX_TEX_CHARS:
        return "too long"
    for match in _COMMAND.finditer(tex):
        name, end = match.group(1), match.end()
        if len(name) <= 1 and not name.isalpha():
            if name not in _SHORT:
                return f"\\{name}"
            if name == "\\" and _OPTION.match(tex, end):
                return "\\\\[…]"
            continue
        if name not in STRUCTURE and name not in _SYMBOLS:
            return f"\\{name}"
        if name in ("begin", "end"):
            env = _ENV.match(tex, end)
            if env is None or env.group(1) not in ENVIRONMENTS:
                return f"\\{name}{{{env.group(1) if env else ''}}}"
            if name == "begin" and env.group(1) == "array":
                spec = _ARRAY_SPEC.match(tex, env.end())
                if spec is None:
                    return "array column spec"
                end = spec.end()
            else:
                end = env.end()
            if _OPTION.match(tex, end):
                return f"\\{name}{{…}}[…]"
        elif name not in _BRACKET_OK and name in STRUCTURE and _OPTION.match(tex, end):
            return f"\\{name}[…]"
    return None


def _environment(match: re.Match[str]) -> str:
    target = ENVIRONMENTS[match.group(2)]
    return f"\\{match.group(1)}{{{target}}}" if target else " "


@lru_cache(maxsize=2048)
def _mathml(tex: str, display: bool) -> str | None:
    """MathML for allowed `tex` (not yet sanitised), or None."""
    if tex_refusal(tex) is not None:
        return None
    try:
        mathml = convert(_ENV_NAME.sub(_environment, tex), display="block" if display else "inline")
    except Exception:  # latex2mathml raises many kinds on malformed TeX
        return None
    if _BAD_OUTPUT.search(mathml) or not _only_mathml_tags(mathml):
        return None
    return _spaced_functions(mathml.replace(_XMLNS, "", 1))


# `\log`, `\sin`, … become `<mi>log</mi>`, which MathML Core sets with no space around it
# (`O(nlogn)`); TeX puts a thin space between it and an ordinary neighbour, none before `(`.
_FUNCTION_NAME = re.compile(r"<mi>([a-z]{2,6})</mi>")
_ORDINARY_END = ("</mi>", "</mn>", "</msub>", "</msup>", "</msubsup>", "</mfrac>", "</msqrt>")
_OPENING = re.compile(r"<mo[^>]*>(?:&#x0002[89];|&#x0005[bd];|&#x0007[bc];|[(\[{|])", re.I)
_SCRIPTS = ("msub", "msup", "msubsup")
_THIN = '<mspace width="0.1667em"></mspace>'


def _spaced_functions(mathml: str) -> str:
    """`mathml` with thin spaces around the function names in it, where TeX puts them."""
    at: set[int] = set()
    for match in _FUNCTION_NAME.finditer(mathml):
        if match.group(1) not in _FUNCTIONS:
            continue
        start, end = match.span()
        script = next((t for t in _SCRIPTS if mathml.endswith(f"<{t}>", 0, start)), None)
        if script:  # `\log_2 n`: the space goes around the whole scripted name
            start -= len(script) + 2
            end = _closing(mathml, script, start)
        if mathml.endswith(_ORDINARY_END, 0, start):
            at.add(start)
        rest = mathml[end : end + 40]
        if not (rest.startswith("</") or _OPENING.match(rest)):
            at.add(end)
    if not at:
        return mathml
    cuts = sorted(at)
    pieces = [mathml[a:b] for a, b in zip([0, *cuts], [*cuts, len(mathml)], strict=True)]
    return _THIN.join(pieces)


def _closing(markup: str, tag: str, start: int) -> int:
    """The end of the `<tag>` element that opens at `start`."""
    depth = 0
    for found in re.finditer(rf"<(/?){tag}>", markup[start:]):
        depth += -1 if found.group(1) else 1
        if depth == 0:
            return start + found.end()
    return len(markup)


_FUNCTIONS = frozenset(
    "arccos arcsin arctan arg cos cosh cot coth csc deg det dim exp gcd hom ker lg ln log sec sin "
    "sinh tan tanh".split()
)


def _only_mathml_tags(markup: str) -> bool:
    """True if every `<` in `markup` opens or closes a MathML element: latex2mathml copies
    `\\text{…}` into `<mtext>` without escaping it."""
    for match in re.finditer("<", markup):
        tag = _TAG.match(markup, match.start())
        if tag is None or tag.group(1) not in MATHML_TAGS:
            return False
    return True


def tex_html(source: str) -> str:
    """TeX shown as its source text: `<code class="glm-tex">…</code>`."""
    return f'<code class="glm-tex">{html.escape(source, quote=False)}</code>'


def math_html(tex: str, *, display: bool, block: bool, source: str) -> str:
    """A formula as MathML in its wrapper, or `tex_html(source)` if it is refused.

    `display`: typeset as display math; `block`: wrap in a `div` (else a `span`, for display
    math inside a paragraph); `source`: the formula with its delimiters, shown if refused.
    """
    mathml = _mathml(tex.strip(), display)
    if mathml is None:
        return f"<p>{tex_html(source)}</p>\n" if block else tex_html(source)
    kind = "display" if display else "inline"
    tag = "div" if block else "span"
    return (
        f'<{tag} class="glm-math glm-math-{kind}"><{tag} class="glm-mathml" style="{MATHML_HIDDEN}">'
        f'{mathml}</{tag}><code class="glm-tex glm-tex-alt">{html.escape(source, quote=False)}</code>'
        f"</{tag}>" + ("\n" if block else "")
    )


# -- the MathML allow-list (used by markdown.sanitize_html) -------------------------------------

#: MathML elements that survive sanitising (no annotation-xml, semantics, maction, mglyph).
MATHML_TAGS = frozenset(
    """
    math mrow mi mn mo ms mtext mspace msub msup msubsup munder mover munderover mfrac msqrt
    mroot mtable mtr mtd mstyle mpadded mphantom menclose mmultiscripts mprescripts none
    """.split()
)  # fmt: skip

_BOOLEAN = {"true", "false"}
_ENUMS: dict[str, frozenset[str]] = {
    "display": frozenset({"inline", "block"}),
    "mathvariant": frozenset(
        """normal bold italic bold-italic double-struck bold-fraktur script bold-script fraktur
        sans-serif bold-sans-serif sans-serif-italic sans-serif-bold-italic monospace initial
        tailed looped stretched""".split()
    ),
    "form": frozenset({"prefix", "infix", "postfix"}),
    "linebreak": frozenset({"auto", "newline", "nobreak", "goodbreak", "badbreak"}),
    "frame": frozenset({"none", "solid", "dashed"}),
    **{
        name: frozenset(_BOOLEAN)
        for name in (
            "stretchy fence separator accent accentunder largeop movablelimits symmetric "
            "displaystyle equalrows equalcolumns"
        ).split()
    },
}
_LISTS: dict[str, frozenset[str]] = {
    "columnalign": frozenset({"left", "center", "right"}),
    "rowalign": frozenset({"top", "bottom", "center", "baseline", "axis"}),
    "columnlines": frozenset({"none", "solid", "dashed"}),
    "rowlines": frozenset({"none", "solid", "dashed"}),
    "notation": frozenset(
        """longdiv actuarial radical box roundedbox circle left right top bottom
        updiagonalstrike downdiagonalstrike verticalstrike horizontalstrike madruwb""".split()
    ),
}
_LENGTHS = frozenset(
    "width height depth voffset lspace rspace minsize maxsize linethickness rowspacing "
    "columnspacing framespacing".split()
)
_LENGTH = re.compile(r"([+-]?(?:\d+\.?\d*|\.\d+))(em|ex|mu|pt|px)?")
_MAX_LENGTH = {None: 10.0, "em": 10.0, "ex": 20.0, "mu": 180.0, "pt": 100.0, "px": 150.0}

#: Attributes a MathML element may keep (values checked by `mathml_attribute`).
MATHML_ATTRIBUTES = frozenset({*_ENUMS, *_LISTS, *_LENGTHS, "scriptlevel"})


def mathml_attribute(name: str, value: str) -> str | None:
    """`value` if attribute `name` may keep it on a MathML element, else None."""
    value = value.strip()
    if name in _ENUMS:
        return value if value in _ENUMS[name] else None
    if name in _LISTS:
        words = value.split()
        return " ".join(words) if 0 < len(words) <= 40 and set(words) <= _LISTS[name] else None
    if name in _LENGTHS:
        words = value.split()
        for word in words:
            match = _LENGTH.fullmatch(word)
            if match is None or abs(float(match.group(1))) > _MAX_LENGTH[match.group(2)]:
                return None
        return " ".join(words) if 0 < len(words) <= 40 else None
    if name == "scriptlevel":
        return value if re.fullmatch(r"[+-]?[0-3]", value) else None
    return None
