"""What `map` and `batch` accept, turned into one message list per input.

A list of prompts or message lists; or a template and data — a list of dicts, a list of values
(`{item}`), a pandas Series (`{item}` or `{<series name>}`) or a DataFrame (`{column}`) — with
the brace rules of the `%%glm` magic (`{name}` / `{name.attr}` filled in, `{{name}}` literal,
anything else sent as written). pandas is recognised by type name, never imported.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ..wire.protocol import normalize_messages

__all__ = ["expand_inputs"]


def _is_pandas(obj: Any, kind: str) -> bool:
    return type(obj).__module__.startswith("pandas") and type(obj).__name__ == kind


def _fill(template: str, namespace: Mapping[str, Any]) -> str:
    from .interpolate import interpolate  # no IPython in that module

    return interpolate(template, namespace)


def expand_inputs(prompts: Any, data: Any = None) -> list[tuple[Any, list[dict[str, Any]]]]:
    """(label, messages) per input: from prompts / message lists, or a template and data."""
    if data is None:
        if isinstance(prompts, str):
            raise TypeError(
                "map needs many prompts: a list, or a template and data (a list, Series or DataFrame)"
            )
        if _is_pandas(prompts, "Series"):
            return [(label, normalize_messages(str(p))) for label, p in prompts.items()]
        return [(i, normalize_messages(p if isinstance(p, str) else list(p))) for i, p in enumerate(prompts)]
    if not isinstance(prompts, str):
        raise TypeError("with data=, the first argument is a template string such as 'Summarise: {text}'")
    rows: Iterable[tuple[Any, dict[str, Any]]]
    if _is_pandas(data, "DataFrame"):
        records = data.to_dict("records")
        rows = [
            (label, {str(k): v for k, v in row.items()})
            for label, row in zip(data.index, records, strict=True)
        ]
    elif _is_pandas(data, "Series"):
        name = data.name if isinstance(data.name, str) else None
        rows = [(label, {"item": v, **({name: v} if name else {})}) for label, v in data.items()]
    else:
        rows = [(i, dict(v) if isinstance(v, Mapping) else {"item": v}) for i, v in enumerate(data)]
    rows = list(rows)
    out = [(label, normalize_messages(_fill(prompts, row))) for label, row in rows]
    if len(out) > 1 and len({m[0]["content"] for _, m in out}) == 1:
        keys = ", ".join(sorted({f"{{{k}}}" for _, row in rows[:1] for k in row}))
        raise ValueError(
            f"the template {prompts!r} has no {{field}} to fill: every prompt would be the same "
            f"(the data offers {keys})"
        )
    return out
