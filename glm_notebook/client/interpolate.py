"""`{name}` interpolation of a `%%glm` prompt from the notebook's variables.

The rules, chosen so that code, JSON and templates pasted into a prompt survive untouched:

- `{name}` or `{name.attr.attr}`, where `name` is a variable of the notebook, becomes
  `summarize(value)` (attributes looked up with `getattr`; nothing is called or evaluated):
  `str(value)` capped, a DataFrame's shape, dtypes and head/tail rows, or the object's own
  `_repr_llm_()` (see `glm_notebook.client.summaries`). `{name!full}` sends all of it (capped higher).
- History: `{In[3]}` / `{Out[3]}` are cell 3's code / result, `{_}` the last result, `{Err}` /
  `{Err[7]}` the last (cell 7's) exception as plain text (see `notebook.context`). Indexing is
  allowed on these names only, by a number; a missing entry is an error naming it.
- With `images=True`, a value that is an image (a matplotlib Figure, PIL Image, NumPy image
  array, IPython Image, PNG/JPEG bytes or a Path to one) becomes an image content part at its
  place: `Interpolated.parts` then holds text and image parts in order, and `text` shows each
  image as a placeholder such as `[image 640×480 PNG]`.
- `{{name}}` (the same form, doubled) becomes the literal text `{name}`.
- TeX math is left alone: inside `$…$`, `$$…$$`, `\\(…\\)`, `\\[…\\]` and `\\begin{env}…\\end{env}`
  nothing is filled in and nothing is reported (`$\\sum_{i=1}^{n} i$` keeps its `{n}`). `$…$` is
  math by Pandoc's rule, so "$5 and $10" stays money.
- Expressions are never evaluated: `{len(x)}`, `{df.describe()}`, `{rows[i]}` are sent as written,
  and when their first name is defined (or a builtin) `Interpolated.expressions` reports them, for
  one quiet note saying so.
- Everything else passes through as written: `{ name }`, `{1}`, `{x + 1}`, `{f(x)}`, JSON such as
  `{"a": {"b": 1}}`, `{{ jinja }}`, f-string bodies, and `{name}` when `name` is not defined.
- A defined `name` whose attribute is missing (`{reply.txt}`) is an error naming it: that is
  almost always a typo, and sending the prompt without the value would waste a request.
- An undefined `{name}` that reads like an intended variable is sent as written and reported in
  `Interpolated.undefined`, so the magic can say so in one quiet line. Not reported: fields in
  code (a Markdown code span or fenced block, a Python f-string or `.format` template on one
  line) and parts of other template syntaxes (`${x}`, `#{x}`, `%{x}`, URL paths `/users/{id}`).

The chat widget applies the same rules to what is sent from it. `%%glm --no-interpolate`
(`chat(interpolate=False)`) turns all of this off. `mask_secret` is separate: it hides the API key
wherever it would appear in a prompt (`{os.environ}` holds it, for one).
"""

from __future__ import annotations

import builtins
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..text import short_line
from .config import KEY_MASK, mask_secret
from .content import ImageError, ImagePart, image_part, is_image
from .summaries import summarize

__all__ = [
    "interpolate",
    "interpolate_prompt",
    "Interpolated",
    "InterpolationError",
    "mask_secret",
    "message_content",
    "KEY_MASK",
]

#: What is sent in place of the API key when a prompt holds it.

_DOTTED = r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*"
_SPEC = _DOTTED + r"(?:\[-?\d+\])?(?:!full)?"
_FIELD = re.compile(r"\{\{(" + _SPEC + r")\}\}|\{(" + _SPEC + r")\}")
_BUILTINS = frozenset(dir(builtins))
_PARTS = re.compile(r"(" + _DOTTED + r")(?:\[(-?\d+)\])?(!full)?\Z")
#: The names that `{name[N]}` may index: the shell's history and the error log.
INDEXABLE = frozenset({"In", "Out", "Err", "_ih", "_oh"})
_HISTORY_GAPS = {
    "In": "there is no cell {cell} yet",
    "_ih": "there is no cell {cell} yet",
    "Out": "cell {cell} left no result in Out",
    "_oh": "cell {cell} left no result in Out",
}
# Markdown code: fenced blocks (to their closing fence or the end) and code spans.
# Inside a Python f-string or a `str.format` template on the same line.
_F_STRING_OPEN = re.compile(r"(?<![\w])[rR]?[fF][rR]?([\"'])[^\"'\n]*\Z")
_FORMAT_CALL = re.compile(r"[^\n]*?[\"']\s*\.format(?:_map)?\(")
_CODE = re.compile(
    r"^ {0,3}(`{3,}|~{3,})[^\n]*\n.*?(?:^ {0,3}\1[^\n]*$|\Z)|(`+)(?!`).+?(?<!`)\2(?!`)", re.M | re.S
)
# TeX math, as Markdown renderers find it: `$$…$$`, `\[…\]`, `\(…\)`, `\begin{env}…\end{env}`,
# and `$…$` by Pandoc's rule (no space inside either dollar, no digit right after the closing
# one), within one paragraph: "$5 and $10" is money, not math.
_MATH = re.compile(
    r"\$\$.+?\$\$|\\\[.+?\\\]|\\\(.+?\\\)|\\begin\{([A-Za-z]+\*?)\}.*?\\end\{\1\}"
    r"|(?<![\\$])\$(?=[^\s$])(?:(?!\n[ \t]*\n)[^$\\]|\\.)+?(?<=[^\s\\])\$(?!\d)",
    re.S,
)
# `{len(x)}`, `{df.describe()}`, `{rows[i]}`: an expression, which is never evaluated.
_EXPRESSION = re.compile(r"\{(" + _DOTTED + r"(?:\([^{}()\n]*\)|\[[^{}\[\]\n]*\])(?:[.(\[][^{}\n]*)?)\}")


class InterpolationError(ValueError):
    """A `{name.attr}` in the prompt names a variable that has no such attribute."""


@dataclass(frozen=True)
class Interpolated:
    """A prompt after interpolation, and the `{name}` fields left as written because `name` is
    not defined (those that look like intended variables; see the module docstring)."""

    text: str
    undefined: tuple[str, ...] = ()
    parts: tuple[dict[str, Any], ...] = ()
    """Text and image content parts in order, when the prompt holds images; else empty."""
    image_notes: tuple[str, ...] = ()
    expressions: tuple[str, ...] = ()
    """`{len(x)}`-like fields of defined names, sent as written: nothing is evaluated."""

    @property
    def notes(self) -> list[str]:
        """Quiet lines about fields sent as written (undefined names, expressions), or nothing."""
        notes = []
        if self.undefined:
            fields = ", ".join(f"{{{field}}}" for field in self.undefined)
            verb = "is" if len(self.undefined) == 1 else "are"
            first = self.undefined[0]
            notes.append(
                f"note: {fields} {verb} not defined; sent as written (write {{{{{first}}}}} to send braces on purpose)"
            )
        if self.expressions:
            fields = ", ".join(f"{{{field}}}" for field in self.expressions)
            notes.append(
                f"note: {fields} sent as written: only {{name}} and {{name.attr}} are filled in, nothing "
                "is evaluated (assign the value to a name first)"
            )
        return notes + list(self.image_notes)


def _looks_intended(text: str, match: re.Match[str], code: list[tuple[int, int]]) -> bool:
    """True when an undefined `{name}` reads like a variable meant for interpolation."""
    start, end = match.span()
    if any(low <= start < high for low, high in code):
        return False
    before = text[start - 1] if start else ""
    after = text[end] if end < len(text) else ""
    if before in ("$", "#", "%", "/") or after == "/":
        return False
    line_start = text.rfind("\n", 0, start) + 1
    return not (_F_STRING_OPEN.search(text, line_start, start) or _FORMAT_CALL.match(text, end))


_MARK = "\x00image\x00"


def interpolate_prompt(
    text: str, namespace: Mapping[str, Any], *, images: bool = False, opt_out: str = "%%glm --no-interpolate"
) -> Interpolated:
    """Replace `{name}` / `{name.attr}` with values from `namespace`; see the module docstring.
    `opt_out` is how errors say to turn interpolation off where the prompt came from."""
    code = [m.span() for m in _CODE.finditer(text)] if "`" in text or "~" in text else []
    math = _math_spans(text, code) if "$" in text or "\\" in text else []
    undefined: list[str] = []
    found: list[Any] = []

    def replace(match: re.Match[str]) -> str:
        escaped, spec = match.group(1), match.group(2)
        if math and _inside(match.start(), math):
            return match.group(0)  # `$\sum_{i=1}^{n} i$`: TeX's braces, not fields
        if escaped is not None:
            return "{" + escaped + "}"
        field, index, full = _PARTS.match(spec).groups()  # type: ignore[union-attr]
        root, *attributes = field.split(".")
        if index is not None and (root not in INDEXABLE or attributes):
            return match.group(0)  # `{n[0]}`: not ours, sent as written
        if root not in namespace:
            if field not in undefined and _looks_intended(text, match, code):
                undefined.append(field)
            return match.group(0)
        value = namespace[root]
        try:
            if index is not None:
                value = value[int(index)]
            owner, attribute = value, ""
            for attribute in attributes:
                owner = value
                value = getattr(value, attribute)
        except AttributeError:
            raise InterpolationError(
                f"{{{spec}}}: {type(owner).__name__!r} object has no attribute {attribute!r}; "
                f"write {{{{{spec}}}}} for literal braces, or use {opt_out}"
            ) from None
        except (LookupError, TypeError) as exc:
            raise InterpolationError(f"{{{spec}}}: {_gap(root, index, exc)}") from None
        try:
            if images and is_image(value):
                found.append(image_part(value))
                return _MARK
            return summarize(value, full=bool(full), name=field)
        except ImageError as exc:
            raise InterpolationError(f"{{{spec}}}: {exc}") from None
        except LookupError as exc:  # `{Err}` before any error, `{Out[n]}` of a cell without one
            raise InterpolationError(f"{{{spec}}}: {_gap(root, index, exc)}") from None
        except Exception as exc:  # the value's own __str__ or _repr_llm_ failed: notebook code
            raise InterpolationError(
                f"{{{spec}}}: turning the value into text failed ({type(exc).__name__}: "
                f"{short_line(str(exc), 160)})"
            ) from None

    expanded = _FIELD.sub(replace, text)
    expressions = _expressions(text, namespace, code, math)
    if not found:
        return Interpolated(expanded, tuple(undefined), expressions=expressions)
    pieces = expanded.split(_MARK)
    parts: list[dict[str, Any]] = []
    for index, piece in enumerate(pieces):
        if piece.strip():
            parts.append({"type": "text", "text": piece})
        if index < len(found):
            parts.append(found[index])
    shown = "".join(
        piece + (found[i].placeholder if i < len(found) else "") for i, piece in enumerate(pieces)
    )
    notes = tuple(f"note: {part.note}" for part in found if part.note)
    return Interpolated(shown, tuple(undefined), tuple(parts), notes, expressions)


def _math_spans(text: str, code: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Where TeX math is in `text`, outside Markdown code (a `$` in code opens nothing)."""
    if code:
        blanked = list(text)
        for low, high in code:
            blanked[low:high] = " " * (high - low)
        text = "".join(blanked)
    return [m.span() for m in _MATH.finditer(text)]


def _inside(position: int, spans: list[tuple[int, int]]) -> bool:
    return any(low <= position < high for low, high in spans)


def _expressions(
    text: str, namespace: Mapping[str, Any], code: list[tuple[int, int]], math: list[tuple[int, int]]
) -> tuple[str, ...]:
    """`{len(x)}`-like fields outside code and math whose first name is defined (or built in)."""
    if "(" not in text and "[" not in text:
        return ()
    found: list[str] = []
    for match in _EXPRESSION.finditer(text):
        field = match.group(1)
        root = re.match(_DOTTED, field).group(0).split(".")[0]  # type: ignore[union-attr]
        ours = _PARTS.match(field)
        if (ours and root in INDEXABLE) or field in found or _inside(match.start(), math):
            continue  # `{In[3]}` is filled in
        if (root in namespace or root in _BUILTINS) and _looks_intended(text, match, code):
            found.append(field)
    return tuple(found)


def interpolate(text: str, namespace: Mapping[str, Any]) -> str:
    """The text of `interpolate_prompt(text, namespace)`."""
    return interpolate_prompt(text, namespace).text


def message_content(
    text: str, parts: Sequence[dict[str, Any]], extra: Sequence[ImagePart], secret: str | None
) -> tuple[list[dict[str, Any]], list[str]]:
    """A user message's content list: the interpolated `parts` (or `text` alone), empty text left
    out and `secret` masked in each text part, then the `extra` images; and their notes."""
    content = [
        {"type": "text", "text": mask_secret(part["text"], secret, KEY_MASK)[0]}
        if part["type"] == "text"
        else part
        for part in (parts or ({"type": "text", "text": text},))
        if part["type"] != "text" or part["text"].strip()
    ] + list(extra)
    return content, [f"note: {part.note}" for part in extra if part.note]


def _gap(root: str, index: str | None, exc: BaseException) -> str:
    """Why `{root[index]}` has nothing to send, in words."""
    return _HISTORY_GAPS.get(root, "{error}").format(cell=index, error=exc.args[0] if exc.args else exc)
