"""The real tool recordings replayed as a two-request loop: the second request the client builds
from the recorded first answer and the tools' outputs must be the recorded second request."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from glm_notebook import GLMClient, ToolReply
from glm_notebook.server.replay import default_recordings_dir

RECORDINGS = default_recordings_dir()
NAMES = [
    f"Common.zai-{model}.{kind}"
    for model in ("glm-4.5", "glm-4-7-flash")
    for kind in ("tool", "tool_streaming", "multi_tool", "multi_tool_streaming")
]

pytestmark = pytest.mark.skipif(RECORDINGS is None, reason="../shared/zai-recordings is not there")


def weather(location: str) -> str:
    """Get weather information for a location

    location: the city
    """
    return "40 C"


def add(a: int, b: int) -> int:
    """Add two numbers

    a: first number
    b: second number
    """
    return a + b


def multiply(a: int, b: int) -> int:
    """Multiply two numbers

    a: first number
    b: second number
    """
    return a * b


def _load(name: str, suffix: str) -> dict:
    return json.loads((Path(RECORDINGS) / f"{name}.{suffix}").read_text(encoding="utf-8"))


def _comparable(body: dict) -> dict:
    """A request body without what differs by transport only: `stream` (the client always
    streams; the non-streamed recordings are served as JSON) and the SDK's `strict: false`."""
    out = {k: v for k, v in body.items() if k != "stream"}
    out["tools"] = [
        {**t, "function": {k: v for k, v in t["function"].items() if k != "strict"}} for t in body["tools"]
    ]
    return out


@pytest.mark.parametrize("name", NAMES)
def test_the_second_request_is_the_recorded_one(server, name):
    first, second = _load(name, "0.request.json"), _load(name, "1.request.json")
    tools = [weather] if ".tool" in name else [add, multiply]
    extra = {"stream_options": first["stream_options"]} if "stream_options" in first else {}
    client = GLMClient(server.api_key, server.replay_url(name), max_retries=0)
    start = len(server.records)
    reply = client.chat(
        first["messages"],
        model=first["model"],
        tools=tools,
        tool_choice="auto",
        max_tokens=4000,
        tool_stream=None,
        **extra,
    )
    sent = [record.body for record in server.records[start:]]
    assert len(sent) == 2
    assert _comparable(sent[0]) == _comparable(first)
    assert sent[1]["messages"] == second["messages"]
    assert _comparable(sent[1]) == _comparable(second)

    expected = _load(name, "1.expected.json")
    final_text = expected.get(
        "content", expected.get("json", {}).get("choices", [{}])[0].get("message", {}).get("content")
    )
    assert isinstance(reply, ToolReply) and reply.complete
    assert reply.text == final_text and reply.finish_reason == "stop"
    assert [call.result for call in reply.calls] == [
        m["content"] for m in second["messages"] if m["role"] == "tool"
    ]
    assert reply.messages[:-1] == second["messages"]
    assert reply.messages[-1] == {"role": "assistant", "content": final_text}
    usages = [
        _load(name, f"{i}.expected.json").get("usage") or _load(name, f"{i}.expected.json")["json"]["usage"]
        for i in (0, 1)
    ]
    assert reply.usage.total_tokens == sum(u["total_tokens"] for u in usages)
    assert reply.usage.prompt_tokens == sum(u["prompt_tokens"] for u in usages)
