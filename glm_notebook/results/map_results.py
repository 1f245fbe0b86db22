"""The outcome of many requests (`client.map`, `client.batch`): `MapResults` of `ItemResult`s.

In input order; per item the `Reply` (and the validated `value` with `schema=`) or the error.
`.texts`, `.replies`, `.values`, `.errors` are lists; `.usage` is summed; `.to_pandas()` is a
DataFrame with the input's index (pandas is imported only there). No I/O here.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..hooks import Viewable
from ..text import one_line
from ..wire.events import Usage
from .cost import cost_of, format_cost, total_cost
from .reply import Reply

if TYPE_CHECKING:
    from ..client.structured import Schema

__all__ = ["MapResults", "ItemResult", "fields_of"]


@dataclass(eq=False)
class ItemResult:
    """One input's outcome: its `reply` (and `value` with `schema=`) or its `error`."""

    index: int
    label: Any
    """The input's label: the DataFrame/Series index, else the position."""
    messages: list[dict[str, Any]] = field(repr=False)
    key: str = field(repr=False)
    reply: Reply | None = None
    error: BaseException | None = None
    value: Any = None
    attempts: int = 0
    reused: bool = False
    """True when the answer came from an earlier run of the same map (nothing was sent)."""
    _sent_at: float = field(default=0.0, repr=False)

    @property
    def ok(self) -> bool:
        return self.reply is not None and self.error is None

    @property
    def status(self) -> str:
        """`ok`, `failed` or `not run` (cancelled or stopped before it finished)."""
        if self.ok:
            return "ok"
        return "failed" if self.error is not None else "not run"

    @property
    def prompt(self) -> str:
        """The last user message's text."""
        for message in reversed(self.messages):
            content = message.get("content")
            if message.get("role") == "user" and isinstance(content, str):
                return content
        return ""

    @property
    def text(self) -> str | None:
        return self.reply.text if self.ok and self.reply is not None else None


@dataclass(eq=False)
class MapResults(Viewable, Sequence[ItemResult]):
    """The outcome of a map, in input order: one `ItemResult` per input.

    `stopped` says why the run ended early (`"quota"`, `"auth"`, `"cancelled"`, `"interrupted"`)
    and `message` says it in one line; items that never finished have status `not run`.
    """

    items: list[ItemResult]
    schema: Schema | None = field(default=None, repr=False)
    stopped: str | None = None
    message: str | None = None
    retries: int = 0
    """Requests sent again after a rate limit or a transient failure."""
    lowest_concurrency: int | None = None
    elapsed: float = 0.0
    batch: bool = False
    """Answers of a batch job, billed at the batch price."""

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: Any) -> Any:
        return self.items[index]

    @property
    def replies(self) -> list[Reply | None]:
        return [item.reply if item.ok else None for item in self.items]

    @property
    def texts(self) -> list[str | None]:
        """The answers' text; None where an item failed or did not run."""
        return [item.text for item in self.items]

    @property
    def values(self) -> list[Any]:
        """The validated values with `schema=`; None where an item failed."""
        return [item.value if item.ok else None for item in self.items]

    @property
    def errors(self) -> list[BaseException | None]:
        return [item.error for item in self.items]

    @property
    def usage(self) -> Usage:
        """Token usage summed over the answers (reused ones included)."""
        usages = [item.reply.usage for item in self.items if item.ok and item.reply is not None]
        return sum((usage for usage in usages if usage is not None), Usage())

    @property
    def cost(self) -> float | None:
        """What the answers cost in USD (at the batch price for a batch job); None when a
        model's price is unknown."""
        return self.priced()

    def priced(self, *, warn: bool = True) -> float | None:
        """`cost`, saying nothing of an unknown price with `warn=False` (for a view)."""
        return total_cost(
            cost_of(item.reply.model, item.reply.usage, batch=self.batch, warn=warn)
            for item in self.items
            if item.ok and item.reply is not None
        )

    @property
    def done(self) -> int:
        return sum(item.ok for item in self.items)

    @property
    def failed(self) -> int:
        return sum(item.status == "failed" for item in self.items)

    @property
    def not_run(self) -> int:
        return sum(item.status == "not run" for item in self.items)

    @property
    def complete(self) -> bool:
        """Every item has an answer."""
        return self.done == len(self.items)

    def summary(self, *, timing: bool = True) -> str:
        """Counts, tokens and time on one line (`message` says why a run stopped)."""
        parts = [f"{self.done}/{len(self)} done"]
        if self.failed:
            parts.append(f"{self.failed} failed")
        if self.not_run:
            parts.append(f"{self.not_run} not run")
        reused = sum(item.reused for item in self.items)
        if reused:
            parts.append(f"{reused} kept from an earlier run")
        if self.retries:
            parts.append(f"{self.retries} retried")
        usage = self.usage
        if usage.total_tokens:
            parts.append(f"{usage.prompt_tokens:,} + {usage.completion_tokens:,} tokens")
            cost = self.priced(warn=False)
            if cost is not None:
                parts.append(format_cost(cost))
        if timing and self.elapsed:
            parts.append(f"{self.elapsed:.1f} s")
        return " · ".join(parts)

    def to_pandas(self) -> Any:
        """A DataFrame indexed like the input: text, status, error, tokens (+ the schema's fields)."""
        import pandas as pd

        rows = []
        for item in self.items:
            usage = item.reply.usage if item.ok and item.reply is not None else None
            row: dict[str, Any] = {"prompt": item.prompt}
            if self.schema is not None:
                row.update(fields_of(item.value) if item.ok else {})
            row.update(
                text=item.text,
                status=item.status,
                error=one_line(str(item.error)) if item.error is not None else None,
                completion_tokens=usage.completion_tokens if usage else None,
            )
            rows.append(row)
        frame = pd.DataFrame(rows, index=[item.label for item in self.items])
        if self.schema is not None:
            names = list((self.schema.json_schema.get("properties") or {}).keys())
            for name in names:
                if name not in frame.columns:
                    frame[name] = None
        return frame

    def text_view(self, *, timing: bool = False, rows: int = 5) -> str:
        """The summary and the first rows as plain text."""
        lines = [f"<MapResults {self.summary(timing=timing)}>"]
        if self.message:
            lines.append(self.message)
        for item in self.items[:rows]:
            shown = item.text if item.ok else (one_line(str(item.error)) if item.error else "(not run)")
            lines.append(f"  [{item.label!r}] {item.status}: {one_line(shown or '')[:70]}")
        if len(self.items) > rows:
            lines.append(f"  … {len(self.items) - rows} more")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return self.text_view(timing=True)


def fields_of(value: Any) -> dict[str, Any]:
    """A flat `{field: value}` view of a validated value (for table columns)."""
    if value is None:
        return {}
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        return dict(dump())
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return dict(value)
    return {"value": value}
