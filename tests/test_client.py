"""The client against the local server over loopback: faults, retries, early exits."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from glm_notebook import (
    APIConnectionError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ContentDelta,
    GLMClient,
    IncompleteStreamError,
    MissingAPIKeyError,
    ProtocolError,
    QuotaError,
    RateLimitError,
    ServerError,
    ServiceStreamError,
)

PROMPT = "Explain streaming in one paragraph"


def client_for(server, max_retries=2, **kw):
    return GLMClient(server.api_key, server.base_url, max_retries=max_retries, retry_backoff=0.01, **kw)


def requests_since(server, start):
    return server.records[start:]


def test_chat_assembles_a_full_answer(server):
    reply = client_for(server).chat(PROMPT, temperature=0.5)
    assert reply.complete and reply.finish_reason == "stop"
    assert reply.reasoning and "```python" in reply.text and "|" in reply.text
    assert reply.usage.completion_tokens == reply.chunks - 1
    assert reply.ttft is not None and reply.elapsed >= reply.ttft
    assert reply.request["temperature"] == 0.5 and str(reply) == reply.text


def test_thinking_disabled_and_max_tokens(server):
    client = client_for(server)
    assert client.chat(PROMPT, thinking=False).reasoning == ""
    short = client.chat(PROMPT, max_tokens=5)
    assert short.finish_reason == "length" and short.status == "cut short by max_tokens"


def test_missing_key_says_how_to_set_it(monkeypatch, server):
    monkeypatch.delenv("ZAI_API_KEY")
    with pytest.raises(MissingAPIKeyError, match="ZAI_API_KEY"):
        GLMClient(base_url=server.base_url).chat("hi")


def test_wrong_key_is_rejected_and_never_shown(server):
    secret = "sk-wrong-0123456789abcdef"
    client = GLMClient(secret, server.base_url)
    with pytest.raises(AuthenticationError) as caught:
        client.chat("hi")
    err = caught.value
    assert (err.status, err.code) == (401, "1000")
    for text in (str(err), repr(err), repr(client), "".join(err._render_traceback_())):
        assert secret not in text and secret[-8:] not in text
    assert "ZAI_API_KEY" in str(err) and "\n" not in str(err)


def test_busy_is_retried_until_it_works(server):
    start = len(server.records)
    reply = client_for(server).chat("[[status=429,code=1302,retry_after=0,times=2]] hello")
    assert reply.complete
    assert [r.status for r in requests_since(server, start)] == [429, 429, 200]


def test_retries_are_bounded(server):
    start = len(server.records)
    with pytest.raises(ServerError) as caught:
        client_for(server, max_retries=2).chat("[[status=503,times=9]] hello again")
    assert caught.value.status == 503 and caught.value.retryable
    assert len(requests_since(server, start)) == 3


@pytest.mark.parametrize(
    "directive, error, code",
    [
        ("status=429,code=1113,message=Insufficient_balance", QuotaError, "1113"),
        ("status=400,code=1214,message=bad_field", BadRequestError, "1214"),
        ("status=429,code=1302,flat", RateLimitError, "1302"),
    ],
)
def test_errors_that_are_not_retried_or_exhaust_retries(server, directive, error, code):
    start = len(server.records)
    with pytest.raises(error) as caught:
        client_for(server, max_retries=0).chat(f"[[{directive}]] hi")
    assert caught.value.code == code and f"code {code}" in str(caught.value)
    assert len(requests_since(server, start)) == 1


def test_arrears_is_never_retried(server):
    start = len(server.records)
    with pytest.raises(QuotaError):
        client_for(server, max_retries=3).chat("[[status=429,code=1113]] hi")
    assert len(requests_since(server, start)) == 1


def test_unknown_model_is_a_bad_request(server):
    with pytest.raises(BadRequestError, match="1211"):
        client_for(server).chat("hi", model="unknown-model")


def test_html_page_instead_of_a_stream(server):
    with pytest.raises(ProtocolError, match="text/html.*Bad gateway page"):
        client_for(server, max_retries=0).chat("[[status=200,content_type=html]] hi")


def _partial(excinfo):
    reply = excinfo.value.reply
    assert reply is not None and reply.text and not reply.complete and reply.stopped == "error"
    return reply


def test_cut_connection_keeps_the_partial_answer_and_is_not_retried(server):
    start = len(server.records)
    with pytest.raises(IncompleteStreamError) as caught:
        client_for(server).chat("[[cut=60]] tell me more")
    assert "partial" in str(caught.value)
    _partial(caught)
    assert len(requests_since(server, start)) == 1


def test_clean_end_without_final_chunk(server):
    with pytest.raises(IncompleteStreamError) as caught:
        client_for(server).chat("[[end=60]] tell me more")
    _partial(caught)


def test_error_frame_mid_stream(server):
    with pytest.raises(ServiceStreamError, match="1234") as caught:
        client_for(server).chat("[[error_frame=60]] tell me more")
    _partial(caught)
    with pytest.raises(ServiceStreamError, match="1302"):
        client_for(server).chat("[[error_frame=60,error_event,code=1302]] tell me more")


def test_invalid_json_frame(server):
    with pytest.raises(ProtocolError, match="broken chunk") as caught:
        client_for(server).chat("[[bad_json=60]] tell me more")
    _partial(caught)


def test_silent_stream_times_out_with_the_partial_answer(server):
    client = client_for(server, timeout=httpx.Timeout(0.5, connect=5))
    with pytest.raises(APITimeoutError, match="silent") as caught:
        client.chat("[[stall=20,at=60]] tell me more")
    _partial(caught)


def test_connection_refused(server):
    client = GLMClient("k" * 16, "http://127.0.0.1:9/api/paas/v4", max_retries=1, retry_backoff=0.01)
    with pytest.raises(APIConnectionError, match="Could not connect"):
        client.chat("hi")


def test_line_separators_and_wire_quirks_stay_text(server):
    reply = client_for(server).chat("[[u2028,crlf,comments,no_object,null_finish,split=1-5]] hi")
    assert "\u2028" in reply.text and "\u2029" in reply.text and reply.complete


def test_finish_reasons_are_reported(server):
    reply = client_for(server).chat("[[finish=sensitive]] hi")
    assert reply.complete and reply.status == "stopped by the content filter"


def test_breaking_out_closes_the_connection(server):
    start = len(server.records)
    client = client_for(server)
    for event in client.stream("[[delay=0.05]] a slow one"):
        if isinstance(event, ContentDelta):
            break
    record = requests_since(server, start)[0]
    assert record.finished.wait(10)
    assert record.disconnected and not record.completed


def test_ctrl_c_closes_the_connection_and_keeps_the_partial(server):
    start = len(server.records)

    def interrupt(event):
        if isinstance(event, ContentDelta):
            raise KeyboardInterrupt  # as if Ctrl-C landed while the caller handled an event

    with pytest.raises(KeyboardInterrupt):
        with client_for(server).stream("[[delay=0.05]] a slow one") as stream:
            for event in stream:
                interrupt(event)
    assert stream.reply.stopped == "interrupted" and stream.reply.text
    record = requests_since(server, start)[0]
    assert record.finished.wait(10) and record.disconnected


@pytest.mark.anyio
async def test_async_cancellation_closes_the_connection(server):
    start = len(server.records)
    client = client_for(server)
    first = asyncio.Event()

    async def consume():
        async with client.astream("[[delay=0.05]] a slow one") as stream:
            async for event in stream:
                if isinstance(event, ContentDelta):
                    first.set()

    task = asyncio.ensure_future(consume())
    await first.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    record = requests_since(server, start)[0]
    assert await asyncio.to_thread(record.finished.wait, 10)
    assert record.disconnected
    await client.aclose()


@pytest.mark.anyio
async def test_async_errors_and_retries_match_sync(server):
    start = len(server.records)
    client = client_for(server)
    reply = await client.achat("[[status=503,times=1,retry_after=0]] hi")
    assert reply.complete and len(requests_since(server, start)) == 2
    with pytest.raises(IncompleteStreamError) as caught:
        await client.achat("[[cut=60]] tell me more")
    _partial(caught)
    events = []
    reply = await client.achat(PROMPT, on_event=events.append)
    assert "".join(e.text for e in events if isinstance(e, ContentDelta)) == reply.text
    await client.aclose()


def test_retry_after_header_forms():
    from glm_notebook.client.base import _retry_after

    assert _retry_after("2.5") == 2.5
    assert _retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # a date in the past: now
    assert _retry_after(None) is None and _retry_after("") is None and _retry_after("soon") is None
    assert _retry_after("-5") == 0.0 and _retry_after("nan") is None and _retry_after("inf") == float("inf")
    far = _retry_after("Fri, 01 Jan 2100 00:00:00 -0000")  # no zone named: read as UTC
    assert far is not None and far > 365 * 86400


def test_retry_after_reaches_the_error(server):
    with pytest.raises(RateLimitError) as caught:
        client_for(server, max_retries=0).chat("[[status=429,code=1303,retry_after=7]] hi")
    assert caught.value.retry_after == 7.0 and caught.value.retryable


def test_client_context_managers_close_their_pools(server):
    with client_for(server) as client:
        assert client.chat(PROMPT).complete
    assert client._http is None


@pytest.mark.anyio
async def test_async_client_context_manager_closes_its_pools(server):
    async with client_for(server) as client:
        assert (await client.achat(PROMPT)).complete
    assert client._http is None and client._ahttp is None
