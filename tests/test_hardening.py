"""Hostile keys, URLs and traffic against the client, over loopback to the local server (issue 13).

Each test drives the real client against the real server with a fault directive and checks
what a notebook user would get: one line in our words, the partial answer kept and marked, no
key anywhere, bounded reads, and the server's request log for how many requests went out.
"""

from __future__ import annotations

import logging
import re
import warnings

import httpx
import pytest

from glm_notebook import (
    APIConnectionError,
    APITimeoutError,
    AuthenticationError,
    ContentDelta,
    GLMClient,
    GLMError,
    IncompleteStreamError,
    InvalidAPIKeyError,
    ProtocolError,
    RateLimitError,
    ServerError,
    ServiceStreamError,
)
from glm_notebook.client.base import MAX_ERROR_BODY, MAX_JSON_BODY, MAX_RETRY_AFTER, MAX_SSE_EVENT
from glm_notebook.client.config import APIKey, mask_key
from glm_notebook.errors import InsecureURLWarning
from glm_notebook.server.shapes import SHAPES
from glm_notebook.wire.events import Retrying

LONG = "Explain streaming in one paragraph"


def client_for(server, base_url=None, max_retries=2, **kw):
    return GLMClient(
        server.api_key, base_url or server.base_url, max_retries=max_retries, retry_backoff=0.01, **kw
    )


def one_line(error: BaseException) -> str:
    """`str(error)`, checked: one line, no escape codes, no class names of httpx or Python."""
    text = str(error)
    assert "\n" not in text and "\r" not in text and "\x1b" not in text, text
    assert "httpx" not in text and not re.search(r"[a-z](Error|Timeout|Exception)\b", text), text
    return text


def sent(server, start):
    return server.records[start:]


# -- the key -------------------------------------------------------------------------------------

BAD_KEYS = [
    ("sk-0123456789\nabcdef-tail", "a line break at character 14"),
    ("sk-0123456789\rabcdef-tail", "a carriage return"),
    ("sk-0123456789\x00abcdef-tail", "a NUL character"),
    ("sk-0123456789\u00a0abcdef-tail", "U+00A0 NO-BREAK SPACE"),
    ("sk-0123456789\u200babcdef-tail", "U+200B ZERO WIDTH SPACE"),
    ("sk-0123456789 abcdef-tail", "a space"),
    ("sk-0123456789\tabcdef-tail", "a tab"),
    ("sk-0123456789\x1babcdef-tail", "a control character (U+001B)"),
]


@pytest.mark.parametrize("key, problem", BAD_KEYS, ids=[p for _, p in BAD_KEYS])
def test_a_key_that_cannot_be_sent_fails_before_any_request(server, key, problem):
    start = len(server.records)
    client = GLMClient(key, server.base_url)
    with pytest.raises(InvalidAPIKeyError) as caught:
        client.chat("hi")
    text = one_line(caught.value)
    assert problem in text and "(…tail)" in text and "ZAI_API_KEY" in text
    shown = [text, repr(caught.value), "".join(caught.value._render_traceback_()), repr(client)]
    for part in key.split():
        for blob in shown:
            assert part[:10] not in blob and "abcdef" not in blob
    assert sent(server, start) == []


def test_surrounding_whitespace_is_still_stripped(server):
    client = GLMClient(f"  {server.api_key}\n", server.base_url)
    assert client.chat("hi").complete


def test_key_problem_in_the_last_four_characters_shows_no_tail(server):
    with pytest.raises(InvalidAPIKeyError) as caught:
        GLMClient("sk-0123456789abc\u200bd", server.base_url).chat("hi")
    assert "(…" not in str(caught.value) and "abc" not in str(caught.value)
    assert mask_key("sk-0123456789abc\u200bd") == "…"


@pytest.mark.anyio
async def test_async_checks_the_key_too(server):
    with pytest.raises(InvalidAPIKeyError):
        await GLMClient("sk-0123456789\nabcdef", server.base_url).achat("hi")


def _reachable(error: BaseException):
    """Everything a debugger or a verbose traceback can show from `error`: chained errors, and
    each traceback frame's locals with one level of their attributes."""
    seen, todo = [], [error]
    while todo:
        exc = todo.pop()
        if exc is None or any(exc is s for s in seen):
            continue
        seen.append(exc)
        yield from (repr(exc), str(exc), repr(vars(exc)))
        tb = exc.__traceback__
        while tb is not None:
            if tb.tb_frame.f_code.co_filename != __file__:
                for value in tb.tb_frame.f_locals.values():
                    yield repr(value)
                    if hasattr(value, "__dict__"):
                        yield repr(vars(value))
            tb = tb.tb_next
        todo += [exc.__cause__, exc.__context__]


@pytest.mark.parametrize(
    "directive, error",
    [("status=503", ServerError), ("cut=3", IncompleteStreamError), ("shape=content_int", ProtocolError)],
)
def test_no_traceback_frame_or_chained_error_holds_the_key(server, directive, error):
    secret = server.api_key  # accepted, so the request really carries it
    with pytest.raises(error) as caught:
        client_for(server, server.url_with(**dict([directive.split("=")]))).chat(LONG)
    texts = list(_reachable(caught.value))
    assert len(texts) > 10  # the walk did see frames
    for text in texts:
        assert secret not in text


def test_a_rejected_key_leaves_no_trace_in_the_error(server):
    secret = "sk-wrong-0123456789abcdef"
    client = GLMClient(secret, server.base_url)
    with pytest.raises(AuthenticationError) as caught:
        client.chat("hi")
    for text in _reachable(caught.value):
        assert secret not in text
    assert secret not in repr(vars(client)) and secret not in repr(client._key)


def test_the_key_is_in_no_log_record_even_at_debug_level(server, caplog):
    caplog.set_level(logging.DEBUG)
    assert client_for(server).chat("hi").complete
    with pytest.raises(ServerError):
        client_for(server, max_retries=1).chat("[[status=503]] hi")
    logged = [f"{r.name} {r.getMessage()} {r.args!r}" for r in caplog.records]
    assert any(line.startswith("httpcore") for line in logged)  # the debug log was on
    assert not [line for line in logged if server.api_key in line]
    caplog.clear()
    with pytest.raises(InvalidAPIKeyError):
        GLMClient("sk-0123456789\nabcdef", server.base_url).chat("hi")
    assert not [r for r in caplog.records if r.name.startswith(("httpx", "httpcore"))]


def test_the_key_holder_hides_the_key():
    key = APIKey("sk-0123456789abcdef-wxyz")
    assert repr(key) == str(key) == "APIKey('…wxyz')" and key.reveal().endswith("wxyz")
    with pytest.raises(TypeError):
        vars(key)
    import pickle

    with pytest.raises(TypeError):
        pickle.dumps(key)


# -- base URLs -------------------------------------------------------------------------------------


def test_plain_http_to_another_machine_warns_once_per_base_url():
    client = GLMClient("sk-0123456789abcdef", "http://192.0.2.10/api/paas/v4")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        client.stream("hi").close()  # prepared, never sent (a stream starts when iterated)
        client.stream("hi").close()
        GLMClient("sk-0123456789abcdef", "http://192.0.2.10/api/paas/v4").stream("hi").close()
    found = [w for w in caught if issubclass(w.category, InsecureURLWarning)]
    assert len(found) == 1 and "unencrypted" in str(found[0].message)
    assert "192.0.2.10" in str(found[0].message) and "sk-" not in str(found[0].message)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9/api/paas/v4",
        "http://localhost:9/v4",
        "http://[::1]:9/v4",
        "http://api.localhost/v4",
        "https://203.0.113.5/v4",
    ],
)
def test_loopback_and_https_do_not_warn(url):
    with warnings.catch_warnings():
        warnings.simplefilter("error", InsecureURLWarning)
        GLMClient("sk-0123456789abcdef", url).stream("hi").close()


@pytest.mark.parametrize("url", ["api.z.ai/api/paas/v4", "ftp://api.z.ai/v4", "https://"])
def test_a_base_url_that_is_not_http_fails_before_any_request(url):
    with pytest.raises(APIConnectionError, match="ZAI_BASE_URL") as caught:
        GLMClient("sk-0123456789abcdef", url, max_retries=2).chat("hi")
    one_line(caught.value)


# -- chunks of the wrong shape ---------------------------------------------------------------------


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_a_chunk_of_the_wrong_shape_is_a_protocol_error_that_keeps_the_partial(server, shape):
    start = len(server.records)
    with client_for(server) as client, client.stream(f"[[shape={shape},at=5]] {LONG}") as stream:
        with pytest.raises(ProtocolError, match="broken chunk") as caught:
            for _ in stream:
                pass
    one_line(caught.value)
    reply = stream.reply
    assert reply.stopped == "error" and not reply.complete and reply.status.startswith("incomplete")
    assert str(reply) == reply.text and (reply.text or reply.reasoning)
    assert caught.value.reply is reply
    assert len(sent(server, start)) == 1  # a broken stream is not asked again


@pytest.mark.parametrize("shape", ["choices_int", "content_int", "args_obj", "usage_str", "tokens_str"])
def test_a_whole_reply_of_the_wrong_shape_is_a_protocol_error(server, shape):
    with pytest.raises(ProtocolError, match="malformed reply") as caught:
        client_for(server).chat(f"[[shape={shape}]] {LONG}", stream=False)
    one_line(caught.value)


@pytest.mark.anyio
async def test_async_wrong_shape_is_a_protocol_error_too(server):
    client = client_for(server)
    with pytest.raises(ProtocolError) as caught:
        await client.achat(f"[[shape=delta_str,at=3]] {LONG}")
    reply = caught.value.reply
    assert reply.stopped == "error" and (reply.text or reply.reasoning)
    await client.aclose()


@pytest.mark.parametrize("at", [0, 4])
def test_a_broken_gzip_body_is_a_protocol_error(server, at):
    start = len(server.records)
    with client_for(server).stream(f"[[gzip_broken={at}]] {LONG}") as stream:
        with pytest.raises(ProtocolError, match="compressed reply could not be decoded") as caught:
            for _ in stream:
                pass
    one_line(caught.value)
    assert stream.reply.stopped == "error" and len(sent(server, start)) == 1


def test_a_valid_gzip_body_is_read(server):
    reply = client_for(server).chat(f"[[gzip_broken=100000]] {LONG}")
    assert reply.complete and reply.text == client_for(server).chat(LONG).text


# -- Retry-After -----------------------------------------------------------------------------------


def _events(client, prompt):
    events = []
    try:
        client.chat(prompt, on_event=events.append)
    except GLMError as exc:
        return events, exc
    return events, None


@pytest.mark.parametrize("value, said", [("3600", "1 h"), ("inf", "wait indefinitely"), ("date", "24 h")])
def test_a_long_retry_after_gives_up_at_once_and_says_the_wait(server, value, said):
    start = len(server.records)
    events, error = _events(client_for(server), f"[[status=429,code=1302,retry_after={value}]] hi")
    assert isinstance(error, RateLimitError) and not [e for e in events if isinstance(e, Retrying)]
    assert said in one_line(error) and "Wait a moment" not in str(error)
    assert len(sent(server, start)) == 1


@pytest.mark.parametrize("value", ["-5", "0", "nan", "past", "soon-ish"])
def test_a_short_or_odd_retry_after_never_goes_below_the_backoff(server, value):
    client = GLMClient(server.api_key, server.base_url, max_retries=2, retry_backoff=0.05)
    start = len(server.records)
    events, error = _events(client, f"[[status=503,retry_after={value}]] hi")
    retries = [e for e in events if isinstance(e, Retrying)]
    assert isinstance(error, ServerError) and len(sent(server, start)) == 3
    assert [(r.attempt, r.max_retries) for r in retries] == [(1, 2), (2, 2)]
    for r in retries:  # jitter keeps at least half of retry_backoff * 2**(attempt-1)
        assert r.delay >= 0.05 * 2 ** (r.attempt - 1) * 0.5


def test_a_retry_after_within_the_bound_is_honoured(server):
    events, _ = _events(
        client_for(server, max_retries=1), "[[status=429,code=1303,retry_after=0.3,times=1,tag=ra]] hi"
    )
    assert [e.delay for e in events if isinstance(e, Retrying)] == [0.3]
    assert MAX_RETRY_AFTER >= 30


# -- timeouts --------------------------------------------------------------------------------------


def test_a_server_that_never_answers_is_asked_once(server):
    start = len(server.records)
    client = client_for(server, timeout=httpx.Timeout(0.5, connect=5))
    with pytest.raises(APITimeoutError, match="sent no answer for 0.5 s") as caught:
        client.chat("[[no_response]] hi")
    assert not caught.value.retryable and caught.value.waited
    one_line(caught.value)
    records = sent(server, start)
    assert len(records) == 1 and records[0].finished.wait(10) and records[0].disconnected


def test_a_silent_stream_is_not_asked_again_either(server):
    start = len(server.records)
    client = client_for(server, timeout=httpx.Timeout(0.5, connect=5))
    with pytest.raises(APITimeoutError, match="went silent"):
        client.chat("[[stall=20,at=0]] hi")
    assert len(sent(server, start)) == 1


# -- size caps -------------------------------------------------------------------------------------


def test_a_huge_error_body_is_not_read_whole(server):
    size = 200 * 2**20  # made lazily by the server; only what the client takes is sent
    start = len(server.records)
    with pytest.raises(ServerError) as caught:
        client_for(server, max_retries=0).chat(f"[[big_error={size}]] hi")
    text = one_line(caught.value)
    assert caught.value.status == 500 and len(text) < 500 and "not read" in text
    record = sent(server, start)[0]
    assert record.finished.wait(10) and record.disconnected and record.bytes_sent < 32 * 2**20
    assert MAX_ERROR_BODY <= 2**20


def test_a_huge_json_reply_is_refused(server):
    size = 200 * 2**20
    start = len(server.records)
    with pytest.raises(ProtocolError, match=f"larger than {MAX_JSON_BODY // 2**20} MiB") as caught:
        client_for(server).chat(f"[[big_json={size}]] hi")
    one_line(caught.value)
    record = sent(server, start)[0]
    assert len(sent(server, start)) == 1 and record.finished.wait(10) and record.disconnected
    assert record.bytes_sent < MAX_JSON_BODY + 32 * 2**20


@pytest.mark.parametrize("split", [None, "60000-70000"])
@pytest.mark.parametrize("kind", ["long_line", "long_event"])
def test_an_endless_line_or_event_stops_at_the_cap(server, split, kind):
    size = 64 * 2**20
    start = len(server.records)
    base = server.url_with(split=split, seed=1) if split else server.base_url
    with pytest.raises(ProtocolError, match="without ending an event") as caught:
        client_for(server, base).chat(f"[[{kind}={size},at=4]] {LONG}")
    one_line(caught.value)
    reply = caught.value.reply
    assert (reply.text or reply.reasoning) and reply.stopped == "error"
    record = sent(server, start)[0]
    assert record.finished.wait(10) and record.disconnected and record.bytes_sent < size // 2


@pytest.mark.anyio
async def test_async_caps_match_sync(server):
    client = client_for(server, max_retries=0)
    with pytest.raises(ProtocolError, match="without ending an event"):
        await client.achat(f"[[long_event={MAX_SSE_EVENT * 2},at=2]] {LONG}")
    with pytest.raises(ServerError, match="not read"):
        await client.achat(f"[[big_error={MAX_ERROR_BODY * 8}]] hi")
    with pytest.raises(ProtocolError, match="larger than"):
        await client.achat(f"[[big_json={MAX_JSON_BODY + 1000}]] hi")
    await client.aclose()


# -- server text in errors -------------------------------------------------------------------------


def test_escape_codes_and_line_breaks_from_the_server_are_removed(server):
    with pytest.raises(ServiceStreamError) as caught:
        client_for(server).chat("[[error_frame=3,ansi_error]] hi")
    text = one_line(caught.value)
    assert "Overloaded second line" in text and "then the end" in text
    assert "\x07" not in text and "]52;" not in text
    assert "\x1b" not in caught.value.server_message and "\n" not in caught.value.server_message
    with pytest.raises(ServerError) as caught:
        client_for(server, max_retries=0).chat("[[status=500,ansi_error]] hi")
    assert "Overloaded second line" in one_line(caught.value)


def test_an_unknown_finish_reason_and_model_are_shown_clean(server):
    reply = client_for(
        server, server.url_with(finish="\x1b[31mhalted\r\nby\x1b]0;title\x07 " + "z" * 100)
    ).chat("hi")
    assert reply.complete and reply.finish_reason.startswith("\x1b[31m")  # the data stays as sent
    assert reply.status.startswith("finished (halted by ") and len(reply.status) < 60
    reply.model = "glm\x1b[2J\nx"
    assert (
        repr(reply).startswith("<Reply glm x: ") and "\x1b" not in repr(reply) and "\x1b" not in reply.status
    )


def test_a_long_server_message_is_cut(server):
    base = server.url_with(status=400, message="word " * 2000)
    with pytest.raises(GLMError) as caught:
        client_for(server, base).chat("hi")
    assert len(one_line(caught.value)) < 400 and str(caught.value).count("…") == 1


def test_a_dropped_connection_is_one_sentence_in_our_words(server):
    with pytest.raises(IncompleteStreamError) as caught:
        client_for(server).chat("[[cut=10]] tell me more")
    text = one_line(caught.value)
    assert "RemoteProtocolError" not in text and text.count(".") == 1
    assert isinstance(caught.value.__cause__, httpx.RemoteProtocolError)
    assert caught.value.__cause__.__traceback__ is None


def test_connection_refused_is_said_in_our_words():
    client = GLMClient("k" * 16, "http://127.0.0.1:9/api/paas/v4", max_retries=0)
    with pytest.raises(APIConnectionError, match=r"\(connection refused\)") as caught:
        client.chat("hi")
    assert "Errno" not in one_line(caught.value)


# -- retry events ----------------------------------------------------------------------------------


def test_retry_events_arrive_before_each_wait(server):
    start = len(server.records)
    events, error = _events(client_for(server), "[[status=429,code=1302,times=2,tag=ev]] hello")
    assert error is None
    retries = [e for e in events if isinstance(e, Retrying)]
    assert [(r.attempt, r.max_retries) for r in retries] == [(1, 2), (2, 2)]
    assert all(r.delay > 0 and r.reason == "rate limit (code 1302)" for r in retries)
    assert events.index(retries[-1]) < next(i for i, e in enumerate(events) if isinstance(e, ContentDelta))
    assert [r.status for r in sent(server, start)] == [429, 429, 200]


@pytest.mark.anyio
async def test_async_retry_events_arrive_too(server):
    start = len(server.records)
    client = client_for(server)
    events = []
    reply = await client.achat("[[status=503,times=1,tag=aev]] hi", on_event=events.append)
    assert reply.complete and [e.reason for e in events if isinstance(e, Retrying)] == [
        "server error (HTTP 503)"
    ]
    assert [r.status for r in sent(server, start)] == [503, 200]
    await client.aclose()


@pytest.mark.parametrize(
    "prompt, reason",
    [
        ("[[cut=0,times=1,tag=r1]] hi", "connection failure"),
        ("[[end=0,times=1,tag=r4]] hi", "dropped connection"),
        ("[[error_frame=0,code=1305,times=1,tag=r2]] hi", "service error (code 1305)"),
        ("[[status=400,code=1234,times=1,tag=r3]] hi", "service error (code 1234)"),
    ],
)
def test_each_retried_failure_has_a_short_reason(server, prompt, reason):
    events, error = _events(client_for(server), prompt)
    assert error is None and [e.reason for e in events if isinstance(e, Retrying)] == [reason]


def test_a_retry_event_can_stop_the_stream(server):
    start = len(server.records)
    with client_for(server).stream("[[status=503,times=5,tag=stop]] hi") as stream:
        for event in stream:
            assert isinstance(event, Retrying)
            break
    assert stream.reply.stopped == "stopped" and len(sent(server, start)) == 1


def _reference_since_blank(stream: str) -> int:
    """Characters after the last blank line, by the SSE rules (CRLF, LF, CR end a line)."""
    ends = [m.end() for m in re.finditer(r"(?:\r\n|\r(?!\n)|\n)(?:\r\n|\r(?!\n)|\n)", stream)]
    return len(stream) - ends[-1] if ends else len(stream)


@pytest.mark.parametrize(
    "stream",
    [
        "data: a\n\ndata: b",
        "data: a\r\n\r\ndata: b",
        "a\r\nb\r\nc",
        "a\r\rb",
        "a\n\rb",
        "a\r\n\nb",
        "a\n\r\nb",
        "a\r\r\nb",
        "x\r",
        "x\r\n",
        "\n\n",
        "abc",
        "a\nb\nc\n",
        "a\r\n\r",
    ],
)
def test_the_event_cap_counts_from_the_last_blank_line_however_the_stream_is_cut(stream):
    from glm_notebook.client.base import _since_blank

    expected = _reference_since_blank(stream)
    for i in range(1, len(stream)):
        for j in range(i, len(stream)):
            since, last = 0, ""
            for piece in (p for p in (stream[:i], stream[i:j], stream[j:]) if p):
                since, last = _since_blank(piece, since, last), piece[-1]
            # Exact up to the second half of a CRLF: a cap needs no better.
            assert expected <= since <= expected + 2, (stream, i, j)
