"""The tool loop: ask the model, run the functions it calls, send the results back, repeat.

`GLMClient.chat/achat/stream/astream` come here when `tools=` holds a Python callable:

```python
def weather(location: str) -> str:
    "Current weather. location: the city"
    return "18 °C, clear"

reply = client.chat("Weather in Florence?", tools=[weather])
reply.text, reply.steps, reply.calls, reply.usage, reply.messages
```

Each step streams one request. When it ends with `finish_reason == "tool_calls"`, every call is
checked (known name, valid JSON arguments that fit the schema), offered to `approve(call)` if
given, and run — sync functions one after another, async ones concurrently. Then the assistant
message (with its `reasoning_content` and `tool_calls`) and one `tool` message per call (the
result as text; for a failure `Error: Type: message`) are appended and the next step starts,
until a step ends otherwise or `max_steps` requests were made. Ctrl-C, `close()` and task
cancellation stop the loop and any running async call.
"""

from __future__ import annotations

import asyncio
import inspect
import queue
import re
import threading
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Generator, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import GLMError
from ..results.reply import Reply
from ..results.tool_reply import (
    StepLimit,
    StepStarted,
    ToolCall,
    ToolCallFinished,
    ToolCallStarted,
    ToolEvent,
    ToolReply,
    ToolStep,
)
from ..text import one_line, short_line
from ..wire.events import Event
from ..wire.protocol import Messages, normalize_messages
from .replay import ReplayMissError
from .tools import Tool, ToolArgumentsError, ToolSet, result_text

if TYPE_CHECKING:
    from .base import BaseClient

__all__ = [
    "ToolStream",
    "AsyncToolStream",
    "DEFAULT_MAX_STEPS",
    "Approve",
    "supports_tool_stream",
]

DEFAULT_MAX_STEPS = 10
#: `approve(call) -> bool` (may be async with `achat`/`astream`): True runs the call.
Approve = Callable[[ToolCall], bool | Awaitable[bool]]
LoopEvent = Event | ToolEvent

_MODEL = re.compile(r"^glm-(\d+)(?:\.(\d+))?(v)?", re.IGNORECASE)


def supports_tool_stream(model: str) -> bool:
    """True for models that take `tool_stream` (glm-4.6 and later, not the vision models)."""
    match = _MODEL.match(model or "")
    if not match or match.group(3):
        return False
    return (int(match.group(1)), int(match.group(2) or 0)) >= (4, 6)


def _error_line(exc: BaseException) -> str:
    text = one_line(str(exc))
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


@dataclass(eq=False)
class _Job:
    call: ToolCall
    tool: Tool | None
    args: list[Any] = field(default_factory=list)
    kwargs: dict[str, Any] = field(default_factory=dict)


class _Loop:
    """What the sync and async loops share: the history, the tools, the bookkeeping. No I/O."""

    def __init__(
        self, client: BaseClient, messages: Messages, model: str | None, params: dict[str, Any]
    ) -> None:
        client._check_key()
        self.client = client
        self.model = model
        self.approve: Approve | None = params.pop("approve", None)
        self.max_steps = int(params.pop("max_steps", DEFAULT_MAX_STEPS))
        if self.max_steps < 1:
            raise ValueError("max_steps must be at least 1")
        self.tools = ToolSet(params.pop("tools"))
        history = normalize_messages(messages, params.pop("system", None))
        params["tools"] = self.tools.wire
        # Added here, not asked for: a model that refuses it is asked again without (once).
        self.streamed_calls = "tool_stream" not in params and supports_tool_stream(model or client.model)
        if self.streamed_calls:
            params["tool_stream"] = True
        self.params = params
        self.reply = ToolReply(messages=history, start=len(history), max_steps=self.max_steps)

    # -- steps --------------------------------------------------------------------------------

    def next_step(self) -> int:
        return len(self.reply.steps) + 1

    def open_step(self, reply: Reply) -> None:
        self.reply.steps.append(ToolStep(self.next_step(), reply))

    def jobs(self) -> list[_Job] | None:
        """The calls to run after this step, or None when the loop ends here."""
        step = self.reply.steps[-1]
        reply = step.reply
        wire = reply.tool_calls
        if reply.finish_reason != "tool_calls" or not wire:
            return None
        raw = sorted({c["function"]["name"] for c in wire} & self.tools.raw_names)
        if raw:
            self.reply.note = (
                f"The model called {', '.join(raw)}, given as a tool dict: run it and send the "
                "result yourself (reply.tool_calls)."
            )
            return None
        jobs = []
        for index, wire_call in enumerate(wire):
            fn = wire_call["function"]
            call = ToolCall(step.step, index, wire_call["id"], fn["name"], fn["arguments"])
            step.calls.append(call)
            job = _Job(call, self.tools.callable.get(call.name))
            if job.tool is None:
                known = ", ".join(sorted(self.tools.callable)) or "none"
                self.fail(call, f"unknown function {call.name!r} (available: {known})")
            else:
                try:
                    job.args, job.kwargs = job.tool.bind(call.arguments)
                except ToolArgumentsError as exc:
                    self.fail(call, f"invalid arguments for {call.name}: {one_line(str(exc))}")
            jobs.append(job)
        return jobs

    def replayed(self, jobs: list[_Job]) -> list[LoopEvent] | None:
        """On replay, the calls settled with their recorded results (the functions are not
        run); None when there is no replay or no recording of them."""
        replay = self.client.replay
        if replay is None:
            return None
        answer = self.reply.steps[-1].reply
        sent = [*self.reply.messages, answer.message(reasoning=True)]
        results = replay.tool_results(sent)
        if results is None or any(job.call.id not in results for job in jobs):
            if answer.replayed_at and not replay.run_tools:
                # Calls read from a recordings file never run code: someone may have edited them.
                names = ", ".join(sorted({job.call.name for job in jobs}))
                raise ReplayMissError(
                    f"The recording asks for tool calls ({short_line(names, 80)}) whose recorded "
                    "results do not match them: not running tools from a recordings file. Record "
                    "this cell again (`%glm replay record`, or Replay(mode='record'))."
                )
            return None
        events: list[LoopEvent] = []
        for job in jobs:
            call = job.call
            call.result, call.seconds, call.error = results[str(call.id)], 0.0, None
            if call.result.startswith("Error: "):
                call.status, call.error = "error", call.result[len("Error: ") :]
            elif call.result.startswith("Not run: "):
                call.status = "declined"
            else:
                call.status = "ok"
            events += [ToolCallStarted(call), ToolCallFinished(call)]
        return events

    def fail(self, call: ToolCall, error: str) -> None:
        error = self.client.hide_key(error)
        call.status, call.error, call.result = "error", error, f"Error: {error}"

    def decide(self, call: ToolCall, approved: Any) -> None:
        if not approved:
            call.status, call.result = "declined", "Not run: the user declined this call."

    def settle(
        self, call: ToolCall, seconds: float, value: Any = None, error: BaseException | None = None
    ) -> None:
        call.seconds = seconds
        if error is None:
            try:
                # What a tool returns goes to the service and into the notebook: never the key.
                call.result, call.value, call.status = self.client.hide_key(result_text(value)), value, "ok"
                return
            except Exception as exc:  # a result whose str() fails
                error = exc
        self.fail(call, _error_line(error))

    def close_step(self) -> None:
        step = self.reply.steps[-1]
        self.reply.messages.append(step.reply.message(reasoning=True))
        self.reply.messages.extend(call.message() for call in step.calls)

    # -- endings ------------------------------------------------------------------------------

    def done(self) -> None:
        final = self.reply.final
        self.reply.messages.append(final.message(reasoning=bool(final.tool_calls)))
        note = self.reply.note
        self.reply.finish(note=note)

    def limit(self, jobs: list[_Job]) -> list[LoopEvent]:
        names = ", ".join(dict.fromkeys(job.call.name for job in jobs))
        for job in jobs:
            call = job.call
            call.status, call.error = "not_run", None
            call.result = f"Not run: the step limit ({self.max_steps} requests) was reached."
        self.close_step()
        note = (
            f"Stopped after {self.max_steps} steps: the model still asked for {names}. "
            "Raise max_steps (--max-steps N in %%glm) to let it go on."
        )
        self.reply.finish(stopped="max_steps", note=note)
        return [*(ToolCallFinished(job.call) for job in jobs), StepLimit(self.max_steps, note)]

    def without_tool_stream(self, exc: GLMError) -> bool:
        """True when the request failed only because the model refuses the `tool_stream` this
        loop added: the step is dropped, the loop goes on without it, and a note says so."""
        if not (self.streamed_calls and exc.code == "1210" and exc.reply is None):
            return False
        self.streamed_calls = False
        del self.params["tool_stream"]
        self.reply.steps.pop()
        model = self.model or self.client.model
        self.reply.notes.append(f"{model} refused tool_stream: each tool call shows once it is complete.")
        return True

    def failed(self, exc: GLMError) -> None:
        self.reply.finish(stopped="error", error=exc.message)
        if exc.reply is not None or len(self.reply.steps) > 1:
            exc.reply = self.reply  # type: ignore[assignment]

    def interrupt(self, how: str) -> None:
        for call in self.reply.calls:
            if call.status == "running":
                call.status, call.error = "cancelled", how
        self.reply.finish(stopped=how)

    def request(self) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        return self.reply.messages, {"model": self.model, **self.params}


# -- sync ---------------------------------------------------------------------------------------


_Outcome = tuple[Any, Exception | None, float]


class _ThreadBatch:
    """Run a step's async calls concurrently on an event loop in a worker thread.

    The sync loop waits on a queue (a short timeout keeps Ctrl-C working), records each outcome
    in its own thread and yields the call; `stop()` cancels whatever still runs.
    """

    def __init__(self, jobs: list[_Job]) -> None:
        self.jobs = jobs
        self.outcomes: queue.Queue[tuple[_Job, _Outcome]] = queue.Queue()
        self.ready = threading.Event()
        self.loop: asyncio.AbstractEventLoop | None = None
        self.tasks: list[asyncio.Task[None]] = []
        self.thread = threading.Thread(target=self._main, name="glm-tools", daemon=True)

    def start(self) -> None:
        self.thread.start()
        self.ready.wait()

    def _main(self) -> None:
        try:
            asyncio.run(self._all())
        finally:
            self.ready.set()

    async def _all(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.tasks = [asyncio.create_task(self._one(job)) for job in self.jobs]
        self.ready.set()
        await asyncio.gather(*self.tasks, return_exceptions=True)

    async def _one(self, job: _Job) -> None:
        self.outcomes.put((job, await _timed(job)))

    def finished(self) -> Iterator[tuple[_Job, _Outcome]]:
        for _ in self.jobs:
            while True:
                try:
                    yield self.outcomes.get(timeout=0.05)
                    break
                except queue.Empty:
                    if not self.thread.is_alive() and self.outcomes.empty():
                        return

    def stop(self) -> None:
        loop = self.loop
        if loop is not None and self.thread.is_alive():
            try:
                loop.call_soon_threadsafe(lambda: [task.cancel() for task in self.tasks])
            except RuntimeError:
                pass  # the loop closed meanwhile
        self.thread.join(5)


def _approve_sync(loop: _Loop, jobs: list[_Job]) -> None:
    if loop.approve is None:
        return
    for job in jobs:
        if job.call.status == "running":
            decision = loop.approve(job.call)
            if inspect.isawaitable(decision):
                raise TypeError("approve= returned an awaitable: use achat/astream for an async approve")
            loop.decide(job.call, decision)


def _await_in_thread(awaitable: Awaitable[Any]) -> Any:
    """The value of an awaitable a sync function returned, awaited on a private event loop."""
    holder: list[Any] = []

    async def wait() -> None:
        holder.append(await awaitable)

    worker = threading.Thread(target=asyncio.run, args=(wait(),), name="glm-tools", daemon=True)
    worker.start()
    while worker.is_alive():
        worker.join(0.05)
    if not holder:
        raise RuntimeError("the awaitable a tool returned did not complete")
    return holder[0]


def _execute_sync(loop: _Loop, jobs: list[_Job]) -> Generator[LoopEvent, None, None]:
    concurrent = [j for j in jobs if j.call.status == "running" and j.tool is not None and j.tool.is_async]
    batch = _ThreadBatch(concurrent) if concurrent else None
    try:
        if batch is not None:
            batch.start()
        for job in jobs:
            call = job.call
            if call.status != "running":
                yield ToolCallFinished(call)
                continue
            yield ToolCallStarted(call)
            if job in concurrent:
                continue
            assert job.tool is not None
            start = time.perf_counter()
            try:
                value = job.tool.function(*job.args, **job.kwargs)
                if inspect.isawaitable(value):
                    value = _await_in_thread(value)
            except Exception as exc:
                loop.settle(call, time.perf_counter() - start, error=exc)
            else:
                loop.settle(call, time.perf_counter() - start, value=value)
            yield ToolCallFinished(call)
        if batch is not None:
            for done, (value, error, seconds) in batch.finished():
                loop.settle(done.call, seconds, value=value, error=error)
                yield ToolCallFinished(done.call)
    finally:
        if batch is not None:
            batch.stop()


def _run_sync(loop: _Loop) -> Generator[LoopEvent, None, None]:
    try:
        while True:
            step = loop.next_step()
            messages, params = loop.request()
            stream = loop.client.stream(messages, **params)
            loop.open_step(stream.reply)
            yield StepStarted(step, stream.reply)
            try:
                with stream:
                    yield from stream
            except GLMError as exc:
                if loop.without_tool_stream(exc):
                    continue
                loop.failed(exc)
                raise
            jobs = loop.jobs()
            if jobs is None:
                loop.done()
                return
            if step >= loop.max_steps:
                yield from loop.limit(jobs)
                return
            replayed = loop.replayed(jobs)
            if replayed is not None:
                yield from replayed
            else:
                _approve_sync(loop, jobs)
                yield from _execute_sync(loop, jobs)
            loop.close_step()
    except GeneratorExit:
        loop.interrupt("stopped")
        raise
    except KeyboardInterrupt:
        loop.interrupt("interrupted")
        raise
    except Exception as exc:  # e.g. from approve=: the loop ends, the reply says why
        loop.reply.finish(stopped="error", error=_error_line(exc))
        raise


class ToolStream:
    """Events of a whole tool loop (a context manager); `.reply` is the growing `ToolReply`.

    Yields `StepStarted`, each request's stream events, `ToolCallStarted` / `ToolCallFinished`
    and `StepLimit`. Breaking out, `close()`, an exception or Ctrl-C stops the loop.
    """

    def __init__(
        self, client: BaseClient, messages: Messages, *, model: str | None = None, **params: Any
    ) -> None:
        self._loop = _Loop(client, messages, model, params)
        self.reply: ToolReply = self._loop.reply
        self._gen = _run_sync(self._loop)

    def __iter__(self) -> Iterator[LoopEvent]:
        return self._gen

    def __next__(self) -> LoopEvent:
        return next(self._gen)

    def close(self) -> None:
        """Stop the loop; the reply keeps what happened so far."""
        self._gen.close()

    def __enter__(self) -> ToolStream:
        return self

    def __exit__(self, kind: type | None, *exc: Any) -> None:
        if kind is KeyboardInterrupt:
            self._loop.interrupt("interrupted")
        self.close()


# -- async --------------------------------------------------------------------------------------


async def _timed(job: _Job) -> tuple[Any, Exception | None, float]:
    start = time.perf_counter()
    assert job.tool is not None
    try:
        value = job.tool.function(*job.args, **job.kwargs)
        if inspect.isawaitable(value):
            value = await value
    except Exception as exc:
        return None, exc, time.perf_counter() - start
    return value, None, time.perf_counter() - start


async def _approve_async(loop: _Loop, jobs: list[_Job]) -> None:
    if loop.approve is None:
        return
    for job in jobs:
        if job.call.status == "running":
            decision = loop.approve(job.call)
            if inspect.isawaitable(decision):
                decision = await decision
            loop.decide(job.call, decision)


async def _execute_async(loop: _Loop, jobs: list[_Job]) -> AsyncGenerator[LoopEvent, None]:
    tasks: dict[asyncio.Task[tuple[Any, Exception | None, float]], _Job] = {}
    try:
        for job in jobs:
            call = job.call
            if call.status != "running":
                yield ToolCallFinished(call)
                continue
            yield ToolCallStarted(call)
            assert job.tool is not None
            if job.tool.is_async:
                tasks[asyncio.create_task(_timed(job))] = job
                await asyncio.sleep(0)  # let it start before the sync calls block the loop
                continue
            value, error, seconds = await _timed(job)
            loop.settle(call, seconds, value=value, error=error)
            yield ToolCallFinished(call)
        pending = set(tasks)
        while pending:
            done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            for task in sorted(done, key=lambda t: tasks[t].call.index):
                value, error, seconds = task.result()
                loop.settle(tasks[task].call, seconds, value=value, error=error)
                yield ToolCallFinished(tasks[task].call)
    finally:
        for task in tasks:
            if not task.done():
                task.cancel()


async def _run_async(loop: _Loop) -> AsyncGenerator[LoopEvent, None]:
    event: LoopEvent
    try:
        while True:
            step = loop.next_step()
            messages, params = loop.request()
            stream = loop.client.astream(messages, **params)
            loop.open_step(stream.reply)
            yield StepStarted(step, stream.reply)
            try:
                async with stream:
                    async for event in stream:
                        yield event
            except GLMError as exc:
                if loop.without_tool_stream(exc):
                    continue
                loop.failed(exc)
                raise
            jobs = loop.jobs()
            if jobs is None:
                loop.done()
                return
            if step >= loop.max_steps:
                for event in loop.limit(jobs):
                    yield event
                return
            replayed = loop.replayed(jobs)
            if replayed is not None:
                for event in replayed:
                    yield event
                loop.close_step()
                continue
            await _approve_async(loop, jobs)
            running = _execute_async(loop, jobs)
            try:
                async for event in running:
                    yield event
            finally:
                await running.aclose()
            loop.close_step()
    except GeneratorExit:
        loop.interrupt("stopped")
        raise
    except (KeyboardInterrupt, asyncio.CancelledError):
        loop.interrupt("interrupted")
        raise
    except Exception as exc:
        loop.reply.finish(stopped="error", error=_error_line(exc))
        raise


class AsyncToolStream:
    """The async twin of `ToolStream`: `async for event in stream`; `async with`; `aclose()`."""

    def __init__(
        self, client: BaseClient, messages: Messages, *, model: str | None = None, **params: Any
    ) -> None:
        self._loop = _Loop(client, messages, model, params)
        self.reply: ToolReply = self._loop.reply
        self._gen = _run_async(self._loop)

    def __aiter__(self) -> AsyncToolStream:
        return self

    async def __anext__(self) -> LoopEvent:
        return await self._gen.__anext__()

    async def aclose(self) -> None:
        """Stop the loop (cancelling running async calls); the reply keeps what happened."""
        await self._gen.aclose()

    async def __aenter__(self) -> AsyncToolStream:
        return self

    async def __aexit__(self, kind: type | None, *exc: Any) -> None:
        if kind is not None and issubclass(kind, (asyncio.CancelledError, KeyboardInterrupt)):
            self._loop.interrupt("interrupted")
        await self.aclose()
