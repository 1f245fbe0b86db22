"""The wire format without I/O: request bodies, chunk decoding, error bodies."""

from __future__ import annotations

import json

import pytest

from glm_notebook.results.reply import Reply
from glm_notebook.wire.events import (
    ContentDelta,
    Finish,
    ReasoningDelta,
    StreamStart,
    ToolCallDelta,
    Usage,
    UsageReport,
)
from glm_notebook.wire.protocol import (
    MAX_MESSAGE_CHARS,
    ChunkDecoder,
    InvalidChunk,
    StreamErrorFrame,
    build_request,
    completion_events,
    parse_error_body,
)


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
    for key in (
        "temperature",
        "top_p",
        "max_tokens",
        "do_sample",
        "stop",
        "tools",
        "tool_choice",
        "tool_stream",
        "response_format",
        "request_id",
        "user_id",
    ):
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
    usage = {
        "prompt_tokens": 3,
        "completion_tokens": 4,
        "total_tokens": 7,
        "prompt_tokens_details": {"cached_tokens": 1},
        "completion_tokens_details": {"reasoning_tokens": 2},
    }
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
    assert parse_error_body(b'{"error":{"code":"1211","message":"Unknown Model"}}') == (
        "1211",
        "Unknown Model",
    )
    assert parse_error_body(b'{"code":1302,"message":"busy"}') == ("1302", "busy")
    assert parse_error_body(b"<html><body>Bad   gateway</body></html>") == (
        None,
        "<html><body>Bad gateway</body></html>",
    )


def test_reply_joins_tool_call_pieces_by_index_and_reads_json():
    r = Reply()
    for ev in [
        ToolCallDelta(1, "b", "function", "g", '{"x"'),
        ToolCallDelta(0, "a", "function", "f", "{}"),
        ToolCallDelta(1, None, None, None, ":1}"),
        ContentDelta('{"k": '),
        ContentDelta("[1]}"),
    ]:
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


@pytest.mark.parametrize(
    "payload, field",
    [
        ('{"choices":[42]}', "a choice is not an object"),
        ('{"choices":{"index":0,"delta":{"content":"x"}}}', "'choices' is not a list"),
        ('{"choices":[{"index":0,"delta":"x"}]}', "'delta' is not an object"),
        ('{"choices":[{"index":0,"delta":{"content":42}}]}', "'content' is not a string"),
        ('{"choices":[{"index":0,"delta":{"content":["a"]}}]}', "'content' is not a string"),
        (
            '{"choices":[{"index":0,"delta":{"reasoning_content":{"a":1}}}]}',
            "'reasoning_content' is not a string",
        ),
        ('{"choices":[{"index":0,"delta":{},"finish_reason":7}]}', "'finish_reason' is not a string"),
        ('{"choices":[{"index":0,"delta":{"tool_calls":{"a":1}}}]}', "'tool_calls' is not a list"),
        (
            '{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"name":42}}]}}]}',
            "a tool name is not a string",
        ),
        (
            '{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"name":"f","arguments":{"a":1}}}]}}]}',
            "'arguments' is not a string",
        ),
        ('{"choices":[{"index":0,"delta":{"tool_calls":[{"index":"0"}]}}]}', "'index' is not an integer"),
        ('{"choices":[{"index":0,"delta":{"tool_calls":[7]}}]}', "a tool call is not an object"),
        ('{"usage":"lots"}', "'usage' is not an object"),
        ('{"usage":{"prompt_tokens":"many"}}', "'usage.prompt_tokens' is not a token count"),
        ('{"usage":{"completion_tokens":-3}}', "'usage.completion_tokens' is not a token count"),
        ('{"usage":{"total_tokens":NaN}}', "'usage.total_tokens' is not a token count"),
        ('{"usage":{"prompt_tokens_details":[1]}}', "'usage.prompt_tokens_details' is not an object"),
    ],
)
def test_decoder_refuses_chunks_of_the_wrong_shape_in_one_line(payload, field):
    d = ChunkDecoder()
    d.decode(chunk({"content": "fine"}))
    with pytest.raises(InvalidChunk) as caught:
        d.decode(payload)
    assert field in str(caught.value) and "(chunk 2)" in str(caught.value)
    assert "\n" not in str(caught.value) and d.chunks == 1


@pytest.mark.parametrize(
    "payload, field",
    [
        ('{"id":42,"choices":[]}', "'id' is not a string"),
        ('{"model":["glm"],"choices":[]}', "'model' is not a string"),
        ('{"created":"today","choices":[]}', "'created' is not a number"),
    ],
)
def test_decoder_checks_the_identity_of_the_first_chunk(payload, field):
    with pytest.raises(InvalidChunk, match=field):
        ChunkDecoder().decode(payload)


def test_decoder_keeps_tolerating_empty_and_null_fields():
    d = ChunkDecoder()
    events = d.decode(
        '{"id":"x","created":1.0,"choices":[{"index":0,"delta":null,"finish_reason":null}],"usage":null}'
    )
    assert events == [StreamStart("x", None, 1)]
    assert d.decode('{"choices":[],"usage":{}}') == []
    assert d.decode('{"choices":[{"delta":{"content":"","tool_calls":[]},"finish_reason":""}]}') == []
    tool = '{"choices":[{"delta":{"tool_calls":[{"function":{"name":"f","arguments":null}}]}}]}'
    assert d.decode(tool) == [ToolCallDelta(0, None, None, "f", "")]
    usage = '{"usage":{"prompt_tokens":3.0,"completion_tokens":null,"prompt_tokens_details":null}}'
    assert d.decode(usage) == [UsageReport(Usage(3, 0, 0, 0, 0))]


def test_whole_replies_are_checked_the_same_way():
    body = {"id": "x", "choices": [{"index": 0, "finish_reason": "stop", "message": {"content": "hi"}}]}
    assert completion_events(body) == [StreamStart("x", None, None), ContentDelta("hi"), Finish("stop")]
    with pytest.raises(InvalidChunk, match="not a JSON object"):
        completion_events([body])
    with pytest.raises(InvalidChunk, match="'message' is not an object"):
        completion_events({"choices": [{"message": "hi"}]})
    with pytest.raises(StreamErrorFrame):
        completion_events({"error": {"code": "1302", "message": "busy"}})


def test_server_text_in_errors_is_one_clean_short_line():
    raw = json.dumps(
        {
            "error": {
                "code": "13\x1b[31m02",
                "message": "\x1b[31mbusy\x1b[0m\r\nnow\x1b]52;c;eA==\x07" + "x" * 5000,
            }
        }
    )
    code, message = parse_error_body(raw.encode())
    assert code == "1302" and message.startswith("busy now") and len(message) == MAX_MESSAGE_CHARS
    assert message.endswith("…") and "\x1b" not in message
    code, message = parse_error_body(b"<html>\r\n\x1b[2J" + b"y" * 100_000)
    assert code is None and message.startswith("<html> y") and len(message) == MAX_MESSAGE_CHARS
    frame = '{"error":{"code":1234,"message":"line one\\nline two\\u001b[1m"}}'
    with pytest.raises(StreamErrorFrame) as caught:
        ChunkDecoder().decode(frame)
    assert (caught.value.code, caught.value.message) == ("1234", "line one line two")
