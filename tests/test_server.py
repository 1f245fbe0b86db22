"""Black-box tests of the local Z.ai-compatible server, over real HTTP on loopback."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from glm_notebook.server import (
    DirectiveError,
    LocalServer,
    ServerConfig,
    format_directives,
    list_recordings,
    parse_directives,
)
from glm_notebook.server.tokens import slices, tokenize

MODEL = "glm-4.7-flash"
RECORDINGS = ServerConfig().recordings_dir


@pytest.fixture(scope="module")
def server() -> LocalServer:
    with LocalServer() as local:
        yield local


@pytest.fixture(scope="module")
def client(server: LocalServer) -> httpx.Client:
    headers = {"Authorization": f"Bearer {server.api_key}"}
    with httpx.Client(headers=headers, timeout=10.0) as http:
        yield http


# helpers -------------------------------------------------------------------------------------


def payload(prompt: str = "Explain Python decorators", *, stream: bool = True, **extra: Any) -> dict:
    return {"model": MODEL, "messages": [{"role": "user", "content": prompt}], "stream": stream, **extra}


def post(client: httpx.Client, base: str, body: Any, **kwargs: Any) -> httpx.Response:
    if isinstance(body, (dict, list)):
        return client.post(f"{base}/chat/completions", json=body, **kwargs)
    return client.post(f"{base}/chat/completions", content=body, **kwargs)


def frames(raw: bytes) -> list[str]:
    """SSE events of a body (LF or CRLF framing), as text blocks."""
    text = raw.decode("utf-8").replace("\r\n", "\n")
    return [block for block in text.split("\n\n") if block]


def data_of(raw: bytes) -> list[str]:
    """The `data:` payloads, in order."""
    return [
        line[len("data: ") :]
        for block in frames(raw)
        for line in block.split("\n")
        if line.startswith("data: ")
    ]


def chunks_of(raw: bytes) -> list[dict]:
    return [json.loads(data) for data in data_of(raw) if data != "[DONE]"]


def assemble(chunks: list[dict]) -> dict[str, Any]:
    reasoning = "".join(c["choices"][0]["delta"].get("reasoning_content", "") for c in chunks)
    content = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks)
    final = chunks[-1]
    return {
        "reasoning": reasoning,
        "content": content,
        "finish": final["choices"][0].get("finish_reason"),
        "usage": final.get("usage"),
    }


def stream_text(client: httpx.Client, base: str, prompt: str, **extra: Any) -> dict[str, Any]:
    response = post(client, base, payload(prompt, **extra))
    assert response.status_code == 200, response.text
    return assemble(chunks_of(response.content))


# auth and validation -------------------------------------------------------------------------


def test_missing_key_is_rejected_with_1001(server: LocalServer) -> None:
    response = httpx.post(f"{server.base_url}/chat/completions", json=payload())
    assert response.status_code == 401
    assert response.json() == {
        "error": {"code": "1001", "message": "Authentication parameter not received in Header"}
    }


def test_wrong_key_is_rejected_with_1000_and_never_echoed(server: LocalServer) -> None:
    index = len(server.records)
    response = httpx.post(
        f"{server.base_url}/chat/completions",
        json=payload(),
        headers={"Authorization": "Bearer sk-wrong-secret"},
    )
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "1000"
    assert "sk-wrong-secret" not in response.text
    record = server.wait_finished(index)
    assert record.status == 401
    assert "sk-wrong-secret" not in repr(record) and server.api_key not in repr(server.records)
    assert server.api_key not in repr(server.config)


@pytest.mark.parametrize(
    ("body", "code", "needle"),
    [
        (b"{not json", "1214", ""),
        ({"model": MODEL}, "1214", "messages"),
        ({"model": MODEL, "messages": []}, "1214", "messages"),
        ({"messages": [{"role": "user", "content": "hi"}]}, "1214", "model"),
        ({**payload(), "temperature": 1.5}, "1214", "temperature"),
        ({**payload(), "max_tokens": 0}, "1214", "max_tokens"),
        ({**payload(), "model": "unknown-model"}, "1211", "Unknown Model"),
    ],
)
def test_bad_requests_get_400(
    client: httpx.Client, server: LocalServer, body: Any, code: str, needle: str
) -> None:
    response = post(client, server.base_url, body)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == code and needle in error["message"]


def test_an_unknown_model_gets_1211_like_the_service(client: httpx.Client, server: LocalServer) -> None:
    response = post(client, server.base_url, {**payload(), "model": "glm-9-imaginary"})
    assert response.status_code == 400 and response.json()["error"]["code"] == "1211"
    response = post(client, server.base_url, {**payload(), "model": "GLM-4.6"})
    assert {c["model"] for c in chunks_of(response.content)} == {"GLM-4.6"}


def test_with_models_none_any_model_name_is_answered_and_echoed() -> None:
    with LocalServer(ServerConfig(api_key="k-any", models=None)) as local, httpx.Client() as client:
        response = client.post(
            f"{local.base_url}/chat/completions",
            json={**payload(), "model": "glm-9-imaginary"},
            headers={"Authorization": "Bearer k-any"},
        )
        assert {c["model"] for c in chunks_of(response.content)} == {"glm-9-imaginary"}


def test_unknown_route_gets_a_zai_404(client: httpx.Client, server: LocalServer) -> None:
    response = client.post(f"{server.origin}/api/paas/v4/nothing-here", json={})
    assert response.status_code == 404 and "error" in response.json()


# the stream ----------------------------------------------------------------------------------


def test_stream_framing_and_chunk_shape(client: httpx.Client, server: LocalServer) -> None:
    response = post(client, server.base_url, payload())
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/event-stream;charset=UTF-8"
    raw = response.content
    assert raw.endswith(b"data: [DONE]\n\n")
    blocks = frames(raw)
    assert all(block.startswith("data: ") and "\n" not in block for block in blocks)
    chunks = chunks_of(raw)
    assert len(chunks) == len(blocks) - 1
    ids = {c["id"] for c in chunks}
    assert len(ids) == 1
    for chunk in chunks:
        assert list(chunk)[:5] == ["id", "created", "object", "model", "choices"]
        assert chunk["object"] == "chat.completion.chunk" and chunk["model"] == MODEL
        assert isinstance(chunk["created"], int)
        (choice,) = chunk["choices"]
        assert choice["index"] == 0 and choice["delta"]["role"] == "assistant"
    for chunk in chunks[:-1]:
        assert "finish_reason" not in chunk["choices"][0] and "usage" not in chunk
        assert len(chunk["choices"][0]["delta"]) == 2
    final = chunks[-1]
    assert final["choices"][0] == {
        "index": 0,
        "finish_reason": "stop",
        "delta": {"role": "assistant", "content": ""},
    }
    usage = final["usage"]
    reasoning_chunks = sum("reasoning_content" in c["choices"][0]["delta"] for c in chunks)
    assert usage["completion_tokens"] == len(chunks) - 1
    assert usage["completion_tokens_details"] == {"reasoning_tokens": reasoning_chunks}
    assert usage["prompt_tokens"] == 3 + 8
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    assert usage["prompt_tokens_details"] == {"cached_tokens": 0}
    assert b'"model":"glm-4.7-flash"' in raw  # compact separators


def test_reasoning_comes_before_content(client: httpx.Client, server: LocalServer) -> None:
    kinds = [
        "reasoning" if "reasoning_content" in c["choices"][0]["delta"] else "content"
        for c in chunks_of(post(client, server.base_url, payload()).content)[:-1]
    ]
    assert kinds[0] == "reasoning" and "content" in kinds
    assert kinds == sorted(kinds, key=lambda kind: kind != "reasoning")


def test_tokens_look_like_real_traffic(client: httpx.Client, server: LocalServer) -> None:
    texts = [
        c["choices"][0]["delta"].get("content")
        for c in chunks_of(post(client, server.base_url, payload()).content)
    ]
    words = [t for t in texts if t]
    assert " Python" in words and "." in words  # words keep their leading space, punctuation alone
    assert not any(
        len(t) > 1 and t.rstrip("\n")[-1] in ".,:;" and t.strip("\n")[:-1].strip().isalnum() for t in words
    )
    assert any(t.endswith("\n") and t.strip() for t in words)  # newlines stick to the token before


def test_thinking_disabled_sends_no_reasoning(client: httpx.Client, server: LocalServer) -> None:
    response = post(client, server.base_url, payload(thinking={"type": "disabled"}))
    chunks = chunks_of(response.content)
    assert not any("reasoning_content" in c["choices"][0]["delta"] for c in chunks)
    assert chunks[-1]["usage"]["completion_tokens_details"]["reasoning_tokens"] == 0
    assert assemble(chunks)["content"].startswith("## ")


def test_max_tokens_stops_with_length(client: httpx.Client, server: LocalServer) -> None:
    chunks = chunks_of(post(client, server.base_url, payload(max_tokens=50)).content)
    assert len(chunks) == 51
    final = chunks[-1]
    assert final["choices"][0]["finish_reason"] == "length"
    assert final["usage"]["completion_tokens"] == 50


def test_non_stream_reply_matches_the_recorded_shape(client: httpx.Client, server: LocalServer) -> None:
    response = post(client, server.base_url, payload(stream=False))
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json; charset=UTF-8"
    data = response.json()
    assert list(data) == ["choices", "created", "id", "model", "object", "request_id", "usage"]
    assert data["object"] == "chat.completion" and data["request_id"] == data["id"]
    (choice,) = data["choices"]
    assert choice["finish_reason"] == "stop" and choice["index"] == 0
    assert set(choice["message"]) == {"content", "reasoning_content", "role"}
    streamed = stream_text(client, server.base_url, "Explain Python decorators")
    assert choice["message"]["content"] == streamed["content"]
    assert choice["message"]["reasoning_content"] == streamed["reasoning"]
    assert data["usage"]["completion_tokens_details"]["reasoning_tokens"] > 0


# deterministic answers -----------------------------------------------------------------------


_IDENTITY = re.compile(rb'"id":"local-[0-9a-f]{24}","created":\d{10}')


def without_identity(body: bytes) -> bytes:
    """`body` with each completion's id and time (unique per response, as the service's) masked."""
    return _IDENTITY.sub(b'"id":"local-*","created":0', body)


def test_same_prompt_gives_the_same_bytes(client: httpx.Client, server: LocalServer) -> None:
    first = post(client, server.base_url, payload("Tell me about sorting")).content
    second = post(client, server.base_url, payload("Tell me about sorting")).content
    assert first != second and without_identity(first) == without_identity(second)
    content = assemble(chunks_of(first))["content"]
    assert content.startswith("## Tell me about sorting\n")
    for needle in (
        "```python\ndef answer_tell_me_about(",
        "|---|",
        "$E = mc^2$",
        "$$\\sum_{i=1}^{n} i",
        "\n- ",
    ):
        assert needle in content
    assert 700 <= len(content) <= 1300
    other = assemble(chunks_of(post(client, server.base_url, payload("Something else")).content))["content"]
    assert other != content


def test_answer_depends_on_history_and_system(client: httpx.Client, server: LocalServer) -> None:
    messages = [
        {"role": "system", "content": "You are a terse assistant."},
        {"role": "user", "content": "What is a monad?"},
        {"role": "assistant", "content": "A monoid in the category of endofunctors."},
        {"role": "user", "content": [{"type": "text", "text": "Give an example"}]},
    ]
    response = post(client, server.base_url, {"model": MODEL, "messages": messages, "stream": True})
    answer = assemble(chunks_of(response.content))
    assert answer["content"].startswith("> System: You are a terse assistant.\n")
    assert 'This is turn 2 of our conversation; you first asked about "What is a monad?"' in answer["content"]
    assert "## Give an example" in answer["content"]
    assert "turn 2" in answer["reasoning"]


def test_json_object_mode(client: httpx.Client, server: LocalServer) -> None:
    answer = stream_text(
        client, server.base_url, "List three colours", response_format={"type": "json_object"}
    )
    assert json.loads(answer["content"]) == {
        "prompt": "List three colours",
        "words": 3,
        "characters": 18,
        "turn": 1,
    }


def test_tokenizer_round_trips() -> None:
    text = "Olá! **bold**\n\n  indented 你好，世界 👩\u200d💻 a\u2028b internationalization_is_long"
    tokens = tokenize(text)
    assert "".join(tokens) == text and " bold" not in tokens and "**\n\n" not in tokens
    assert " indented" in tokens or "indented" in tokens
    assert "".join(slices(text)) == text and all(len(s) <= 8 for s in slices(text))


# directives ----------------------------------------------------------------------------------


def test_directive_parsing() -> None:
    d = parse_directives(["cut=20,split=1-7", "message=Too_busy,flat,retry_after=1.5"])
    assert (d.cut, d.split, d.message, d.flat, d.retry_after) == (20, (1, 7), "Too busy", True, "1.5")
    assert d.given == {"cut", "split", "message", "flat", "retry_after"}
    assert d.without_faults().cut is None and d.without_faults().split == (1, 7)
    assert (
        format_directives(split=(1, 7), echo=True, crlf=False, message="a b") == "split=1-7,echo,message=a_b"
    )
    for bad in ("stauts=500", "cut=abc", "split=5-2", "status=42", "cut"):
        with pytest.raises(DirectiveError):
            parse_directives([bad])


def test_unknown_directive_in_prompt_fails_loudly(client: httpx.Client, server: LocalServer) -> None:
    response = post(client, server.base_url, payload("hello [[stauts=500]]"))
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "1214" and "stauts" in response.json()["error"]["message"]
    response = post(client, f"{server.origin}/_/echo,bogus=1/api/paas/v4", payload())
    assert response.status_code == 400 and "bogus" in response.json()["error"]["message"]


def test_echo_strips_directive_groups_and_keeps_hostile_html(
    client: httpx.Client, server: LocalServer
) -> None:
    prompt = (
        "[[echo]] <script>alert('x')</script> <img src=x onerror=alert(1)> [[Python]] [[finish=sensitive]]"
    )
    answer = stream_text(client, server.base_url, prompt)
    assert answer["content"] == "<script>alert('x')</script> <img src=x onerror=alert(1)> [[Python]]"
    assert answer["reasoning"] == "Echoing the prompt."
    assert answer["finish"] == "sensitive"


def test_status_directive_with_times_fails_then_succeeds(client: httpx.Client, server: LocalServer) -> None:
    base = server.url_with(status=503, times=2, retry_after=3, tag="retry-test")
    first, second, third = (post(client, base, payload()) for _ in range(3))
    assert first.status_code == second.status_code == 503
    assert first.json() == {"error": {"code": "500", "message": "Internal Error"}}
    assert first.headers["retry-after"] == "3"
    assert third.status_code == 200 and third.content.endswith(b"data: [DONE]\n\n")


def test_status_directive_codes_messages_and_flat_body(client: httpx.Client, server: LocalServer) -> None:
    response = post(client, server.base_url, payload("hi [[status=429]]"))
    assert response.status_code == 429 and response.json()["error"]["code"] == "1302"
    response = post(client, server.base_url, payload("hi [[status=429,code=1113,message=Pay_up,flat]]"))
    assert response.status_code == 429 and response.json() == {"code": 1113, "message": "Pay up"}
    assert "retry-after" not in response.headers


def test_html_content_type_directive(client: httpx.Client, server: LocalServer) -> None:
    response = post(client, server.url_with(content_type="html"), payload())
    assert response.status_code == 200 and response.headers["content-type"] == "text/html"
    assert response.text == "<html><body>Bad gateway page from a proxy</body></html>"
    assert post(client, server.base_url, payload("x [[status=502,content_type=html]]")).status_code == 502


def test_cut_drops_the_connection(client: httpx.Client, server: LocalServer) -> None:
    index = len(server.records)
    received: list[str] = []
    with pytest.raises(httpx.RemoteProtocolError):
        with client.stream("POST", f"{server.url_with(cut=5)}/chat/completions", json=payload()) as response:
            for line in response.iter_lines():
                received.append(line)
    assert len([line for line in received if line.startswith("data: ")]) == 5
    record = server.wait_finished(index)
    assert record.aborted and not record.completed and record.chunks_sent == 5


def test_end_stops_cleanly_without_final_chunk(client: httpx.Client, server: LocalServer) -> None:
    raw = post(client, server.base_url, payload("hi [[end=4]]")).content
    chunks = chunks_of(raw)
    assert len(chunks) == 4 and b"[DONE]" not in raw
    assert all("finish_reason" not in c["choices"][0] for c in chunks)


@pytest.mark.parametrize("event", [False, True])
def test_error_frame(client: httpx.Client, server: LocalServer, event: bool) -> None:
    raw = post(client, server.url_with(error_frame=3, error_event=event), payload()).content
    blocks = frames(raw)
    assert len(blocks) == 4 and b"[DONE]" not in raw
    expected = 'data: {"error":{"code":"1234","message":"Network error, please try again later"}}'
    assert blocks[-1] == ("event: error\n" if event else "") + expected
    raw = post(client, server.url_with(error_frame=0, code=1302, message="Busy now"), payload()).content
    assert raw == b'data: {"error":{"code":"1302","message":"Busy now"}}\n\n'


def test_bad_json_frame_glues_the_next_frame(client: httpx.Client, server: LocalServer) -> None:
    data = data_of(post(client, server.url_with(bad_json=2), payload()).content)
    broken = data[2]
    assert broken.startswith('{"id":"local-') and '"content":"abdata: {' in broken
    with pytest.raises(json.JSONDecodeError):
        json.loads(broken)
    for item in data[:2] + data[3:-1]:
        json.loads(item)
    assert data[-1] == "[DONE]"


def test_finish_directive(client: httpx.Client, server: LocalServer) -> None:
    assert stream_text(client, server.url_with(finish="network_error"), "hi")["finish"] == "network_error"


def test_stall_triggers_client_read_timeout(server: LocalServer) -> None:
    headers = {"Authorization": f"Bearer {server.api_key}"}
    timeout = httpx.Timeout(5.0, read=0.3)
    with httpx.Client(headers=headers, timeout=timeout) as slow:
        index = len(server.records)
        got: list[str] = []
        with pytest.raises(httpx.ReadTimeout):
            with slow.stream(
                "POST", f"{server.url_with(stall=30, at=3)}/chat/completions", json=payload()
            ) as r:
                for line in r.iter_lines():
                    got.append(line)
        assert len([line for line in got if line.startswith("data: ")]) == 3
        assert server.wait_finished(index).disconnected
        with pytest.raises(httpx.ReadTimeout):
            post(slow, server.url_with(stall_headers=30), payload())


def test_disconnect_is_recorded(client: httpx.Client, server: LocalServer) -> None:
    index = len(server.records)
    with client.stream("POST", f"{server.url_with(delay=0.02)}/chat/completions", json=payload()) as response:
        lines = response.iter_lines()
        for _ in range(6):
            next(lines)
    record = server.wait_finished(index)
    assert record.disconnected and not record.completed
    assert 0 < record.chunks_sent < 50


def test_split_delivers_many_small_reads(client: httpx.Client, server: LocalServer) -> None:
    prompt = "[[u2028]] unicode please"
    plain = post(client, server.base_url, payload(prompt)).content
    with client.stream(
        "POST", f"{server.url_with(split=(1, 7), seed=3)}/chat/completions", json=payload(prompt)
    ) as r:
        pieces = list(r.iter_raw())
    assert without_identity(b"".join(pieces)) == without_identity(plain)
    assert len(pieces) >= len(plain) // 7 and max(map(len, pieces)) <= 7
    broken_utf8 = 0
    for piece in pieces:
        try:
            piece.decode("utf-8")
        except UnicodeDecodeError:
            broken_utf8 += 1
    assert broken_utf8 > 0
    with client.stream(
        "POST", f"{server.url_with(split=(1, 7), seed=3)}/chat/completions", json=payload(prompt)
    ) as r:
        assert [len(p) for p in r.iter_raw()] == [len(p) for p in pieces]  # deterministic for a seed


def test_split_with_crlf_cuts_between_cr_and_lf(client: httpx.Client, server: LocalServer) -> None:
    with client.stream(
        "POST", f"{server.url_with(split='1-2', crlf=True)}/chat/completions", json=payload()
    ) as r:
        pieces = list(r.iter_raw())
    assert any(piece.endswith(b"\r") for piece in pieces)
    raw = b"".join(pieces)
    assert b"\r\n\r\n" in raw and raw.endswith(b"data: [DONE]\r\n\r\n")
    assert assemble(chunks_of(raw))["finish"] == "stop"


def test_u2028_and_multibyte_text_survive(client: httpx.Client, server: LocalServer) -> None:
    raw = post(client, server.base_url, payload("[[u2028]] check")).content
    assert "\u2028".encode() in raw and "😀".encode() in raw  # raw, not \\u-escaped
    content = assemble(chunks_of(raw))["content"]
    assert "separator\u2028right" in content and "\u2029" in content and "你好" in content


def test_huge_content(client: httpx.Client, server: LocalServer) -> None:
    chunks = chunks_of(post(client, server.url_with(huge=5000), payload()).content)
    content_pieces = [
        c["choices"][0]["delta"]["content"] for c in chunks[:-1] if "content" in c["choices"][0]["delta"]
    ]
    content = "".join(content_pieces)
    assert (
        len(content) == 5000 and "## Section 12" in content and "```python" in content and "|---:|" in content
    )
    assert all(4 <= len(piece) <= 8 for piece in content_pieces[:-1])


def test_crlf_comments_no_object_null_finish(client: httpx.Client, server: LocalServer) -> None:
    raw = post(
        client, server.url_with(crlf=True, comments=True, no_object=True, null_finish=True), payload()
    ).content
    assert b": keep-alive\r\n" in raw and b"\r\nid: 2\r\n" in raw and b"retry: 3000\r\n" in raw
    assert b"\n\n" not in raw.replace(b"\r\n", b"")
    chunks = chunks_of(raw)
    assert all("object" not in c for c in chunks)
    assert all(c["choices"][0]["finish_reason"] is None for c in chunks[:-1])
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"


def test_url_encoded_prefix_is_accepted(client: httpx.Client, server: LocalServer) -> None:
    base = f"{server.origin}/_/end%3D2%2Cno_object/api/paas/v4"
    chunks = chunks_of(post(client, base, payload()).content)
    assert len(chunks) == 2 and "object" not in chunks[0]


def test_coding_plan_path_is_served(client: httpx.Client, server: LocalServer) -> None:
    response = post(client, f"{server.origin}/api/coding/paas/v4", payload(stream=False))
    assert response.status_code == 200 and response.json()["object"] == "chat.completion"


# replay --------------------------------------------------------------------------------------

needs_recordings = pytest.mark.skipif(RECORDINGS is None, reason="no zai-recordings folder")


@needs_recordings
def test_list_recordings() -> None:
    names = list_recordings(RECORDINGS)
    assert "Common.zai-glm-4-7-flash.simple_streaming.0" in names and len(names) >= 20


@needs_recordings
@pytest.mark.parametrize(
    "name", ["Common.zai-glm-4-7-flash.simple_streaming.0", "Common.zai-glm-4-7-flash.simple.0"]
)
def test_replay_returns_the_recorded_bytes(client: httpx.Client, server: LocalServer, name: str) -> None:
    assert RECORDINGS is not None
    expected = (Path(RECORDINGS) / f"{name}.response").read_bytes()
    meta = json.loads((Path(RECORDINGS) / f"{name}.expected.json").read_text())["meta"]
    response = post(client, server.replay_url(name), payload())
    assert response.status_code == meta["status"]
    assert response.headers["content-type"] == meta["content_type"]
    assert response.content == expected


@needs_recordings
def test_replay_with_split_and_delay(client: httpx.Client, server: LocalServer) -> None:
    assert RECORDINGS is not None
    name = "Common.zai-glm-4.5.simple_streaming.0"
    expected = (Path(RECORDINGS) / f"{name}.response").read_bytes()
    index = len(server.records)
    with client.stream(
        "POST", f"{server.replay_url(name, split=(3, 9), delay=0.0001)}/chat/completions", json={}
    ) as r:
        pieces = list(r.iter_raw())
    assert b"".join(pieces) == expected and max(map(len, pieces)) <= 9
    record = server.wait_finished(index)
    assert record.completed and record.chunks_sent == expected.count(b"data: {")


def test_replay_errors(client: httpx.Client, server: LocalServer) -> None:
    missing = post(client, server.replay_url("No.such.recording"), payload())
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "1222"
    unauthorized = httpx.post(f"{server.replay_url('No.such.recording')}/chat/completions", json=payload())
    assert unauthorized.status_code == 401
    refused = post(client, server.replay_url("No.such.recording", echo=True), payload())
    assert refused.status_code == 400 and "echo" in refused.json()["error"]["message"]


# hostile traffic (hardening directives) ------------------------------------------------------


def test_hostile_directives_parse_and_refuse_bad_values() -> None:
    d = parse_directives(
        [
            "shape=args_obj,at=3,gzip_broken=2,big_error=10,big_json=20,long_line=30",
            "no_response,ansi_error,retry_after=-5",
        ]
    )
    assert (d.shape, d.at, d.gzip_broken, d.big_error, d.big_json, d.long_line) == (
        "args_obj",
        3,
        2,
        10,
        20,
        30,
    )
    assert d.no_response and d.ansi_error and d.retry_after == "-5"
    assert d.without_faults().given == set()
    for bad in ("shape=square", "big_error=0", "long_line=-1", "gzip_broken=x"):
        with pytest.raises(DirectiveError):
            parse_directives([bad])


@pytest.mark.parametrize(
    "shape, check",
    [
        ("choices_int", lambda c: c["choices"] == [42]),
        ("choices_obj", lambda c: isinstance(c["choices"], dict)),
        ("delta_str", lambda c: c["choices"][0]["delta"] == "x"),
        ("content_int", lambda c: c["choices"][0]["delta"]["content"] == 42),
        ("content_list", lambda c: isinstance(c["choices"][0]["delta"]["content"], list)),
        ("finish_int", lambda c: c["choices"][0]["finish_reason"] == 7),
        ("tool_name_int", lambda c: c["choices"][0]["delta"]["tool_calls"][0]["function"]["name"] == 42),
        (
            "args_obj",
            lambda c: c["choices"][0]["delta"]["tool_calls"][0]["function"]["arguments"] == {"city": "Paris"},
        ),
    ],
)
def test_shape_spoils_the_chunk_at_the_position(
    client: httpx.Client, server: LocalServer, shape: str, check: Any
) -> None:
    chunks = chunks_of(post(client, server.url_with(shape=shape, at=2), payload()).content)

    def spoiled(chunk: dict) -> bool:
        try:
            return bool(check(chunk))
        except (KeyError, IndexError, TypeError):
            return False

    assert [i for i, c in enumerate(chunks) if spoiled(c)] == [2]


@pytest.mark.parametrize("shape, usage", [("usage_str", "lots"), ("tokens_str", "many")])
def test_usage_shapes_spoil_the_final_chunk(
    client: httpx.Client, server: LocalServer, shape: str, usage: str
) -> None:
    chunks = chunks_of(post(client, server.url_with(shape=shape), payload()).content)
    final = chunks[-1]["usage"]
    assert (final if isinstance(final, str) else final["prompt_tokens"]) == usage
    whole = post(client, server.url_with(shape=shape), payload(stream=False)).json()
    assert (whole["usage"] if isinstance(whole["usage"], str) else whole["usage"]["prompt_tokens"]) == usage


def test_shape_applies_to_whole_replies(client: httpx.Client, server: LocalServer) -> None:
    body = post(client, server.url_with(shape="content_int"), payload(stream=False)).json()
    assert body["choices"][0]["message"]["content"] == 42


def test_gzip_broken_is_valid_gzip_up_to_the_break(client: httpx.Client, server: LocalServer) -> None:
    import zlib

    with client.stream("POST", f"{server.url_with(gzip_broken=3)}/chat/completions", json=payload()) as r:
        assert r.headers["content-encoding"] == "gzip"
        raw = b"".join(r.iter_raw())
    inflater = zlib.decompressobj(wbits=31)
    with pytest.raises(zlib.error, match="invalid block type"):
        inflater.decompress(raw)
    good = zlib.decompressobj(wbits=31).decompress(raw[: raw.rindex(b"\x07\xff\xff\xff\xff")])
    assert len(data_of(good)) == 3
    whole = post(client, server.url_with(gzip_broken=1000), payload(stream=False))
    assert whole.json()["choices"][0]["finish_reason"] == "stop"  # httpx inflates a valid body


@pytest.mark.parametrize("value", ["3600", "inf", "-5", "nan", "past", "date"])
def test_retry_after_values_are_sent_as_asked(client: httpx.Client, server: LocalServer, value: str) -> None:
    import email.utils
    import time

    header = post(client, server.url_with(status=429, retry_after=value), payload()).headers["retry-after"]
    if value in ("past", "date"):
        when = email.utils.parsedate_to_datetime(header).timestamp()
        assert (when < time.time()) == (value == "past")
    else:
        assert header == value


def test_big_error_and_big_json_bodies_have_the_size_asked(client: httpx.Client, server: LocalServer) -> None:
    error = post(client, server.url_with(big_error=200_000, status=503), payload())
    assert error.status_code == 503 and len(error.content) == 200_000
    assert error.json()["error"]["message"] == "x" * (200_000 - len('{"error":{"code":"500","message":""}}'))
    reply = post(client, server.url_with(big_json=300_000), payload())
    assert reply.headers["content-type"].startswith("application/json") and len(reply.content) == 300_000
    assert reply.json()["choices"][0]["message"]["content"].startswith("xxx")


def test_long_line_never_ends(client: httpx.Client, server: LocalServer) -> None:
    raw = post(client, server.url_with(long_line=500_000, at=2), payload()).content
    assert raw.count(b"\n\n") == 2 and not raw.endswith(b"\n")
    tail = raw[raw.rindex(b"\n") + 1 :]
    assert tail.startswith(b'data: {"id":') and len(tail) == 500_000 and tail.endswith(b"xxx")


def test_no_response_sends_no_headers_until_the_client_leaves(server: LocalServer) -> None:
    headers = {"Authorization": f"Bearer {server.api_key}"}
    index = len(server.records)
    with httpx.Client(headers=headers, timeout=httpx.Timeout(5.0, read=0.3)) as slow:
        with pytest.raises(httpx.ReadTimeout):
            post(slow, server.url_with(no_response=True), payload())
    record = server.wait_finished(index)
    assert record.disconnected and record.bytes_sent == 0


def test_ansi_error_puts_escape_codes_in_error_messages(client: httpx.Client, server: LocalServer) -> None:
    from glm_notebook.server.shapes import ANSI_MESSAGE

    assert (
        post(client, server.url_with(status=500, ansi_error=True), payload()).json()["error"]["message"]
        == ANSI_MESSAGE
    )
    frame = data_of(post(client, server.url_with(error_frame=2, ansi_error=True), payload()).content)[-1]
    assert json.loads(frame)["error"]["message"] == ANSI_MESSAGE


def test_long_event_sends_data_lines_without_a_blank_line(client: httpx.Client, server: LocalServer) -> None:
    raw = post(client, server.url_with(long_event=300_000, at=1), payload()).content
    head, _, tail = raw.partition(b"\n\n")
    assert head.startswith(b"data: {") and len(tail) == 300_000 and b"\n\n" not in tail
    assert tail.startswith(b"data: xxx") and tail.count(b"\n") > 1000
