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
import re
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from .. import hooks
from ..errors import GLMError, ProtocolError, error_for_status
from ..results.map_results import ItemResult, MapResults
from ..results.reply import Reply
from ..text import short_line
from ..wire.protocol import (
    InvalidChunk,
    build_request,
    completion_events,
    normalize_messages,
    parse_error_body,
)
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
# What an id from the service may be (batch and file ids: `batch_…`, `file-…`, `1712…`), and a
# status (a lower-case word): anything else is refused before it reaches a URL or a screen.
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}")
_STATUS = re.compile(r"[a-z][a-z_]{0,39}")


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
    """Plain JSON/file requests to the API root with the client's key (no streaming, no retries),
    with the client's caps; ids from the service are checked before they go into a URL."""

    def __init__(self, client: BaseClient) -> None:
        self.client = client

    def request(self, method: str, path: str, **kw: Any) -> rest.RestResponse:
        response = rest.send(self.client, method, path, **kw)
        if response.status_code == 404 and path.split("/")[1] in ("batches", "files") and _no_api(response):
            raise BatchUnavailableError(
                f"{self.client.base_url} has no Batch API (HTTP 404 on /{path.split('/')[1]}): "
                f"use client.map(...) here, or the endpoint that offers batches ({_MAINLAND})."
            )
        return rest.raise_for_status(response)

    def json(self, method: str, path: str, **kw: Any) -> dict[str, Any]:
        return rest.json_object(self.request(method, path, **kw), f"{method} {path.split('?')[0]}")

    def batch(self, method: str, path: str, **kw: Any) -> dict[str, Any]:
        """A batch object from the service, checked (`_checked_batch`)."""
        return _checked_batch(self.json(method, path, **kw))


def _no_api(response: rest.RestResponse) -> bool:
    """A 404 for the route itself, not for a batch or file id that does not exist."""
    code, message = parse_error_body(response.content)
    return code in (None, "1222") and "not found" not in (message or "").lower()


def checked_id(value: Any, what: str = "id") -> str:
    """An id from the service, fit for a URL path segment; `ProtocolError` in one line if not."""
    if not isinstance(value, str) or not _ID.fullmatch(value):
        raise ProtocolError(f"The service sent a {what} that is not an id: {short_line(repr(value), 80)}.")
    return value


def _segment(value: str) -> str:
    return quote(value, safe="")


def _checked_batch(data: dict[str, Any]) -> dict[str, Any]:
    """A batch object with what we use checked: its id and file ids are ids, its status a word,
    its counts whole numbers (anything else is dropped, or refused in one line)."""
    checked = dict(data)
    checked["id"] = checked_id(data.get("id"), "batch id")
    status = data.get("status")
    if not isinstance(status, str) or not _STATUS.fullmatch(status):
        raise ProtocolError(
            f"Batch {checked['id']} has a status that is not one: {short_line(repr(status), 60)}."
        )
    for name in ("input_file_id", "output_file_id", "error_file_id"):
        if data.get(name) is not None:
            checked[name] = checked_id(data[name], name.replace("_", " "))
    counts = data.get("request_counts")
    checked["request_counts"] = {
        name: value
        for name, value in (counts.items() if isinstance(counts, dict) else ())
        if name in ("total", "completed", "failed") and type(value) is int and 0 <= value <= 10**9
    }
    errors = data.get("errors")
    messages = errors.get("data") if isinstance(errors, dict) else None
    checked["errors"] = {
        "data": [
            {"message": short_line(str(e.get("message")), 200)}
            for e in (messages if isinstance(messages, list) else [])
            if isinstance(e, dict) and e.get("message") is not None
        ][:5]
    }
    return checked


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
                "input_file_id": checked_id(uploaded.get("id"), "file id"),
                "endpoint": "/v4/chat/completions",
                "completion_window": "24h",
            }
            if metadata:
                request["metadata"] = metadata
            parts.append(http.batch("POST", "/batches", json=request))
        return cls(client, parts, inputs=inputs, schema=spec)

    @classmethod
    def get(cls, batch_id: str, client: BaseClient | None = None, *, schema: Any = None) -> Batch:
        """An existing batch by id (`a+b` for a split job; a client from the environment by default)."""
        if client is None:
            client = BaseClient(base_url=resolve_base_url(None))
        http = _Http(client)
        ids = batch_id.split("+") if isinstance(batch_id, str) else [batch_id]
        if not all(isinstance(part, str) and _ID.fullmatch(part) for part in ids):
            raise ValueError(
                f"{short_line(repr(batch_id), 80)} is not a batch id (one, or several joined by +)"
            )
        parts = [http.batch("GET", f"/batches/{_segment(part)}") for part in ids]
        return cls(client, parts, schema=as_schema(schema) if schema is not None else None)

    @classmethod
    def list(cls, client: BaseClient) -> list[Batch]:
        """The batches the service lists for this key, newest first (one `Batch` each)."""
        data = _Http(client).json("GET", "/batches").get("data")
        found = []
        for item in data if isinstance(data, list) else []:
            try:
                found.append(cls(client, [_checked_batch(item if isinstance(item, dict) else {})]))
            except ProtocolError:
                continue  # an entry that is not a batch: passed over
        return found

    # -- status -------------------------------------------------------------------------------

    @property
    def id(self) -> str:
        return "+".join(part["id"] for part in self.parts)

    @property
    def status(self) -> str:
        """The part furthest from done says it: a running part before an ended one."""
        statuses: builtins.list[str] = [part["status"] for part in self.parts]
        running = [status for status in statuses if status not in TERMINAL_STATUSES]
        if running:
            return running[0]
        bad = [status for status in statuses if status != "completed"]
        return bad[0] if bad else "completed"

    @property
    def request_counts(self) -> dict[str, int]:
        totals = {"total": 0, "completed": 0, "failed": 0}
        for part in self.parts:
            counts = part["request_counts"]
            for name in totals:
                totals[name] += counts.get(name, 0)
        return totals

    @property
    def done(self) -> bool:
        """Every part reached an end state (completed, failed, expired, cancelled)."""
        return all(part.get("status") in TERMINAL_STATUSES for part in self.parts)

    def refresh(self) -> Batch:
        """Fetch the current status and counts."""
        http = _Http(self.client)
        self.parts = [http.batch("GET", f"/batches/{_segment(part['id'])}") for part in self.parts]
        return self

    def cancel(self) -> Batch:
        """Ask the service to cancel; lines already answered stay in the results."""
        http = _Http(self.client)
        self.parts = [
            part
            if part.get("status") in TERMINAL_STATUSES
            else http.batch("POST", f"/batches/{_segment(part['id'])}/cancel")
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
        return builtins.list(rest.json_lines(self.client, f"/files/{_segment(checked_id(file_id))}/content"))

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
            errors = [e for part in self.parts for e in part["errors"]["data"]]
            why = f": {errors[0]['message']}" if errors else ""
            results.message = f"Batch {self.id} {status}{why}; {results.done} result(s) came back."
        return results

    def _fill(self, item: ItemResult, line: dict[str, Any]) -> None:
        """One result line into `item`: its answer, or its error (a line of the wrong shape is
        a `ProtocolError` for that item, never an exception out of `results()`)."""
        item.attempts = 1
        response = line.get("response")
        response = response if isinstance(response, dict) else {}
        status = response.get("status_code")
        status = status if type(status) is int and 100 <= status <= 599 else 0
        body = response.get("body")
        body = body if isinstance(body, dict) else {}
        if status == 200 and body.get("choices"):
            try:
                reply = Reply(model=body.get("model") if isinstance(body.get("model"), str) else None)
                for event in completion_events(body):
                    reply.apply(event)
                reply.finish()
            except (GLMError, InvalidChunk, ValueError, TypeError, KeyError, AttributeError, RecursionError):
                item.error = ProtocolError(f"The batch's answer for {item.label} is not a chat completion.")
                return
            item.reply = reply
            if self.schema is not None:
                try:
                    item.value = reply.value = self.schema.parse(reply)
                except SchemaError as exc:
                    item.error = exc
            return
        error = line.get("error") or body.get("error")
        error = error if isinstance(error, dict) else {}
        code = str(error.get("code")) if error.get("code") is not None else None
        message = error.get("message")
        item.error = error_for_status(status or 500, code, message if isinstance(message, str) else None)

    def _ipython_display_(self) -> None:
        # In a Jupyter kernel: a live progress bar (the notebook layer's); elsewhere the repr.
        show = hooks.displays.find(type(self))
        if show is None or not show(self):
            print(repr(self))

    def __repr__(self) -> str:
        counts = self.request_counts
        failed = f" · {counts['failed']} failed" if counts["failed"] else ""
        return f"<Batch {self.id}: {self.status} · {counts['completed']}/{counts['total']} done{failed}>"
