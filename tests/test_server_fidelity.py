"""The local server answers as the service does where a user's mistake would otherwise hide:
unknown fields, `stop`, ids and times, settings a model refuses; and the thinking controls
reach the request as the service documents them. All over loopback."""

from __future__ import annotations

import time

import httpx
import pytest

from glm_notebook import Chat, GLMClient
from glm_notebook.errors import BadRequestError


def client_for(server, **kw) -> GLMClient:
    return GLMClient(server.api_key, server.base_url, max_retries=0, **kw)


def post(server, body: dict) -> httpx.Response:
    headers = {"Authorization": f"Bearer {server.api_key}"}
    return httpx.post(f"{server.base_url}/chat/completions", json=body, headers=headers, timeout=30)


def test_an_unknown_field_is_refused_by_name(server) -> None:
    body = {"model": "glm-4.6", "messages": [{"role": "user", "content": "hi"}], "n": 2}
    response = post(server, body)
    assert response.status_code == 400
    assert response.json()["error"] == {
        "code": "1210",
        "message": "Invalid parameter n: not a parameter of this API",
    }
    with pytest.raises(BadRequestError, match="temprature"):
        client_for(server).chat("hi", temprature=0.2)  # a typo is never silently ignored


@pytest.mark.parametrize("stream", [True, False])
def test_stop_ends_the_answer_before_the_stop_text(server, stream) -> None:
    client = client_for(server)
    whole = client.chat("Plan a day in Lisbon", model="glm-4.6", stream=stream)
    cut = client.chat("Plan a day in Lisbon", model="glm-4.6", stream=stream, stop=["Words"])
    assert "Words" in whole.text and "Words" not in cut.text
    assert whole.text.startswith(cut.text) and whole.text[len(cut.text) :].startswith("Words")
    assert cut.finish_reason == "stop"


def test_every_response_has_its_own_id_and_the_time_it_was_made(server) -> None:
    client = client_for(server)
    before = int(time.time())
    first, second = client.chat("Same words"), client.chat("Same words")
    assert first.text == second.text  # deterministic text is useful
    assert first.id != second.id and first.id.startswith("local-")
    assert before <= first.created <= int(time.time()) + 1
    calls = [
        client.chat("Weather in Paris?", tools=[_weather]).steps[0].reply.tool_calls[0]["id"] for _ in "ab"
    ]
    assert calls[0] != calls[1]


def _weather(city: str) -> str:
    """The weather in a city."""
    return f"Sunny in {city}"


# -- thinking controls ----------------------------------------------------------------------------


def test_reasoning_effort_reaches_the_request_and_a_refusal_names_it(server) -> None:
    client = client_for(server)
    reply = client.chat("Think hard", model="glm-5", reasoning_effort="high")
    assert reply.complete and server.records[-1].body["reasoning_effort"] == "high"
    with pytest.raises(BadRequestError) as refused:
        client.chat("Think hard", model="glm-4.6", reasoning_effort="high")
    line = str(refused.value)
    assert "1210" in line and "reasoning_effort" in line and "glm-4.6" in line and "\n" not in line


def test_preserved_thinking_sends_every_turns_reasoning_back_unmodified(server) -> None:
    chat = Chat("glm-4.6", client=client_for(server), clear_thinking=False)
    first = chat.send("Plan a day in Lisbon")
    second = chat.send("What about the evening?")
    body = server.records[-1].body
    assert body["thinking"] == {"type": "enabled", "clear_thinking": False}
    assistant = [m for m in body["messages"] if m["role"] == "assistant"]
    assert [m["reasoning_content"] for m in assistant] == [first.reasoning]
    chat.send("And the next morning?")
    assistant = [m for m in server.records[-1].body["messages"] if m["role"] == "assistant"]
    assert [m["reasoning_content"] for m in assistant] == [first.reasoning, second.reasoning]


def test_without_preserved_thinking_the_history_carries_answers_only(server) -> None:
    chat = Chat("glm-4.6", client=client_for(server))
    chat.send("Plan a day in Lisbon")
    chat.send("What about the evening?")
    body = server.records[-1].body
    assert "thinking" not in body or "clear_thinking" not in body["thinking"]
    assert all("reasoning_content" not in m for m in body["messages"])


def test_a_model_that_refuses_tool_stream_is_asked_again_without_it_once(server) -> None:
    refuse = "[[status=400,code=1210,message=tool_stream is not supported,times=1,tag=refuse-stream]]"
    start = len(server.records)
    reply = client_for(server).chat(f'What is the weather in "Florence"? {refuse}', tools=[_weather])
    sent = [record.body for record in server.records[start:]]
    assert [body.get("tool_stream") for body in sent] == [True, None, None]  # refused, then without
    assert reply.complete and [call.result for call in reply.calls] == ["Sunny in Florence"]
    assert reply.notes == ["glm-4.6 refused tool_stream: each tool call shows once it is complete."]
    assert [step.step for step in reply.steps] == [1, 2]


def test_the_magic_says_once_that_the_model_refused_tool_stream(k, server) -> None:
    source = 'def weather(city: str) -> str:\n    """The weather in a city."""\n    return f"Sunny in {city}"'
    assert k.run(source).error is None
    refuse = "[[status=400,code=1210,times=1,tag=refuse-stream-magic]]"
    run = k.run(f'%%glm --tools weather\nWhat is the weather in "Florence"? {refuse}')
    assert run.error is None, run.messages
    html = run.result["text/html"]
    assert html.count("refused tool_stream") == 1 and "Sunny in Florence" in html
    assert len(run.outputs) == 1


def test_serve_answers_the_models_it_is_told_and_refuses_others(tmp_path) -> None:
    import socket
    import subprocess
    import sys

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [
        sys.executable,
        "-m",
        "glm_notebook.cli",
        "serve",
        "--port",
        str(port),
        "--models",
        "my-tune, other",
    ]
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
    try:
        base = f"http://127.0.0.1:{port}/api/paas/v4"
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"{base}/models", timeout=1)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline and process.poll() is None, "the server did not start"
                time.sleep(0.1)
        client = GLMClient("local-glm-key", base, max_retries=0)
        assert client.chat("hi", model="my-tune").complete and client.chat("hi", model="glm-4.6").complete
        with pytest.raises(BadRequestError, match="1211"):
            client.chat("hi", model="glm-4.66")
    finally:
        process.terminate()
        process.wait(10)
