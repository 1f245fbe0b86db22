"""`{name}` interpolation of a `%%glm` prompt from the notebook's variables.

The rules, chosen so that code, JSON and templates pasted into a prompt survive untouched:

- `{name}` or `{name.attr.attr}`, where `name` is a variable of the notebook, becomes
  `str(value)` (attributes looked up with `getattr`; nothing is called, indexed or evaluated).
- `{{name}}` (the same form, doubled) becomes the literal text `{name}`.
- Everything else passes through as written: `{ name }`, `{1}`, `{x + 1}`, `{f(x)}`, JSON such as
  `{"a": {"b": 1}}`, `{{ jinja }}`, f-string bodies, and `{name}` when `name` is not defined.
- A defined `name` whose attribute is missing (`{reply.txt}`) is an error naming it: that is
  almost always a typo, and sending the prompt without the value would waste a request.

`%%glm --no-interpolate` turns all of this off.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

__all__ = ["interpolate", "InterpolationError"]

_DOTTED = r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*"
_FIELD = re.compile(r"\{\{(" + _DOTTED + r")\}\}|\{(" + _DOTTED + r")\}")


class InterpolationError(ValueError):
    """A `{name.attr}` in the prompt names a variable that has no such attribute."""


def interpolate(text: str, namespace: Mapping[str, Any]) -> str:
    """Replace `{name}` / `{name.attr}` with values from `namespace`; see the module docstring."""

    def replace(match: re.Match[str]) -> str:
        escaped, field = match.group(1), match.group(2)
        if escaped is not None:
            return "{" + escaped + "}"
        root, *attributes = field.split(".")
        if root not in namespace:
            return match.group(0)
        value = namespace[root]
        for attribute in attributes:
            try:
                value = getattr(value, attribute)
            except AttributeError:
                raise InterpolationError(
                    f"{{{field}}}: {type(value).__name__!r} object has no attribute {attribute!r}; "
                    f"write {{{{{field}}}}} for literal braces, or use %%glm --no-interpolate"
                ) from None
        return str(value)

    return _FIELD.sub(replace, text)
