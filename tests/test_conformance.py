"""Every real Z.ai stream in ../shared/zai-recordings, replayed over loopback, assembles exactly."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from glm_notebook import GLMClient, Usage

RECORDINGS = Path(__file__).resolve().parents[2] / "shared" / "zai-recordings"
STREAMING = sorted(
    p.name.removesuffix(".expected.json")
    for p in RECORDINGS.glob("*.expected.json")
    if json.loads(p.read_text())["meta"]["content_type"].startswith("text/event-stream")
)
WHOLE = sorted(
    p.name.removesuffix(".expected.json")
    for p in RECORDINGS.glob("*.expected.json")
    if json.loads(p.read_text())["meta"]["content_type"].startswith("application/json")
)


def test_corpus_is_there():
    assert len(STREAMING) >= 16 and len(WHOLE) >= 16, (RECORDINGS, STREAMING, WHOLE)


def _request(name: str) -> dict:
    body = json.loads((RECORDINGS / f"{name}.request.json").read_text())
    body.pop("stream", None)
    return body


def _flat_tools(reply) -> list[dict]:
    return [
        {
            "id": c["id"],
            "type": c["type"],
            "name": c["function"]["name"],
            "arguments": c["function"]["arguments"],
        }
        for c in reply.tool_calls
    ]


@pytest.mark.parametrize("split", [None, "1-7"], ids=["natural", "split-1-7"])
@pytest.mark.parametrize("name", STREAMING)
def test_streaming_recording_assembles_exactly(server, name, split):
    expected = json.loads((RECORDINGS / f"{name}.expected.json").read_text())
    directives = {"split": split, "seed": len(name)} if split else {}
    client = GLMClient(server.api_key, server.replay_url(name, **directives), max_retries=0)
    body = _request(name)
    reply = client.chat(body.pop("messages"), **body)

    assert reply.text == expected["content"]
    assert reply.reasoning == expected["reasoning_content"]
    assert _flat_tools(reply) == expected["tool_calls"]
    assert reply.finish_reason == expected["finish_reason"]
    assert reply.usage == Usage.from_wire(expected["usage"])
    assert (reply.id, reply.model) == (expected["id"], expected["model"])
    assert reply.chunks == expected["chunks"]
    assert reply.done is expected["done"]
    assert reply.complete


@pytest.mark.anyio
@pytest.mark.parametrize("name", STREAMING)
async def test_streaming_recording_async_split(server, name):
    expected = json.loads((RECORDINGS / f"{name}.expected.json").read_text())
    client = GLMClient(server.api_key, server.replay_url(name, split="1-7", seed=7), max_retries=0)
    body = _request(name)
    reply = await client.achat(body.pop("messages"), **body)
    await client.aclose()
    assert (reply.text, reply.reasoning) == (expected["content"], expected["reasoning_content"])
    assert _flat_tools(reply) == expected["tool_calls"]
    assert reply.usage == Usage.from_wire(expected["usage"])
    assert reply.chunks == expected["chunks"]


@pytest.mark.parametrize("name", WHOLE)
def test_non_streamed_recording_is_read_too(server, name):
    """A service (or proxy) that answers with plain JSON still gives a complete Reply."""
    expected = json.loads((RECORDINGS / f"{name}.expected.json").read_text())["json"]
    client = GLMClient(server.api_key, server.replay_url(name), max_retries=0)
    body = _request(name)
    reply = client.chat(body.pop("messages"), **body)
    message = expected["choices"][0]["message"]
    assert reply.text == (message.get("content") or "")
    assert reply.reasoning == (message.get("reasoning_content") or "")
    assert reply.tool_calls == [
        {"id": c["id"], "type": c["type"], "function": c["function"]} for c in message.get("tool_calls", [])
    ]
    assert reply.finish_reason == expected["choices"][0]["finish_reason"]
    assert reply.usage == Usage.from_wire(expected["usage"])
