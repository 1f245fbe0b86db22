"""The wire format without I/O: request bodies, chunk decoding, error bodies."""

from __future__ import annotations

import json

import pytest

from glm_notebook.events import (
    ContentDelta,
    Finish,
    ReasoningDelta,
    StreamStart,
    ToolCallDelta,
    Usage,
    UsageReport,
)
from glm_notebook.protocol import (
    ChunkDecoder,
    InvalidChunk,
    StreamErrorFrame,
    build_request,
    parse_error_body,
)
from glm_notebook.reply import Reply


def test_request_from_a_plain_string_and_every_documented_field():
    body = build_request(
        "hi",
        model="glm-4.6",
        system="be brief",
        thinking=False,
        temperature=0.2,
        top_p=0.9,
        max_tokens=100,
        do_sample=True,
        stop=["END"],
        tools=[{"type": "function", "function": {"name": "f", "parameters": {}}}],
        tool_choice="auto",
        tool_stream=True,
        response_format={"type": "json_object"},
        request_id="req-123456",
        user_id="user-1",
        reasoning_effort="high",
        seed=None,
    )
    assert body["messages"] == [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "hi"},
    ]
    assert body["thinking"] == {"type": "disabled"}
    assert body["stream"] is True
    assert body["reasoning_effort"] == "high"  # unknown fields pass through
    assert "seed" not in body  # None means "leave out"
    for key in ("temperature", "top_p", "max_tokens", "do_sample", "stop", "tools", "tool_choice",
                "tool_stream", "response_format", "request_id", "user_id"):
        assert key in body


def test_thinking_forms_and_message_lists():
    msgs = [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]
    assert build_request(msgs, model="m", thinking=True)["thinking"] == {"type": "enabled"}
    assert build_request(msgs, model="m", thinking="disabled")["thinking"] == {"type": "disabled"}
    assert "thinking" not in build_request(msgs, model="m")
    assert build_request(msgs, model="m")["messages"] == msgs
    with pytest.raises(ValueError):
        build_request([], model="m")
    with pytest.raises(ValueError):
        build_request([{"content": "x"}], model="m")


def chunk(delta=None, **top):
    choice = {"index": 0, "delta": {"role": "assistant", **(delta or {})}}
    if "finish_reason" in top:
        choice["finish_reason"] = top.pop("finish_reason")
    return json.dumps({"id": "c1", "created": 5, "model": "glm-4.6", "choices": [choice], **top})


def test_decoder_tolerates_real_traffic_shapes():
    d = ChunkDecoder()
    assert d.decode(chunk({"reasoning_content": "think", "content": ""})) == [
        StreamStart("c1", "glm-4.6", 5),
        ReasoningDelta("think"),
    ]
    assert d.decode(chunk({"content": "Hi"}, finish_reason=None, object="x", extra={"a": 1})) == [
        ContentDelta("Hi")
    ]
    tool = {"id": "call_1", "index": 0, "type": "function", "function": {"name": "f", "arguments": "{}"}}
    assert d.decode(chunk({"tool_calls": [tool]})) == [ToolCallDelta(0, "call_1", "function", "f", "{}")]
    usage = {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7,
             "prompt_tokens_details": {"cached_tokens": 1}, "completion_tokens_details": {"reasoning_tokens": 2}}
    assert d.decode(chunk({"content": ""}, finish_reason="stop", usage=usage)) == [
        Finish("stop"),
        UsageReport(Usage(3, 4, 7, 1, 2)),
    ]
    assert not d.done
    assert d.decode("[DONE]") == [] and d.done and d.chunks == 4


def test_decoder_errors():
    d = ChunkDecoder()
    with pytest.raises(StreamErrorFrame) as frame:
        d.decode('{"error":{"code":"1302","message":"busy"}}')
    assert (frame.value.code, frame.value.message) == ("1302", "busy")
    with pytest.raises(InvalidChunk):
        d.decode('{"id":"x","choices":[{"index":0,"delta":{"content":"ab')
    with pytest.raises(InvalidChunk):
        d.decode("[1, 2]")


def test_error_bodies_both_shapes_and_garbage():
    assert parse_error_body(b'{"error":{"code":"1211","message":"Unknown Model"}}') == ("1211", "Unknown Model")
    assert parse_error_body(b'{"code":1302,"message":"busy"}') == ("1302", "busy")
    assert parse_error_body(b"<html><body>Bad   gateway</body></html>") == (None, "<html><body>Bad gateway</body></html>")


def test_reply_joins_tool_call_pieces_by_index_and_reads_json():
    r = Reply()
    for ev in [ToolCallDelta(1, "b", "function", "g", '{"x"'), ToolCallDelta(0, "a", "function", "f", "{}"),
               ToolCallDelta(1, None, None, None, ":1}"), ContentDelta('{"k": '), ContentDelta("[1]}")]:
        r.apply(ev)
    assert r.tool_calls == [
        {"id": "a", "type": "function", "function": {"name": "f", "arguments": "{}"}},
        {"id": "b", "type": "function", "function": {"name": "g", "arguments": '{"x":1}'}},
    ]
    assert r.json() == {"k": [1]} and str(r) == r.text == '{"k": [1]}'
    assert not r.complete and r.status == "streaming"
    r.apply(Finish("length"))
    r.finish()
    assert r.complete and r.status == "cut short by max_tokens"
