"""MathJax never reads a string from outside: on every surface that emits HTML (a reply, its
notes and footer, a tool loop, a map table, `%glm history`, the chat widget's saved transcript,
code out, the progress line), every text node sits inside an element with the
MathJax-ignore classes. Checked structurally, by walking the HTML, with hostile strings in every
field an outsider controls (model text, model name, finish reason, server error messages, tool
results and errors, notes). The browser test in tests/browser/test_chat_browser.py shows the same
in JupyterLab, fresh and reopened."""

from __future__ import annotations

import asyncio
from html.parser import HTMLParser

from glm_notebook import Chat, GLMClient
from glm_notebook.client.progress import ProgressState
from glm_notebook.notebook.chat_html import static_html
from glm_notebook.notebook.code_out import _CodeBlock
from glm_notebook.notebook.progress import progress_html
from glm_notebook.notebook.widget import ChatWidget
from glm_notebook.render.history_view import chat_bundle
from glm_notebook.render.live import LiveAnswer
from glm_notebook.render.map_view import map_bundle
from glm_notebook.render.reply_view import reply_bundle
from glm_notebook.render.tool_view import tool_reply_bundle
from glm_notebook.results.reply import Reply
from glm_notebook.wire.events import ContentDelta, ReasoningDelta

from .test_widget import frontend

IGNORE = {"mathjax_ignore", "tex2jax_ignore"}
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}
# TeX that MathJax would turn into a full-page overlay and a fetch; no commas (directive syntax).
TEX = r"$\unicode[x;position:fixed;top:0;width:100%;background:url(http://127.0.0.1:9/b)]{x41}$"
# The same without brackets, to travel inside a local-server directive as an error message.
ERROR_TEX = r"$\style{position:fixed;top:0;width:100%;background:url(http://127.0.0.1:9/e)}{x}$"
HOSTILE = rf"{TEX} \(\style{{color:red}}{{x}}\) $$\href{{http://127.0.0.1:9/h}}{{y}}$$"


class _Walker(HTMLParser):
    """Collects text nodes that no MathJax-ignore element encloses (style contents aside)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[tuple[str, bool]] = []
        self.exposed: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in VOID:
            return
        classes = set((dict(attrs).get("class") or "").split())
        ignored = bool(classes & IGNORE) or (bool(self.stack) and self.stack[-1][1])
        self.stack.append((tag, ignored or tag == "style"))

    def handle_endtag(self, tag: str) -> None:
        while self.stack:
            if self.stack.pop()[0] == tag:
                break

    def handle_data(self, data: str) -> None:
        if data.strip() and not (self.stack and self.stack[-1][1]):
            self.exposed.append(data.strip())


def exposed_text(html: str) -> list[str]:
    """Text in `html` that MathJax would read."""
    walker = _Walker()
    walker.feed(html)
    walker.close()
    return walker.exposed


def assert_hidden_from_mathjax(html: str, where: str) -> None:
    assert html, f"{where}: no HTML"
    exposed = exposed_text(html)
    assert not exposed, f"{where}: text outside a MathJax-ignore element: {exposed[:3]}"


def test_the_walker_finds_exposed_text() -> None:
    assert exposed_text(f"<div><p>{TEX}</p></div>") == [TEX]
    assert exposed_text(f'<div class="x mathjax_ignore"><p>{TEX}<br>x</p></div><style>$a$</style>') == []
    assert exposed_text(f'<div class="tex2jax_ignore"></div><p>{TEX}</p>') == [TEX]


def _hostile_reply() -> Reply:
    reply = Reply(model=HOSTILE)
    reply.apply(ReasoningDelta(HOSTILE))
    reply.apply(ContentDelta(f"Answer {HOSTILE}\n\n```python\nx = '{HOSTILE}'\n```\n"))
    reply.notes.append(HOSTILE)
    reply.finish_reason = HOSTILE
    reply.finish(stopped="error", error=HOSTILE)
    return reply


def test_a_reply_its_notes_footer_and_live_panes_hide_from_mathjax() -> None:
    reply = _hostile_reply()
    assert_hidden_from_mathjax(reply_bundle(reply)[0]["text/html"], "reply view")
    live = LiveAnswer()
    live.feed_reasoning(HOSTILE)
    live.feed_content(f"Answer {HOSTILE}\n\n| a |\n|---|\n| {HOSTILE} |\n")
    for index, pane in enumerate(live.panes):
        if pane:
            assert_hidden_from_mathjax(pane, f"live pane {index}")


def test_tool_loops_maps_history_code_and_bars_hide_from_mathjax(server) -> None:
    def lookup(place: str) -> str:
        """Look a place up. place: the place"""
        if "fail" in place:
            raise ValueError(HOSTILE)
        return HOSTILE

    with GLMClient(server.api_key, server.base_url, max_retries=0) as client:
        tools = client.chat("Use lookup [[tool=lookup]] [[tool_rounds=2]]", tools=[lookup], model="glm-4.6")
        failing = client.chat(
            'Use lookup [[tool=lookup,args={"place":"fail"}]]', tools=[lookup], model="glm-4.6"
        )
        results = client.map(
            [f"ok {HOSTILE}", f"bad [[status=400,code=1214,message={ERROR_TEX}]]"], progress=False
        )
    assert tools.calls and failing.calls[0].error
    assert_hidden_from_mathjax(tool_reply_bundle(tools)[0]["text/html"], "tool loop")
    assert_hidden_from_mathjax(tool_reply_bundle(failing)[0]["text/html"], "failed tool call")
    assert results.errors[1] is not None and ERROR_TEX in str(results.errors[1])
    assert_hidden_from_mathjax(map_bundle(results)[0]["text/html"], "map table")

    chat = Chat(model="glm-4.6")
    chat.messages = [
        {"role": "system", "content": HOSTILE},
        {"role": "user", "content": HOSTILE},
        {"role": "assistant", "content": HOSTILE},
    ]
    assert_hidden_from_mathjax(chat_bundle(chat)[0]["text/html"], "%glm history")
    assert_hidden_from_mathjax(_CodeBlock(f"x = '{HOSTILE}'")._repr_mimebundle_()["text/html"], "code out")
    for ended in (False, True):  # a batch's status comes from the service
        line = progress_html(
            HOSTILE, ProgressState(total=3, done=1, status=HOSTILE, elapsed=1.0), ended=ended
        )
        assert_hidden_from_mathjax(line, "progress line")


def test_the_chat_widgets_saved_transcript_hides_from_mathjax(server) -> None:
    def lookup(place: str) -> str:
        """Look a place up. place: the place"""
        return HOSTILE

    async def main() -> str:
        client = GLMClient(server.api_key, server.base_url, max_retries=0)
        w = ChatWidget(model="glm-4.6", client=client, tools=[lookup])
        frontend(w, op="send", text=f"Hello {HOSTILE}")
        await w._task
        frontend(w, op="send", text="Use lookup [[tool=lookup]]")
        await w._task
        frontend(w, op="send", text=f"Fail [[status=400,code=1214,message={ERROR_TEX}]]")
        await w._task
        return w._static_bundle()["text/html"]

    html = asyncio.run(main())
    assert "position:fixed;top:0;width:100%;background:url(http://127.0.0.1:9/e)" in html  # the error
    assert_hidden_from_mathjax(html, "chat transcript")
    assert_hidden_from_mathjax(static_html("0", [], title=HOSTILE), "empty chat transcript")
