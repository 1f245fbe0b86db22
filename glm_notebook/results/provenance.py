"""Provenance: what a saved output says about the model answer it shows, and reading it back.

Every output a model wrote (a `%%glm` result, a tool loop, each turn of a chat transcript, a
`map` table) carries `metadata["glm_notebook"]`: model, the parameters sent (never the key, never
the messages), the sha256 of the canonical request, usage, cost, finish reason, start time and
duration, glm_notebook's version and whether it was replayed. `notebook_outputs` reads them back
from a saved notebook for `glm-notebook provenance`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from .._version import __version__
from ..text import plural
from ..wire.events import Usage
from .cost import cost_of, format_cost

__all__ = ["KEY", "provenance", "ProvenanceRow", "notebook_outputs", "provenance_table"]

#: The output-metadata key everything here lives under.
KEY = "glm_notebook"
_SECRET_HINTS = ("key", "authorization", "secret", "password", "token_secret")
_NOT_PARAMS = ("messages", "stream", "model")


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def _iso(seconds: float | None) -> str | None:
    if seconds is None:
        return None
    return datetime.fromtimestamp(seconds, timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def _params(request: Mapping[str, Any]) -> dict[str, Any]:
    return {
        key: value
        for key, value in request.items()
        if key not in _NOT_PARAMS and not any(hint in key.lower() for hint in _SECRET_HINTS)
    }


def provenance(reply: Any) -> dict[str, Any]:
    """The metadata of one answer (a `Reply` or a `ToolReply`): no key, no messages."""
    request = reply.request or {}
    replayed = getattr(reply, "replayed_at", None)
    return {
        **({"replayed": replayed} if replayed else {}),  # when it was recorded
        "version": __version__,
        "model": reply.model,
        "id": reply.id,
        "created": reply.created,
        "started": _iso(getattr(reply, "started_time", None)),
        "duration": _rounded(reply.elapsed),
        "request_sha256": reply.request_sha256,
        "params": _params(request),
        "usage": dataclasses.asdict(reply.usage) if reply.usage is not None else None,
        "cost": cost_of(reply.model, reply.usage, warn=False),
        "finish_reason": reply.finish_reason,
        "status": reply.status,
        "stopped": reply.stopped,
        "error": reply.error,
        "timing": {
            "ttft": _rounded(reply.ttft),
            "elapsed": _rounded(reply.elapsed),
            "reasoning": _rounded(reply.reasoning_seconds),
            "tokens_per_second": _rounded(reply.tokens_per_second),
        },
    }


# -- reading a saved notebook -----------------------------------------------------------------


@dataclass(frozen=True)
class ProvenanceRow:
    """One model answer found in a saved notebook."""

    cell: int
    """The code cell's number (1-based, counting code cells only, as a reader counts them)."""
    kind: str
    """"answer", "chat turn" or "map"."""
    model: str | None
    usage: Usage | None
    cost: float | None
    replayed: bool
    started: str | None


def _usage(value: Any) -> Usage | None:
    if not isinstance(value, Mapping):
        return None
    fields = {f.name for f in dataclasses.fields(Usage)}
    counts = {
        k: v for k, v in value.items() if k in fields and isinstance(v, int) and not isinstance(v, bool)
    }
    return Usage(**counts) if counts else None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _row(cell: int, kind: str, meta: Mapping[str, Any]) -> ProvenanceRow:
    return ProvenanceRow(
        cell=cell,
        kind=kind,
        model=_text(meta.get("model")),
        usage=_usage(meta.get("usage")),
        cost=_number(meta.get("cost")),
        replayed=meta.get("replayed") is True or isinstance(meta.get("replayed"), str),
        started=_text(meta.get("started")),
    )


def notebook_outputs(notebook: Mapping[str, Any]) -> Iterator[ProvenanceRow]:
    """Every model answer a saved notebook (its JSON, as a dict) shows, in order. The file is
    untrusted: anything not shaped as expected is passed over."""
    cells = notebook.get("cells")
    code = 0
    for cell in cells if isinstance(cells, list) else []:
        if not isinstance(cell, Mapping) or cell.get("cell_type") != "code":
            continue
        code += 1
        outputs = cell.get("outputs")
        for output in outputs if isinstance(outputs, list) else []:
            metadata = output.get("metadata") if isinstance(output, Mapping) else None
            meta = metadata.get(KEY) if isinstance(metadata, Mapping) else None
            if not isinstance(meta, Mapping):
                continue
            turns = meta.get("chat")
            if isinstance(turns, list):
                yield from (_row(code, "chat turn", t) for t in turns if isinstance(t, Mapping))
            elif isinstance(meta.get("map"), Mapping):
                yield _row(code, "map", meta)
            elif "model" in meta:
                yield _row(code, "answer", meta)


def provenance_table(rows: list[ProvenanceRow]) -> str:
    """A plain-text table of `rows` and their totals, for the terminal."""
    head = ("cell", "kind", "model", "prompt", "completion", "cost", "replayed")
    lines = [head]
    for row in rows:
        usage = row.usage
        lines.append(
            (
                str(row.cell),
                row.kind,
                row.model or "?",
                str(usage.prompt_tokens) if usage else "",
                str(usage.completion_tokens) if usage else "",
                format_cost(row.cost) if row.cost is not None else "",
                "yes" if row.replayed else "",
            )
        )
    usages = [row.usage for row in rows if row.usage is not None]
    total = sum(usages[1:], usages[0]) if usages else None
    costs = [row.cost for row in rows]
    known = None if any(c is None for c in costs) or not costs else sum(c for c in costs if c is not None)
    lines.append(
        (
            "total",
            plural(len(rows), "output"),
            "",
            str(total.prompt_tokens) if total else "",
            str(total.completion_tokens) if total else "",
            format_cost(known) if known is not None else "unknown" if costs else "",
            str(sum(row.replayed for row in rows)),
        )
    )
    widths = [max(len(line[i]) for line in lines) for i in range(len(head))]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip() for line in lines
    )
