"""This session's requests and tokens by model (`%glm usage`): every answer the client finished,
added as it finished. Replayed answers are counted apart (they cost nothing). No I/O here."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from ..wire.events import Usage
from .cost import cost_of, format_cost, total_cost

__all__ = ["Ledger", "ModelTotals", "LEDGER"]


@dataclass
class ModelTotals:
    """One model's requests (answers that arrived), replayed answers, and summed usage."""

    requests: int = 0
    replayed: int = 0
    usage: Usage = field(default_factory=Usage)


class Ledger:
    """Totals by model, safe to add to from `map`'s worker thread."""

    def __init__(self) -> None:
        self._by_model: dict[str, ModelTotals] = {}
        self._lock = threading.Lock()

    def add(self, reply: Any) -> None:
        """Count a finished answer (`reply.usage` may be None: counted, no tokens)."""
        model = reply.model or "unknown model"
        with self._lock:
            totals = self._by_model.setdefault(model, ModelTotals())
            if reply.replayed_at:
                totals.replayed += 1
                return
            totals.requests += 1
            if reply.usage is not None:
                totals.usage = totals.usage + reply.usage

    def totals(self) -> dict[str, ModelTotals]:
        with self._lock:
            return dict(self._by_model)

    def cost(self) -> float | None:
        """USD over every model; None when one has no known price."""
        return total_cost(cost_of(m, t.usage, warn=False) for m, t in self.totals().items())

    def reset(self) -> None:
        with self._lock:
            self._by_model.clear()

    def table(self) -> str:
        """A plain-text table: one row per model, then the total."""
        totals = self.totals()
        if not totals:
            return "No answers yet in this session."
        rows: list[tuple[str, ...]] = [
            ("model", "requests", "prompt", "cached", "completion", "reasoning", "cost")
        ]
        for model, t in sorted(totals.items()):
            requests = f"{t.requests:,}" + (f" (+{t.replayed:,} replayed)" if t.replayed else "")
            rows.append(_row(model, requests, t.usage, cost_of(model, t.usage, warn=False)))
        everything = sum((t.usage for t in totals.values()), Usage())
        requests = f"{sum(t.requests for t in totals.values()):,}"
        rows.append(_row("total", requests, everything, self.cost()))
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
        return "\n".join(
            "  ".join(
                cell.ljust(w) if i == 0 else cell.rjust(w)
                for i, (cell, w) in enumerate(zip(row, widths, strict=True))
            )
            for row in rows
        )


def _row(label: str, requests: str, usage: Usage, cost: float | None) -> tuple[str, ...]:
    counts = (usage.prompt_tokens, usage.cached_tokens, usage.completion_tokens, usage.reasoning_tokens)
    return (label, requests, *(f"{count:,}" for count in counts), format_cost(cost))


#: The session's ledger (every client adds to it).
LEDGER = Ledger()
