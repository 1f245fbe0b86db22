"""Many prompts at once: `client.map(template, data)` → `MapResults` in input order.

```python
results = client.map("Classify the sentiment of: {review}", df, concurrency=8)
df["sentiment"] = results.texts
```

Inputs: a list of prompts or message lists, or a template and a list / Series / DataFrame
(`glm_notebook.client.inputs`); the outcome is a `MapResults` (`glm_notebook.results.map_results`).

Requests run concurrently on one asyncio connection pool, at most `concurrency` in flight.
Rate limits (429 / 1302 / 1303 / 1305, 5xx) pause the whole pool — for `Retry-After` when the
service says, else an exponential back-off — lower the concurrency by a quarter, and raise it
by one again per `limit` successes; the request is sent again (at most `max_retries` times).
Quota and key errors (1113, 1304, 1000 …) stop the run at once, keeping what finished. Ctrl-C or `MapRun.cancel()`
stops new requests and closes the open ones. `max_cost=` (USD) refuses a run estimated above it
and sends no request that would take the spending past it (`glm_notebook.client.budget`). Finished answers are kept for the session by item
key (model, messages, parameters), so running the same map again only sends what is missing.
"""

from __future__ import annotations

import asyncio
import copy
import hashlib
import json
import random
import threading
import time
from collections import deque
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import httpx

from ..errors import (
    APIStatusError,
    AuthenticationError,
    GLMError,
    MissingAPIKeyError,
    QuotaError,
    RateLimitError,
)
from ..results.map_results import ItemResult, MapResults
from ..results.reply import Reply
from ..text import one_line
from ..wire.protocol import normalize_messages
from .budget import Budget
from .inputs import expand_inputs
from .progress import Progress, ProgressState, default_progress
from .structured import Schema, SchemaError, as_schema

if TYPE_CHECKING:
    from .base import BaseClient

__all__ = ["MapRun", "forget_results", "DEFAULT_CONCURRENCY"]

DEFAULT_CONCURRENCY = 8
_MAX_PAUSE = 30.0
_TICK = 0.1
# Finished answers of this session by item key: re-running a map sends only what is missing.
_KEPT: dict[str, tuple[Reply, Any]] = {}
_KEPT_LOCK = threading.Lock()


def forget_results() -> None:
    """Forget the answers kept for this session (the next map sends everything again)."""
    with _KEPT_LOCK:
        _KEPT.clear()


def _item_key(
    base_url: str,
    messages: list[dict[str, Any]],
    model: str,
    params: Mapping[str, Any],
    schema: Schema | None,
) -> str:
    blob = json.dumps(
        [base_url, model, messages, params, schema.json_schema if schema else None],
        sort_keys=True,
        default=repr,
        ensure_ascii=False,
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:32]


# -- the run ----------------------------------------------------------------------------------


def _fatal(error: BaseException) -> str | None:
    """The `stopped` reason when this error ends the whole run."""
    if isinstance(error, QuotaError):
        return "quota"
    if isinstance(error, (AuthenticationError, MissingAPIKeyError)):
        return "auth"
    return None


def _pool_wide(error: BaseException) -> bool:
    """Errors that mean the service is busy: back off the whole pool and lower the concurrency."""
    if isinstance(error, RateLimitError):
        return True
    return isinstance(error, APIStatusError) and error.status in (429, 503)


class MapRun:
    """One map over many inputs; `run()` (sync, also inside a running event loop) or `await arun()`.

    `results` fills in while it runs; `cancel()` (any thread) stops it, keeping what finished.
    """

    def __init__(
        self,
        client: BaseClient,
        prompts: Any,
        data: Any = None,
        *,
        concurrency: int = DEFAULT_CONCURRENCY,
        schema: Any = None,
        model: str | None = None,
        max_retries: int = 6,
        retry_backoff: float = 0.5,
        progress: bool | Progress | None = True,
        max_cost: float | None = None,
        give_up_after: float = 60.0,
        **params: Any,
    ) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.client = client
        self.concurrency = concurrency
        self.schema = as_schema(schema) if schema is not None else None
        self.model = client.resolve_model(model)
        self.max_retries = max_retries
        self.retry_backoff = retry_backoff
        #: Seconds in which every answer was a refusal (rate limit, busy, 5xx) before the run
        #: stops (`stopped == "refused"`), keeping what finished.
        self.give_up_after = give_up_after
        self._progress_arg = progress
        request = dict(params)
        system = request.pop("system", None)
        if self.schema is not None:
            request["response_format"] = {"type": "json_object"}
        self._request = request
        items = []
        for index, (label, messages) in enumerate(expand_inputs(prompts, data)):
            if self.schema is not None:
                listed, asked = self.schema.request(messages, {"system": system})
                messages = normalize_messages(listed, asked["system"])
            else:
                messages = normalize_messages(messages, system)
            key = _item_key(client.base_url, messages, self.model, request, self.schema)
            items.append(ItemResult(index, label, messages, key))
        self.results = MapResults(items, schema=self.schema)
        self.budget = (
            None if max_cost is None else Budget(max_cost, self.model, max_tokens=request.get("max_tokens"))
        )
        self._expected: dict[asyncio.Task[Any], float] = {}
        self.limit = concurrency
        self._lowest = concurrency
        self._paused_until = 0.0
        self._last_cut = 0.0
        self._streak = 0
        self._successes = 0
        self._in_flight = 0
        self._tokens = 0
        self._done = self._failed = 0  # kept as the run goes: a progress snapshot costs O(1)
        self._last_success = 0.0
        self._started = 0.0
        self._stop_reason: str | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None

    # -- public -------------------------------------------------------------------------------

    def run(self) -> MapResults:
        """Run to the end on a worker thread's event loop; Ctrl-C cancels and returns what finished."""
        self._check_budget()
        progress = self._make_progress()
        failure: list[BaseException] = []
        ended = threading.Event()

        def main() -> None:
            try:
                asyncio.run(self._arun(None))
            except BaseException as exc:  # handed to the caller's thread
                failure.append(exc)
            finally:
                ended.set()

        # An Event, not Thread.join: a join interrupted by Ctrl-C can leave is_alive() wrong.
        threading.Thread(target=main, name="glm-map", daemon=True).start()
        try:
            while not ended.wait(_TICK):
                if progress is not None:
                    progress.update(self.state())
        except KeyboardInterrupt:
            self.cancel("interrupted")
            ended.wait()
        if progress is not None:
            progress.close(self.state())
        if failure:
            raise failure[0]
        return self.results

    def cancel(self, reason: str = "cancelled") -> None:
        """Stop: no new requests, open ones closed; finished results stay (thread-safe)."""
        if self._stop_reason is None:
            self._stop_reason = reason
        loop, wake = self._loop, self._wake
        if loop is not None and wake is not None:
            try:
                loop.call_soon_threadsafe(wake.set)
            except RuntimeError:
                pass  # the run's loop already ended

    def state(self) -> ProgressState:
        """A snapshot for progress displays."""
        results = self.results
        return ProgressState(
            total=len(results),
            done=self._done,
            failed=self._failed,
            in_flight=self._in_flight,
            tokens=self._tokens,
            elapsed=time.perf_counter() - self._started if self._started else 0.0,
            limit=self.limit,
            retries=results.retries,
        )

    async def arun(self) -> MapResults:
        """Run on the current event loop. Cancelling the awaiting task closes every open request."""
        self._check_budget()
        return await self._arun(self._make_progress())

    async def _arun(self, show: Progress | None) -> MapResults:
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        if self._stop_reason is not None:
            self._wake.set()
        self._started = time.perf_counter()
        http = self.client._new_async_http(
            limits=httpx.Limits(max_connections=self.concurrency, max_keepalive_connections=self.concurrency),
        )
        worker = _pool_client(self.client, http)
        ticker = asyncio.create_task(self._tick(show)) if show is not None else None
        try:
            await self._schedule(worker)
        except asyncio.CancelledError:
            self._stop_reason = self._stop_reason or "interrupted"
            raise
        finally:
            self._finish()
            if ticker is not None:
                ticker.cancel()
            await http.aclose()
            if show is not None:
                show.close(self.state())
        return self.results

    # -- internals ----------------------------------------------------------------------------

    def _check_budget(self) -> None:
        """Refuse (SpendLimitError) a run whose requests still to send are estimated above the cap."""
        if self.budget is None:
            return
        with _KEPT_LOCK:
            sending = [item.messages for item in self.results.items if not item.ok and item.key not in _KEPT]
        self.budget.check(sending)

    def _affordable(self, item: ItemResult) -> bool:
        budget = self.budget
        return budget is None or budget.may_send(item.messages, sum(self._expected.values()))

    def _make_progress(self) -> Progress | None:
        arg = self._progress_arg
        if arg is True:
            return default_progress("map")
        if arg is False or arg is None:
            return None
        return arg

    async def _tick(self, progress: Progress) -> None:
        while True:
            progress.update(self.state())
            await asyncio.sleep(_TICK)

    async def _schedule(self, worker: BaseClient) -> None:
        loop = asyncio.get_running_loop()
        pending: deque[ItemResult] = deque()
        for item in self.results.items:
            if item.ok:
                continue
            item.error = None
            with _KEPT_LOCK:
                kept = _KEPT.get(item.key)
            if kept is not None:
                item.reply, item.value = kept
                item.reused = True
            else:
                pending.append(item)
        self._done, self._failed = self.results.done, 0
        self._last_success = loop.time()
        tasks: dict[asyncio.Task[Any], ItemResult] = {}
        waker = loop.create_task(self._wake.wait())  # type: ignore[union-attr]
        try:
            while (pending or tasks) and self._stop_reason is None:
                now = loop.time()
                while pending and len(tasks) < self.limit and now >= self._paused_until:
                    if not self._affordable(pending[0]):
                        if not tasks:
                            self._over_budget()
                        break
                    item = pending.popleft()
                    item._sent_at = now
                    task = loop.create_task(self._one(worker, item))
                    tasks[task] = item
                    if self.budget is not None:
                        self._expected[task] = self.budget.expected(item.messages)
                if self._stop_reason is not None:
                    break
                self._in_flight = len(tasks)
                timeout = self._paused_until - now if pending and now < self._paused_until else None
                done, _ = await asyncio.wait(
                    {*tasks, waker}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
                )
                for task in done:
                    if task is waker:
                        continue
                    item = tasks.pop(task)
                    self._expected.pop(task, None)
                    self._settle(item, task, pending, loop.time())
                self._in_flight = len(tasks)
        finally:
            waker.cancel()
            for task in tasks:
                task.cancel()
            if tasks:
                await asyncio.gather(*tasks, return_exceptions=True)
            self._in_flight = 0

    async def _one(self, worker: BaseClient, item: ItemResult) -> tuple[Reply, Any]:
        item.attempts += 1
        reply = await worker.achat(item.messages, model=self.model, **self._request)
        if self.schema is None:
            return reply, None
        try:
            return reply, self.schema.parse(reply)
        except SchemaError as error:
            repaired = await worker.achat(
                self.schema.repair_messages(item.messages, reply, error), model=self.model, **self._request
            )
            try:
                return repaired, self.schema.parse(repaired)
            except SchemaError as again:
                again.reply = repaired
                raise

    def _settle(
        self, item: ItemResult, task: asyncio.Task[Any], pending: deque[ItemResult], now: float
    ) -> None:
        error = task.exception()
        if error is None:
            reply, value = task.result()
            item.reply, item.value = reply, value
            reply.value = value
            with _KEPT_LOCK:
                _KEPT[item.key] = (reply, value)
            if self.budget is not None:
                self.budget.add(reply)
            if reply.usage is not None:
                self._tokens += reply.usage.completion_tokens
            self._streak = 0
            self._done += 1
            self._last_success = now
            self._successes += 1
            if self.limit < self.concurrency and self._successes >= self.limit:
                self.limit += 1
                self._successes = 0
            return
        reason = _fatal(error)
        if reason is not None:
            item.error = error
            self._failed += 1
            self._stop_reason = reason
            done = self.results.done
            self.results.message = (
                f"Stopped by {type(error).__name__}: {one_line(str(error))} {done} finished result(s) are kept; "
                "run the same map again to continue."
            )
            return
        retryable = isinstance(error, GLMError) and error.retryable and not isinstance(error, SchemaError)
        if retryable and now - self._last_success > self.give_up_after and self._streak >= 3:
            # Every request refused for a while: stop instead of retrying for ever.
            pending.appendleft(item)
            self._stop_reason = "refused"
            self.results.message = (
                f"Stopped: every request was refused for {self.give_up_after:g} s "
                f"({type(error).__name__}: {one_line(str(error))[:160]}). {self._done} finished result(s) "
                "are kept; run the same map again later to continue."
            )
            return
        if retryable and item.attempts <= self.max_retries:
            self.results.retries += 1
            pending.appendleft(item)
            self._back_off(error, item, now)
            return
        item.error = error
        self._failed += 1

    def _over_budget(self) -> None:
        assert self.budget is not None
        self._stop_reason = "max_cost"
        self.results.message = self.budget.message(self.results.done)

    def _back_off(self, error: BaseException, item: ItemResult, now: float) -> None:
        """Pause the whole pool; busy signals also cut the limit by a quarter (once per round of requests)."""
        self._streak += 1
        wait = getattr(error, "retry_after", None)
        if wait is None:
            wait = self.retry_backoff * 2 ** min(self._streak - 1, 6) * (0.5 + random.random() / 2)
        self._paused_until = max(self._paused_until, now + min(wait, _MAX_PAUSE))
        if _pool_wide(error) and item._sent_at >= self._last_cut:
            self.limit = max(1, self.limit * 3 // 4)
            self._lowest = min(self._lowest, self.limit)
            self._successes = 0
            self._last_cut = now

    def _finish(self) -> None:
        results = self.results
        results.elapsed = time.perf_counter() - self._started
        results.lowest_concurrency = self._lowest
        if self._stop_reason is not None and results.stopped is None:
            results.stopped = self._stop_reason
            if results.message is None and results.not_run:
                results.message = (
                    f"{'Interrupted' if self._stop_reason == 'interrupted' else 'Cancelled'}: "
                    f"{results.done} finished result(s) are kept; run the same map again to continue."
                )


def _pool_client(client: BaseClient, http: httpx.AsyncClient) -> BaseClient:
    """A shallow copy of `client` on the run's connection pool that never retries by itself."""
    worker = copy.copy(client)
    worker.max_retries = 0
    worker._http = None
    worker._ahttp = http
    return worker
