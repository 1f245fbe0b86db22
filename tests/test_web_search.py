"""Web search with cited sources: the request shape, sources from any chunk, citations as links,
the Sources list on every surface, and the local server's emulation, over loopback."""

from __future__ import annotations

import asyncio
import json

import pytest

from glm_notebook import GLMClient
from glm_notebook.notebook.terminal import footer_text
from glm_notebook.render.highlight import COPY_BUTTON
from glm_notebook.render.reply_view import reply_html
from glm_notebook.render.sources import sources_html, sources_lines
from glm_notebook.results.reply import Reply
from glm_notebook.wire.events import ContentDelta, Finish, SearchResults, Source
from glm_notebook.wire.protocol import ChunkDecoder, build_request, completion_events
from glm_notebook.wire.web_search import parse_sources, web_search_tool

from .test_render import assert_inert, parse, without_style


def client_for(server, **kw) -> GLMClient:
    return GLMClient(server.api_key, server.base_url, max_retries=0, **kw)


# -- the request ----------------------------------------------------------------------------------


def test_the_request_carries_the_documented_tool_after_function_tools() -> None:
    fn = {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}
    body = build_request(
        "hi", model="glm-4.6", tools=[fn], web_search={"count": 5, "search_recency_filter": "oneWeek"}
    )
    assert body["tools"] == [
        fn,
        {
            "type": "web_search",
            "web_search": {
                "enable": True,
                "search_engine": "search_pro",
                "search_result": True,
                "count": 5,
                "search_recency_filter": "oneWeek",
            },
        },
    ]
    assert build_request("hi", model="glm-4.6", web_search=True)["tools"][0]["web_search"]["enable"] is True
    assert "tools" not in build_request("hi", model="glm-4.6", web_search=False)
    assert "tools" not in build_request("hi", model="glm-4.6")  # byte-exact with the recordings


@pytest.mark.parametrize(
    "options", [{"count": 0}, {"count": 51}, {"count": True}, {"search_recency_filter": "week"}]
)
def test_bad_options_are_refused_before_sending(options) -> None:
    with pytest.raises(ValueError, match="count|search_recency_filter"):
        web_search_tool(options)


# -- sources from the wire --------------------------------------------------------------------------

ARRAY = [
    {"refer": "ref_1", "title": "Pandas 3.0\nreleased", "link": "https://pandas.pydata.org/", "media": "pandas",
     "publish_date": "2026-01-02", "content": "Copy-on-write…", "icon": "https://x/i.png"},
    {"refer": "ref_2", "title": "<script>alert(1)</script> $\\unicode{x}$", "link": "javascript:alert(1)"},
    "not an object",
    {"title": "no refer"},
]  # fmt: skip


def _chunk(extra: dict, content: str = "") -> str:
    delta = {"role": "assistant", "content": content} if content else {"role": "assistant"}
    return json.dumps({"id": "x", "choices": [{"index": 0, "delta": delta}], **extra})


@pytest.mark.parametrize("where", ["first", "middle", "last"])
def test_sources_are_taken_from_whichever_chunk_carries_them(where) -> None:
    chunks = [
        _chunk({}, "Pandas 3 [ref_1]"),
        _chunk({}, " and more."),
        _chunk({"usage": {"total_tokens": 3}}),
    ]
    index = {"first": 0, "middle": 1, "last": 2}[where]
    chunks[index] = chunks[index][:-1] + ',"web_search":' + json.dumps(ARRAY) + "}"
    decoder, reply = ChunkDecoder(), Reply()
    for data in chunks:
        for event in decoder.decode(data):
            reply.apply(event)
    assert [s.ref for s in reply.sources] == ["ref_1", "ref_2"]
    assert reply.sources[0].title == "Pandas 3.0 released" and reply.sources[0].number == 1
    assert reply.text == "Pandas 3 [ref_1] and more."


def test_odd_web_search_values_cost_nothing() -> None:
    assert parse_sources({"refer": "ref_1"}) == () and parse_sources(None) == ()
    events = completion_events({"choices": [], "web_search": "oops"})
    assert SearchResults(()) in events
    long = parse_sources([{"refer": "ref_1", "title": "x" * 10_000, "link": "\x1b]52;c;aGk=\x07https://a.b"}])
    assert len(long[0].title) == 300 and "\x1b" not in long[0].link


# -- what a person sees -----------------------------------------------------------------------------


def _reply(text: str, sources) -> Reply:
    reply = Reply(model="glm-4.6")
    reply.apply(SearchResults(parse_sources(sources)))
    reply.apply(ContentDelta(text))
    reply.apply(Finish("stop"))
    reply.finish()
    return reply


def test_citations_become_numbered_links_and_sources_are_listed_inert() -> None:
    reply = _reply("Copy-on-write is on [ref_1][ref_2], see `[ref_1]`.\n\n```\n[ref_1]\n```", ARRAY)
    html = without_style(reply_html(reply)).replace(COPY_BUTTON, "")
    assert_inert(html)
    tags = parse(html).tags
    links = [attrs for tag, attrs in tags if tag == "a"]
    assert all(a["target"] == "_blank" and a["rel"] == "noopener noreferrer" for a in links)
    assert {a["href"] for a in links} == {"https://pandas.pydata.org/"}  # javascript: never a link
    assert "<code>[ref_1]</code>" in html and ">[ref_1]</code></pre>" in html  # code keeps what was written
    assert ">[2]</sup>" in html  # the unlinkable source still has its number
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert html.count('class="glm-sources"') == 1 and "pandas · 2026-01-02" in html
    assert "mathjax_ignore" in html.split('class="glm-sources"')[0]  # inside the no-MathJax container


def test_the_terminal_lists_the_sources_under_the_answer() -> None:
    lines = sources_lines(parse_sources(ARRAY))
    assert lines[0] == "[1] Pandas 3.0 released — pandas · 2026-01-02 · https://pandas.pydata.org/"
    assert lines[1].startswith("[2] <script>") and "javascript" not in lines[1]
    assert sources_html(()) == ""
    assert footer_text(_reply("x", ARRAY))  # the footer itself is unchanged


@pytest.mark.parametrize("styled", [False, True], ids=["plain", "rich"])
def test_the_terminal_numbers_citations_as_its_sources_list(styled: bool) -> None:
    """`[ref_2]` reads `[2]`, as the Sources list under it says, also when it arrives in pieces;
    an answer without sources keeps its text as written."""
    import io

    from glm_notebook.notebook.terminal import TextSink

    if styled:
        pytest.importorskip("rich")
    text = "pandas 3.0 changed copies [ref_1] and strings [ref_2]. Also [re"
    for sources, expected in ((ARRAY, "strings [2]. Also [re"), ((), "strings [ref_2]. Also [re")):
        out = io.StringIO()
        sink = TextSink(out, styled=styled, updates_per_second=None)
        sink.start()
        sink.event(SearchResults(parse_sources(sources)))
        for i in range(0, len(text), 3):  # "[ref_1]" arrives as "[r", "ef_", "1] "…
            sink.event(ContentDelta(text[i : i + 3]))
        reply = _reply(text, sources)
        sink.finish(reply, failed=False)
        assert expected in out.getvalue(), out.getvalue()
        assert ("[ref_" in out.getvalue()) is (not sources), out.getvalue()


# -- over loopback, against the local server ------------------------------------------------------


@pytest.mark.parametrize("split", [None, "1-7"])
def test_a_web_search_answer_cites_the_sources_it_came_with(server, split) -> None:
    base = server.url_with(split=split, seed=3) if split else server.base_url
    client = GLMClient(server.api_key, base, max_retries=0)
    reply = client.chat("What changed in pandas 3.0?", model="glm-4.6", web_search={"count": 4})
    assert [s.ref for s in reply.sources] == ["ref_1", "ref_2", "ref_3", "ref_4"]
    assert all(s.link.startswith("https://") and s.title and s.publish_date for s in reply.sources)
    assert "[ref_1]" in reply.text and "[ref_4]" in reply.text
    assert server.records[-1].body["tools"][0]["web_search"]["count"] == 4
    again = client.chat("What changed in pandas 3.0?", model="glm-4.6", web_search={"count": 4})
    assert again.sources == reply.sources  # deterministic offline
    whole = client.chat("What changed in pandas 3.0?", model="glm-4.6", web_search=True, stream=False)
    assert len(whole.sources) == 3


def test_a_bare_web_search_tool_is_refused_as_the_service_does(server) -> None:
    from glm_notebook.errors import BadRequestError

    with pytest.raises(BadRequestError, match="web_search"):
        client_for(server).chat("hi", model="glm-4.6", tools=[{"type": "web_search"}])


def test_sources_survive_a_recording_and_its_replay(server, tmp_path) -> None:
    from glm_notebook import Replay

    path = tmp_path / "web.jsonl"
    live = client_for(server, replay=Replay(path, mode="record"))
    first = live.chat("Who won the 2026 World Cup?", model="glm-4.6", web_search=True)
    offline = GLMClient(
        "unused-key", "http://127.0.0.1:9/api/paas/v4", replay=Replay(path, mode="replay", pace="instant")
    )
    again = offline.chat("Who won the 2026 World Cup?", model="glm-4.6", web_search=True)
    assert again.sources == first.sources and again.text == first.text


def _source(ref: str, link: str) -> Source:
    return Source(ref=ref, title="T", link=link)


def test_only_http_links_are_followed() -> None:
    html = sources_html([_source("ref_1", "https://a.example/x"), _source("ref_2", "data:text/html,x"),
                         _source("ref_3", "//evil.example")])  # fmt: skip
    assert html.count("<a ") == 1


# -- the notebook faces ----------------------------------------------------------------------------


def test_the_magic_searches_cites_and_lists_sources_in_a_kernel(k, server) -> None:
    run = k.run("%%glm --web --web-count 2 --web-recent oneWeek\nWhat changed in pandas 3.0?")
    assert run.error is None, run.messages
    tool = server.records[-1].body["tools"][0]["web_search"]
    assert tool["count"] == 2 and tool["search_recency_filter"] == "oneWeek" and tool["enable"] is True
    html = run.result["text/html"]
    assert html.count('<sup class="glm-cite"><a href="https://') >= 2
    assert html.count('<li><span class="glm-source-n">') == 2
    assert "glm-cite" in "".join(
        (c.get("data") or {}).get("text/html", "")
        for kind, c in run.messages
        if kind == "update_display_data"
    )  # the live view links them too
    assert k.run("reply = _\nprint(len(reply.sources), reply.sources[0].ref)").stdout == "2 ref_1\n"
    k.run("%config GLM.web_search = True")
    try:
        assert k.run("%%glm\nWhat is new in Python 3.14?").error is None
        assert server.records[-1].body["tools"][0]["type"] == "web_search"
        assert k.run("%%glm --no-web\nWhat is new in Python 3.14?").error is None
        assert "tools" not in server.records[-1].body
    finally:
        k.run("%config GLM.web_search = False")
    bad = k.run("%%glm --web-count 80\nhi")
    assert "UsageError" in bad.stderr + str(bad.error) and "1 to 50" in bad.stderr + str(bad.error)


def test_the_magic_sends_reasoning_effort(k, server) -> None:
    assert k.run("%%glm -m glm-5 -e max\nThink it through").error is None
    assert server.records[-1].body["reasoning_effort"] == "max"
    refused = k.run("%%glm -m glm-4.6 -e high\nThink it through")
    line = refused.error["traceback"][0]
    assert "reasoning_effort" in line and "glm-4.6" in line and len(refused.error["traceback"]) == 1


def test_the_chat_widget_toggle_searches_and_lists_sources(server, wire) -> None:
    from glm_notebook.notebook.widget import ChatWidget

    from .test_widget import _client, frontend

    async def main():
        w = ChatWidget(client=_client(server))
        w.widget.web = True  # the Web toggle, as the browser sets it
        frontend(w, op="send", text="What changed in pandas 3.0?")
        reply = await w._task
        assert len(reply.sources) == 3 and server.records[-1].body["tools"][0]["type"] == "web_search"
        [end] = wire.ops("end")
        assert 'class="glm-sources"' in end["note_html"] and "glm-footer" in end["note_html"]
        assert any("glm-cite" in p["html"] for p in wire.ops("pane"))

    asyncio.run(main())


def test_a_web_count_of_zero_is_refused_not_dropped(k) -> None:
    bad = k.run("%%glm --web-count 0\nhi")
    assert "UsageError" in bad.stderr + str(bad.error) and "1 to 50" in bad.stderr + str(bad.error)
