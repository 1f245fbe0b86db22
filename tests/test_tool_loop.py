"""The tool loop against the local server's tool model, over loopback: steps, events, errors,
limits, approval, interruption; and the HTML a person sees of it."""

from __future__ import annotations

import asyncio
import json
import re
import threading

import httpx
import pytest

from glm_notebook import (
    Finish,
    GLMClient,
    IncompleteStreamError,
    StepLimit,
    StepStarted,
    ToolCallDelta,
    ToolCallFinished,
    ToolCallStarted,
    ToolReply,
    tool,
)
from glm_notebook.client.toolloop import supports_tool_stream
from glm_notebook.render.styles import STYLESHEET
from glm_notebook.render.tool_view import MAX_DETAIL, ToolTrace, tool_call_html, tool_reply_html
from glm_notebook.results.tool_reply import ToolCall
from glm_notebook.server.replay import default_recordings_dir


def client_for(server, **kw):
    return GLMClient(
        server.api_key, server.base_url, max_retries=kw.pop("max_retries", 0), retry_backoff=0.01, **kw
    )


def bodies_since(server, start):
    return [record.body for record in server.records[start:]]


def weather(location: str) -> str:
    """Get weather information for a location

    location: the city
    """
    return f"18 °C, clear in {location}"


def add(a: int, b: int) -> int:
    """Add two numbers"""
    return a + b


async def multiply(a: int, b: int) -> int:
    """Multiply two numbers"""
    await asyncio.sleep(0)
    return a * b


# -- the loop -----------------------------------------------------------------------------------


def test_one_call_two_steps_events_and_history(server):
    start = len(server.records)
    with client_for(server, model="glm-4.6").stream(
        "What's the weather in Florence? Use weather", tools=[weather]
    ) as stream:
        events = list(stream)
    reply = stream.reply
    kinds = [type(e) for e in events]
    assert kinds[0] is StepStarted and kinds.count(StepStarted) == 2
    first_end = kinds.index(Finish)
    fragments = [e for e in events[:first_end] if isinstance(e, ToolCallDelta)]
    assert len(fragments) > 1 and fragments[0].name == "weather" and fragments[0].id
    assert "".join(f.arguments for f in fragments) == '{"location":"Florence"}'
    started, finished = kinds.index(ToolCallStarted), kinds.index(ToolCallFinished)
    assert first_end < started < finished < kinds.index(StepStarted, 1)

    assert isinstance(reply, ToolReply) and reply.complete and reply.stopped is None
    step_replies = [e.reply for e in events if isinstance(e, StepStarted)]
    assert all(a is s.reply for a, s in zip(step_replies, reply.steps, strict=True))
    assert step_replies[1] is reply.final and step_replies[0].finish_reason == "tool_calls"
    (call,) = reply.calls
    assert (call.name, call.args, call.status, call.result) == (
        "weather",
        {"location": "Florence"},
        "ok",
        "18 °C, clear in Florence",
    )
    assert call.seconds is not None and call.value == call.result
    assert "18 °C, clear in Florence" in reply.text and reply.finish_reason == "stop"
    assert reply.usage.total_tokens == sum(s.reply.usage.total_tokens for s in reply.steps)

    first, second = bodies_since(server, start)
    assert first["tool_stream"] is True and first["tools"][0]["function"]["name"] == "weather"
    assistant, tool_message = second["messages"][1:]
    assert assistant["reasoning_content"] == reply.steps[0].reply.reasoning != ""
    assert assistant["tool_calls"] == reply.steps[0].reply.tool_calls
    assert tool_message == {"role": "tool", "tool_call_id": call.id, "content": "18 °C, clear in Florence"}
    assert reply.messages[:-1] == second["messages"]
    assert reply.new_messages == second["messages"][1:] + [reply.messages[-1]]


def test_tool_stream_is_sent_only_where_the_model_supports_it(server):
    assert [
        supports_tool_stream(m) for m in ("glm-4.5", "glm-4.6", "glm-4.7-flash", "glm-5", "glm-4.6v", "other")
    ] == [
        False,
        True,
        True,
        True,
        False,
        False,
    ]
    start = len(server.records)
    client_for(server).chat("Use weather for Rome", model="glm-4.5", tools=[weather])
    assert all("tool_stream" not in body for body in bodies_since(server, start))


def test_several_calls_in_one_turn_sync_and_async(server):
    reply = client_for(server).chat("add and multiply 6 and 7", tools=[add, multiply], thinking=False)
    assert [(c.name, c.result) for c in reply.calls] == [("add", "13"), ("multiply", "42")]
    assert [m["content"] for m in reply.messages if m["role"] == "tool"] == ["13", "42"]


def _barrier_tools():
    """Two async tools that each wait for the other to start: they only finish if run concurrently."""
    started: list[str] = []

    async def wait_for_other(name: str) -> str:
        started.append(name)
        for _ in range(500):
            if len(started) == 2:
                return f"{name} saw both"
            await asyncio.sleep(0.01)
        raise TimeoutError("the other call never started: not concurrent")

    async def left(tag: str) -> str:
        return await wait_for_other("left")

    async def right(tag: str) -> str:
        return await wait_for_other("right")

    return [left, right]


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_async_calls_of_one_turn_run_concurrently(server, mode):
    client = client_for(server)
    prompt = "[[tool=left]] [[tool=right]] go"
    if mode == "sync":
        reply = client.chat(prompt, tools=_barrier_tools())
    else:
        reply = asyncio.run(client.achat(prompt, tools=_barrier_tools()))
    assert [c.result for c in reply.calls] == ["left saw both", "right saw both"]


def test_a_raising_tool_bad_arguments_and_unknown_names_go_back_to_the_model(server):
    def explode(city: str) -> str:
        raise ValueError(f"no weather for {city}")

    start = len(server.records)
    prompt = (
        '[[tool=explode,args={"city":"Atlantis"}]] [[tool=add,args={"a":1}]] '
        '[[tool=add,args={"a":1,}]] [[tool=nosuch]] [[tool=add,args={"a":1,"b":2}]] go'
    )
    reply = client_for(server).chat(prompt, tools=[explode, add])
    statuses = [(c.name, c.status) for c in reply.calls]
    assert statuses == [
        ("explode", "error"),
        ("add", "error"),
        ("add", "error"),
        ("nosuch", "error"),
        ("add", "ok"),
    ]
    errors = [c.error for c in reply.calls]
    assert errors[0] == "ValueError: no weather for Atlantis"
    assert errors[1] == "invalid arguments for add: b: Field required"
    assert errors[2].startswith("invalid arguments for add: arguments are not valid JSON")
    assert errors[3] == "unknown function 'nosuch' (available: add, explode)"
    sent = [m["content"] for m in bodies_since(server, start)[1]["messages"] if m["role"] == "tool"]
    assert sent[:4] == [f"Error: {e}" for e in errors[:4]] and sent[4] == "3"
    assert not any("Traceback" in text for text in sent)
    assert reply.complete and 'explode(city="Atlantis")` failed: ValueError' in reply.text


def test_max_steps_ends_with_a_note_not_a_hang(server):
    calls = []

    def tick(n: int) -> int:
        calls.append(n)
        return n

    start = len(server.records)
    with client_for(server).stream(
        "[[tool=tick]] [[tool_rounds=50]] count 1", tools=[tick], max_steps=3
    ) as stream:
        events = list(stream)
    reply = stream.reply
    assert len(bodies_since(server, start)) == 3 and len(calls) == 2
    assert reply.stopped == "max_steps" and not reply.complete and "max_steps" in reply.status
    assert isinstance(events[-1], StepLimit) and events[-1].max_steps == 3
    assert reply.note.startswith("Stopped after 3 steps: the model still asked for tick.")
    assert [c.status for c in reply.calls] == ["ok", "ok", "not_run"]
    assert reply.messages[-1]["role"] == "tool" and reply.messages[-1]["content"].startswith("Not run")


def test_approve_can_decline_a_call_sync_and_async(server):
    ran = []

    def record(name: str) -> str:
        ran.append(name)
        return "ran"

    def approve(call: ToolCall) -> bool:
        return call.args["name"] != "no"

    prompt = '[[tool=record,args={"name":"yes"}]] [[tool=record,args={"name":"no"}]] go'
    reply = client_for(server).chat(prompt, tools=[record], approve=approve)
    assert ran == ["yes"] and [c.status for c in reply.calls] == ["ok", "declined"]
    assert reply.messages[-2]["content"] == "Not run: the user declined this call."

    async def approve_async(call: ToolCall) -> bool:
        await asyncio.sleep(0)
        return False

    reply = asyncio.run(client_for(server).achat(prompt, tools=[record], approve=approve_async))
    assert ran == ["yes"] and [c.status for c in reply.calls] == ["declined", "declined"]


def test_cancelling_the_task_mid_tool_stops_the_loop(server):
    async def main():
        started, cancelled = asyncio.Event(), []

        async def slow(city: str) -> str:
            started.set()
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                cancelled.append(city)
                raise
            return "never"

        stream = client_for(server).astream('[[tool=slow,args={"city":"Oslo"}]] go', tools=[slow])

        async def consume():
            async with stream:
                async for _ in stream:
                    pass

        task = asyncio.create_task(consume())
        await asyncio.wait_for(started.wait(), 5)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await asyncio.sleep(0)
        return stream.reply, cancelled

    start = len(server.records)
    reply, cancelled = asyncio.run(main())
    assert cancelled == ["Oslo"] and reply.stopped == "interrupted"
    assert reply.calls[0].status == "cancelled" and len(bodies_since(server, start)) == 1


def test_ctrl_c_in_a_sync_tool_stops_the_loop(server):
    def stubborn(city: str) -> str:
        raise KeyboardInterrupt  # what Ctrl-C raises in the main thread while the tool runs

    start = len(server.records)
    stream = client_for(server).stream('[[tool=stubborn,args={"city":"Oslo"}]] go', tools=[stubborn])
    with pytest.raises(KeyboardInterrupt):
        with stream:
            for _ in stream:
                pass
    assert stream.reply.stopped == "interrupted" and stream.reply.calls[0].status == "cancelled"
    assert len(bodies_since(server, start)) == 1


def test_closing_the_sync_stream_cancels_a_running_async_tool(server):
    cancelled = threading.Event()

    async def slow(city: str) -> str:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return "never"

    with client_for(server).stream('[[tool=slow,args={"city":"Oslo"}]] go', tools=[slow]) as stream:
        for event in stream:
            if isinstance(event, ToolCallStarted):
                break
    assert cancelled.wait(5) and stream.reply.stopped == "stopped"


def test_a_raw_tool_dict_is_never_run(server):
    raw = {
        "type": "function",
        "function": {
            "name": "lookup",
            "description": "d",
            "parameters": {"type": "object", "properties": {}},
        },
    }
    reply = client_for(server).chat("[[tool=lookup]] go", tools=[raw, add])
    assert reply.finish_reason == "tool_calls" and reply.calls == [] and len(reply.steps) == 1
    assert (
        reply.tool_calls[0]["function"]["name"] == "lookup"
        and "run it and send the result yourself" in reply.note
    )
    assert reply.messages[-1]["tool_calls"] == reply.tool_calls


def test_faults_work_in_tool_turns(server):
    start = len(server.records)
    reply = client_for(server, max_retries=2).chat(
        "[[status=429,code=1302,retry_after=0,times=1]] use add on 1 and 2", tools=[add]
    )
    assert reply.complete and reply.calls[0].result == "3"
    assert [r.status for r in server.records[start:]] == [429, 200, 200]

    # Cut mid-arguments (tool_stream): the stream breaks; the loop stops with the partial reply.
    with pytest.raises(IncompleteStreamError) as caught:
        client_for(server, model="glm-4.6").chat("[[cut=30]] use weather for Florence", tools=[weather])
    partial = caught.value.reply
    assert isinstance(partial, ToolReply) and partial.stopped == "error" and partial.calls == []


def test_the_server_answers_tool_calls_without_streaming_too(server):
    body = {
        "model": "glm-4.5",
        "stream": False,
        "messages": [{"role": "user", "content": "use add on 2 and 3"}],
        "tools": [
            {
                "type": "function",
                "function": {
                    "name": "add",
                    "parameters": {
                        "type": "object",
                        "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
                        "required": ["a", "b"],
                    },
                },
            }
        ],
    }
    response = httpx.post(
        f"{server.base_url}/chat/completions",
        json=body,
        headers={"Authorization": f"Bearer {server.api_key}"},
    )
    choice = response.json()["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    (call,) = choice["message"]["tool_calls"]
    assert call["function"] == {"name": "add", "arguments": '{"a":2,"b":3}'} and call["id"].startswith(
        "call_"
    )


# -- what a person sees -------------------------------------------------------------------------


def test_call_html_summary_states_and_escaping():
    call = ToolCall(
        1, 0, "c1", "weather", '{"location":"Florence"}', status="ok", result="18 °C, clear", seconds=0.25
    )
    html = tool_call_html(call)
    assert html.startswith(
        '<details class="glm-tool glm-tool-ok"><summary><span class="glm-tool-sig">weather(location="Florence")'
        '</span><span class="glm-tool-arrow"> → </span><span class="glm-tool-out">18 °C, clear</span>'
        '<span class="glm-time">0.25 s</span></summary>'
    )  # separate parts: the duration never runs into the result
    assert '<pre class="glm-tool-result"><code>18 °C, clear</code></pre>' in html

    bad = ToolCall(
        1,
        1,
        "c2",
        "weather",
        '{"location":"<img src=x onerror=alert(1)>"}',
        status="error",
        error="ValueError: <script>alert(1)</script>",
        result="Error: …",
    )
    html = tool_call_html(bad)
    assert "glm-tool-error" in html and '<span class="glm-tool-out">error: ValueError:' in html
    assert "<script" not in html and "<img" not in html and "&lt;script&gt;" in html

    running = ToolCall(1, 2, "c3", "weather", "{}")
    assert "glm-tool-running" in tool_call_html(running) and "running…" in tool_call_html(running)

    huge = ToolCall(1, 3, "c4", "dump", "{}", status="ok", result="x" * (MAX_DETAIL * 3))
    html = tool_call_html(huge)
    assert len(html) < MAX_DETAIL + 1000 and f"({MAX_DETAIL * 2:,} more characters)" in html


def test_an_opened_call_labels_its_arguments_and_result():
    """Inside an opened call the arguments and the result each sit under a small label, so they
    do not read as one block; a failed call says "Error" instead of "Result"."""
    label = '<p class="glm-tool-label">{}</p><pre class="glm-tool-{}"><code>'
    ok = tool_call_html(
        ToolCall(1, 0, "c1", "weather", '{"location":"Florence"}', status="ok", result="18 °C")
    )
    assert ok.index(label.format("Arguments", "args")) < ok.index(label.format("Result", "result"))
    assert ok.count('class="glm-tool-label"') == 2

    failed = ToolCall(
        1, 1, "c2", "weather", "{}", status="error", error="ValueError: no city", result="Error: …"
    )
    html = tool_call_html(failed)
    assert label.format("Error", "result") + "ValueError: no city</code>" in html and ">Result<" not in html

    running = tool_call_html(ToolCall(1, 2, "c3", "weather", "{}"))
    assert label.format("Arguments", "args") in running and "glm-tool-result" not in running

    css = STYLESHEET
    assert "details.glm-tool p.glm-tool-label{" in css
    # Two classes each: JupyterLab's `.jp-ThemedContainer .jp-RenderedHTMLCommon pre` / `code`
    # (no border, its page background) must not win over the frame.
    frame = re.search(
        r"details\.glm-tool pre\.glm-tool-args,details\.glm-tool pre\.glm-tool-result\{([^}]*)\}", css
    )
    assert (
        frame
        and "border:1px solid var(--jp-border-color2," in frame.group(1)
        and "background:var(--jp-" in frame.group(1)
    )
    assert (
        "details.glm-tool pre.glm-tool-args>code,details.glm-tool pre.glm-tool-result>code{background:none"
        in css
    )


def test_trace_and_final_view_follow_the_loop(server):
    with client_for(server, model="glm-4.6").stream(
        "Use weather for <b>Florence</b>", tools=[weather]
    ) as stream:
        trace = ToolTrace(stream.reply)
        seen_pending = seen_running = False
        for event in stream:
            trace.apply(event)
            if isinstance(event, ToolCallDelta):
                seen_pending |= "glm-tool-pending" in trace.current_html()
            if isinstance(event, ToolCallStarted):
                seen_running |= "glm-tool-running" in trace.current_html()
    assert seen_pending and seen_running
    assert trace.closed_html().count('class="glm-tool ') == 1 and "glm-reasoning" in trace.closed_html()
    html = tool_reply_html(stream.reply)
    assert html.count('<details class="glm-tool glm-tool-ok">') == 1 and "<b>" not in html
    assert "· 1 tool call</small>" in html and html.index("glm-tool-ok") < html.index("Tool results")
    data, meta = stream.reply._repr_mimebundle_()
    assert data["text/plain"].startswith("<ToolReply glm-4.6: 2 steps, 1 tool call")
    assert meta["glm_notebook"]["tool_calls"][0]["name"] == "weather"


def test_a_sync_function_returning_an_awaitable_is_awaited(server):
    async def later(x: int) -> int:
        await asyncio.sleep(0)
        return x * 10

    def deferred(x: int):
        """Returns a coroutine, as a wrapper or a partial might."""
        return later(x)

    reply = client_for(server).chat('[[tool=deferred,args={"x":4}]] go', tools=[deferred])
    assert reply.calls[0].result == "40"
    reply = asyncio.run(client_for(server).achat('[[tool=deferred,args={"x":5}]] go', tools=[deferred]))
    assert reply.calls[0].result == "50"


def test_an_approve_that_raises_ends_the_loop_and_says_why(server):
    def approve(call: ToolCall) -> bool:
        raise RuntimeError("no terminal to ask on")

    stream = client_for(server).stream("use add on 1 and 2", tools=[add], approve=approve)
    with pytest.raises(RuntimeError, match="no terminal"):
        with stream:
            list(stream)
    assert stream.reply.stopped == "error" and stream.reply.error == "RuntimeError: no terminal to ask on"


def test_the_footer_counts_calls_and_what_went_wrong(server):
    def explode(city: str) -> str:
        raise ValueError("nope")

    reply = client_for(server).chat(
        '[[tool=explode,args={"city":"x"}]] [[tool=add,args={"a":1,"b":1}]] [[tool=add,args={"a":2,"b":2}]] go',
        tools=[explode, add],
        approve=lambda call: call.args != {"a": 2, "b": 2},
    )
    html = tool_reply_html(reply)
    assert "· 3 tool calls (1 failed, 1 declined)</small>" in html
    assert html.count("glm-tool-error") == 1 and html.count("glm-tool-declined") == 1


def test_a_long_argument_stream_stays_cheap_to_draw():
    from glm_notebook.results.reply import Reply
    from glm_notebook.results.tool_reply import ToolStep

    reply = ToolReply()
    trace = ToolTrace(reply)
    first = Reply()
    reply.steps.append(ToolStep(1, first))
    trace.apply(StepStarted(1, first))
    trace.apply(ToolCallDelta(index=0, id="c", type="function", name="write_file", arguments='{"text":"'))
    for _ in range(2000):
        trace.apply(ToolCallDelta(index=0, arguments="<script>x</script> " * 5))
        html = trace.current_html()
    assert len(html) < 400 and html.count("glm-tool-pending") == 1 and "<script" not in html
    assert '<summary><span class="glm-tool-sig">write_file(text="&lt;script&gt;x&lt;/script&gt;' in html
    assert "……" not in html and "{" not in html  # readable pairs, never a raw JSON fragment


@pytest.mark.parametrize(
    "arguments, shown",
    [
        ("", "weather(…"),
        ('{"lo', "weather(…"),
        ('{"location": "Flor', 'weather(location="Flor…'),
        ('{"location": "Florence"', 'weather(location="Florence"'),  # closed, before its `}`
        ('{"days": 3', "weather(…"),  # a number may still grow
        ('{"location": "Florence", "da', 'weather(location="Florence", …'),
        ('{"location": "Florence", "days": 3}', 'weather(location="Florence", days=3)'),
        ('{"a": 1, "b": "x, y', 'weather(a=1, b="x, y…'),
        ('{"q": "say \\"hi\\", ok", "n": {"m": 1', 'weather(q="say \\"hi\\", ok", …'),
    ],
)
def test_a_call_forms_as_readable_pairs(arguments, shown):
    from glm_notebook.results.tool_reply import forming_signature

    assert forming_signature("weather", arguments) == shown


def _shape(value):
    """Keys (in order) and value types, recursively: the shape of a chunk, not its text."""
    if isinstance(value, dict):
        return [(key, _shape(item)) for key, item in value.items()]
    if isinstance(value, list):
        return [_shape(item) for item in value]
    return type(value).__name__


@pytest.mark.skipif(default_recordings_dir() is None, reason="../shared/zai-recordings is not there")
def test_the_servers_tool_chunks_have_the_recorded_shape(server):
    recorded = (default_recordings_dir() / "Common.zai-glm-4-7-flash.tool_streaming.0.response").read_text()
    frames = [json.loads(line[6:]) for line in recorded.splitlines() if line.startswith("data: {")]
    real_call, real_final = [f for f in frames if "tool_calls" in f["choices"][0]["delta"]][0], frames[-1]

    body = {
        "model": "glm-4.7-flash",
        "stream": True,
        "messages": [{"role": "user", "content": "use weather for Rome"}],
        "tools": [tool(weather).schema()],
    }
    response = httpx.post(
        f"{server.base_url}/chat/completions",
        json=body,
        headers={"Authorization": f"Bearer {server.api_key}"},
    )
    ours = [json.loads(line[6:]) for line in response.text.splitlines() if line.startswith("data: {")]
    call_chunks = [f for f in ours if "tool_calls" in f["choices"][0]["delta"]]
    assert len(call_chunks) == 1  # no tool_stream: the call comes whole
    assert _shape(call_chunks[0]) == _shape(real_call) and _shape(ours[-1]) == _shape(real_final)
    assert ours[-1]["choices"][0]["finish_reason"] == "tool_calls"


# -- the local server's model plans from a person's prompt (no directives) -------------------------


def _weather(location: str) -> str:
    """Current weather.

    location: the city
    """
    return f"18 °C, clear in {location}"


def _convert_units(value: float, unit: str) -> str:
    """Convert a temperature.

    value: the temperature
    unit: the unit to convert to, C or F
    """
    return f"{value * 9 / 5 + 32:.1f} °F" if unit.upper() == "F" else f"{(value - 32) * 5 / 9:.1f} °C"


@pytest.mark.parametrize(
    "prompt, calls",
    [
        (
            "What's the weather in Florence, converted to Fahrenheit?",
            ['weather(location="Florence")', 'convert_units(value=18.0, unit="F")'],
        ),
        (
            'What is the weather in "Florence", "Siena" and "Pisa"?',
            ['weather(location="Florence")', 'weather(location="Siena")', 'weather(location="Pisa")'],
        ),
        ("Tell me a joke about ducks", []),
    ],
)
def test_the_local_model_calls_the_tools_a_prompt_speaks_of(server, prompt, calls):
    weather, convert_units = _weather, _convert_units
    weather.__name__, convert_units.__name__ = "weather", "convert_units"
    reply = client_for(server).chat(prompt, tools=[weather, convert_units])
    assert "[[" not in json.dumps(server.records[-1].body)  # a person's prompt, nothing else
    assert [call.summary().split(" → ")[0] for call in getattr(reply, "calls", [])] == calls
    if calls:  # one step per call after the first, then the answer lists every result
        assert len(reply.steps) == len(calls) + 1 and reply.text.count("\n- `") == len(calls)
