"""Z.ai's Batch API: many prompts as one half-price job that finishes within 24 h.

```python
job = client.batch("Summarise: {text}", df, model="glm-4.6")   # uploads JSONL, creates the batch
job                                      # status and request counts
results = job.wait()                     # a MapResults, like client.map's
job = Batch.get("batch-…", client)       # later, even from a new kernel
```

The documented flow (mainland docs, `open.bigmodel.cn/api/paas/v4`): upload a `.jsonl` file of
`{"custom_id", "method": "POST", "url": "/v4/chat/completions", "body"}` lines with purpose
`batch` to `/files`; `POST /batches` with its `input_file_id`; poll `GET /batches/{id}`
(validating, in_progress, finalizing, completed, failed, expired, cancelling, cancelled;
`request_counts {total, completed, failed}`); download `output_file_id` / `error_file_id` from
`/files/{id}/content` and map lines back by `custom_id` (`row-N` = the N-th input). The
international reference lists no `/batches`: a 404 there raises `BatchUnavailableError`.
"""

from __future__ import annotations

import builtins
import json
import time
from dataclasses import dataclass
from typing import Any

import httpx

from .. import hooks
from ..errors import GLMError, error_for_status
from ..results.map_results import ItemResult, MapResults
from ..results.reply import Reply
from ..wire.protocol import build_request, completion_events, normalize_messages, parse_error_body
from . import rest
from .base import BaseClient
from .budget import Budget
from .config import resolve_base_url
from .inputs import expand_inputs
from .progress import Progress, ProgressState, default_progress
from .structured import Schema, SchemaError, as_schema

__all__ = ["Batch", "BatchUnavailableError", "MAX_REQUESTS", "MAX_BYTES", "TERMINAL_STATUSES"]

#: Limits of one batch file (Z.ai docs); larger jobs are split into several batches.

MAX_REQUESTS = 50_000
MAX_BYTES = 100 * 1024 * 1024
TERMINAL_STATUSES = frozenset({"completed", "failed", "expired", "cancelled"})
_MAINLAND = "https://open.bigmodel.cn/api/paas/v4"


class BatchUnavailableError(GLMError):
    """The base URL offers no Batch API (404 on `/files` or `/batches`)."""


@dataclass(frozen=True)
class _Input:
    custom_id: str
    label: Any
    messages: list[dict[str, Any]]


def _custom_id(index: int) -> str:
    return f"row-{index}"


def _split(lines: list[bytes], max_requests: int, max_bytes: int) -> list[list[bytes]]:
    """Consecutive groups of lines within both limits (a single line over `max_bytes` is refused)."""
    groups: list[list[bytes]] = [[]]
    size = 0
    for line in lines:
        if len(line) > max_bytes:
            raise ValueError(
                f"one request is {len(line) / 1e6:.1f} MB: a batch file takes at most {max_bytes / 1e6:.0f} MB"
            )
        if groups[-1] and (len(groups[-1]) >= max_requests or size + len(line) > max_bytes):
            groups.append([])
            size = 0
        groups[-1].append(line)
        size += len(line)
    return groups


def _index(custom_id: str) -> int | None:
    prefix, _, number = custom_id.rpartition("-")
    return int(number) if prefix == "row" and number.isdigit() else None


class _Http:
    """Plain JSON/file requests to the API root with the client's key (no streaming, no retries)."""

    def __init__(self, client: BaseClient) -> None:
        self.client = client

    def request(self, method: str, path: str, **kw: Any) -> httpx.Response:
        response = rest.send(self.client, method, path, **kw)
        if response.status_code == 404 and path.split("/")[1] in ("batches", "files") and _no_api(response):
            raise BatchUnavailableError(
                f"{self.client.base_url} has no Batch API (HTTP 404 on /{path.split('/')[1]}): "
                f"use client.map(...) here, or the endpoint that offers batches ({_MAINLAND})."
            )
        return rest.raise_for_status(response)

    def json(self, method: str, path: str, **kw: Any) -> dict[str, Any]:
        answer: dict[str, Any] = self.request(method, path, **kw).json()
        return answer


def _no_api(response: httpx.Response) -> bool:
    """A 404 for the route itself, not for a batch or file id that does not exist."""
    code, message = parse_error_body(response.content)
    return code in (None, "1222") and "not found" not in (message or "").lower()


def _json_line(text: str) -> dict[str, Any] | None:
    """One JSONL line as a dict; None for blank or broken lines (a failed input file has them)."""
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


class Batch:
    """A batch job on the service: `refresh()`, `wait()`, `results()`, `cancel()`.

    More inputs than one batch takes (50,000 requests or 100 MB) are split into several batches
    (`parts`); the job then reads as one: its `id` joins theirs with `+`, its counts are summed.
    `status` and `request_counts` are as of the last refresh. Results come back as a
    `MapResults` in input order (`custom_id` `row-N`), the same object `client.map` returns.
    """

    def __init__(
        self,
        client: BaseClient,
        parts: list[dict[str, Any]],
        *,
        inputs: list[_Input] | None = None,
        schema: Schema | None = None,
    ) -> None:
        self.client = client
        self.parts = parts
        self._inputs = inputs
        self.schema = schema
        #: Seconds between status requests of the notebook's live bar.
        self.poll_interval = 5.0

    # -- creating and finding ----------------------------------------------------------------

    @classmethod
    def create(
        cls,
        client: BaseClient,
        prompts: Any,
        data: Any = None,
        *,
        model: str | None = None,
        schema: Any = None,
        metadata: dict[str, str] | None = None,
        max_requests: int = MAX_REQUESTS,
        max_bytes: int = MAX_BYTES,
        max_cost: float | None = None,
        **params: Any,
    ) -> Batch:
        """Upload one JSONL request per input and create the batch (several past the limits).
        `max_cost=` (USD, at the batch price) refuses a job estimated above it before uploading."""
        spec = as_schema(schema) if schema is not None else None
        model = client.resolve_model(model)
        system = params.pop("system", None)
        if spec is not None:
            params["response_format"] = {"type": "json_object"}
        inputs: list[_Input] = []
        lines: list[bytes] = []
        for index, (label, messages) in enumerate(expand_inputs(prompts, data)):
            if spec is not None:
                listed, asked = spec.request(messages, {"system": system})
                messages = normalize_messages(listed, asked["system"])
            else:
                messages = normalize_messages(messages, system)
            body = build_request(messages, model=model, stream=False, **dict(params))
            body.pop("stream", None)
            item = _Input(_custom_id(index), label, messages)
            inputs.append(item)
            line = {
                "custom_id": item.custom_id,
                "method": "POST",
                "url": "/v4/chat/completions",
                "body": body,
            }
            lines.append(json.dumps(line, ensure_ascii=False).encode() + b"\n")
        if not lines:
            raise ValueError("a batch needs at least one input")
        if max_cost is not None:
            budget = Budget(max_cost, model, max_tokens=params.get("max_tokens"), batch=True)
            budget.check([item.messages for item in inputs])
        http = _Http(client)
        parts = []
        for chunk in _split(lines, max_requests, max_bytes):
            uploaded = http.json(
                "POST",
                "/files",
                files={"file": ("batch.jsonl", b"".join(chunk), "application/jsonl")},
                data={"purpose": "batch"},
            )
            request: dict[str, Any] = {
                "input_file_id": uploaded["id"],
                "endpoint": "/v4/chat/completions",
                "completion_window": "24h",
            }
            if metadata:
                request["metadata"] = metadata
            parts.append(http.json("POST", "/batches", json=request))
        return cls(client, parts, inputs=inputs, schema=spec)

    @classmethod
    def get(cls, batch_id: str, client: BaseClient | None = None, *, schema: Any = None) -> Batch:
        """An existing batch by id (`a+b` for a split job; a client from the environment by default)."""
        if client is None:
            client = BaseClient(base_url=resolve_base_url(None))
        http = _Http(client)
        parts = [http.json("GET", f"/batches/{part}") for part in batch_id.split("+")]
        return cls(client, parts, schema=as_schema(schema) if schema is not None else None)

    @classmethod
    def list(cls, client: BaseClient) -> list[Batch]:
        """The batches the service lists for this key, newest first (one `Batch` each)."""
        data = _Http(client).json("GET", "/batches")
        return [cls(client, [item]) for item in data.get("data") or []]

    # -- status -------------------------------------------------------------------------------

    @property
    def id(self) -> str:
        return "+".join(str(part.get("id")) for part in self.parts)

    @property
    def status(self) -> str:
        """The part furthest from done says it: a running part before an ended one."""
        statuses = [str(part.get("status")) for part in self.parts]
        running = [status for status in statuses if status not in TERMINAL_STATUSES]
        if running:
            return running[0]
        bad = [status for status in statuses if status != "completed"]
        return bad[0] if bad else "completed"

    @property
    def request_counts(self) -> dict[str, int]:
        totals = {"total": 0, "completed": 0, "failed": 0}
        for part in self.parts:
            counts = part.get("request_counts") or {}
            for name in totals:
                totals[name] += int(counts.get(name) or 0)
        return totals

    @property
    def done(self) -> bool:
        """Every part reached an end state (completed, failed, expired, cancelled)."""
        return all(part.get("status") in TERMINAL_STATUSES for part in self.parts)

    def refresh(self) -> Batch:
        """Fetch the current status and counts."""
        http = _Http(self.client)
        self.parts = [http.json("GET", f"/batches/{part['id']}") for part in self.parts]
        return self

    def cancel(self) -> Batch:
        """Ask the service to cancel; lines already answered stay in the results."""
        http = _Http(self.client)
        self.parts = [
            part
            if part.get("status") in TERMINAL_STATUSES
            else http.json("POST", f"/batches/{part['id']}/cancel")
            for part in self.parts
        ]
        return self

    def state(self) -> ProgressState:
        counts = self.request_counts
        return ProgressState(
            total=counts["total"], done=counts["completed"], failed=counts["failed"], status=self.status
        )

    def wait(
        self, *, poll: float = 5.0, timeout: float | None = None, progress: bool | Progress | None = True
    ) -> MapResults:
        """Poll until the batch ends, then return `results()`; Ctrl-C stops waiting (not the batch)."""
        show = default_progress("batch") if progress is True else (progress or None)
        deadline = None if timeout is None else time.monotonic() + timeout
        try:
            while not self.refresh().done:
                if show is not None:
                    show.update(self.state())
                if deadline is not None and time.monotonic() >= deadline:
                    raise TimeoutError(f"batch {self.id} is still {self.status} after {timeout} s")
                time.sleep(poll)
        finally:
            if show is not None:
                show.close(self.state())
        return self.results()

    # -- results ------------------------------------------------------------------------------

    def _lines(self, file_id: str | None) -> builtins.list[dict[str, Any]]:
        if not file_id:
            return []
        text = _Http(self.client).request("GET", f"/files/{file_id}/content").text
        return [line for line in map(_json_line, text.splitlines()) if line is not None]

    def _known_inputs(self) -> builtins.list[_Input]:
        if self._inputs is not None:
            return self._inputs
        inputs = []
        for part in self.parts:
            for line in self._lines(part.get("input_file_id")):
                custom_id = str(line.get("custom_id"))
                index = _index(custom_id)
                messages = (line.get("body") or {}).get("messages") or []
                inputs.append(_Input(custom_id, index if index is not None else custom_id, messages))
        self._inputs = inputs
        return inputs

    def results(self) -> MapResults:
        """What the batch answered so far, in input order; lines without an answer are `not run`."""
        inputs = self._known_inputs()
        items = {i.custom_id: ItemResult(n, i.label, i.messages, i.custom_id) for n, i in enumerate(inputs)}
        for part in self.parts:
            for line in self._lines(part.get("output_file_id")) + self._lines(part.get("error_file_id")):
                item = items.get(str(line.get("custom_id")))
                if item is not None:
                    self._fill(item, line)
        results = MapResults(list(items.values()), schema=self.schema, batch=True)
        status = self.status
        if status in ("failed", "expired", "cancelled"):
            results.stopped = status
            errors = [e for part in self.parts for e in ((part.get("errors") or {}).get("data") or [])]
            why = f": {errors[0].get('message')}" if errors else ""
            results.message = f"Batch {self.id} {status}{why}; {results.done} result(s) came back."
        return results

    def _fill(self, item: ItemResult, line: dict[str, Any]) -> None:
        response = line.get("response") or {}
        status = int(response.get("status_code") or 0)
        body = response.get("body") or {}
        item.attempts = 1
        if status == 200 and isinstance(body, dict) and body.get("choices"):
            reply = Reply(model=body.get("model"))
            for event in completion_events(body):
                reply.apply(event)
            reply.finish()
            item.reply = reply
            if self.schema is not None:
                try:
                    item.value = reply.value = self.schema.parse(reply)
                except SchemaError as exc:
                    item.error = exc
            return
        error = line.get("error") or (body.get("error") if isinstance(body, dict) else None) or {}
        code = str(error.get("code")) if error.get("code") is not None else None
        item.error = error_for_status(status or 500, code, error.get("message"))

    def _ipython_display_(self) -> None:
        # In a Jupyter kernel: a live progress bar (the notebook layer's); elsewhere the repr.
        show = hooks.displays.find(type(self))
        if show is None or not show(self):
            print(repr(self))

    def __repr__(self) -> str:
        counts = self.request_counts
        failed = f" · {counts['failed']} failed" if counts["failed"] else ""
        return f"<Batch {self.id}: {self.status} · {counts['completed']}/{counts['total']} done{failed}>"
