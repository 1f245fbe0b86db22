"""The chat widget: its conversation model, the widget on a real event loop, then in a real kernel.

The front end (static/chat.js) talks to Python in custom widget messages; these tests send the
same JSON it sends (`{"op": "send", "text": …}`, stop, new, restore, drop, hello) and read what
Python sends back: in-process at the comm layer, in a kernel as `comm_msg` on iopub. Everything
talks to the session's local server. The browser side is tested in tests/browser/test_chat_browser.py.

`notebooks/chat_widget.ipynb` is checked by nbval; after changing the widget, the renderer or
the server's answers, re-execute and save it with:

    .venv/bin/python -m tests.refresh_notebooks notebooks/chat_widget.ipynb
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from pathlib import Path

import nbformat
import pytest

from glm_notebook.client import GLMClient
from glm_notebook.notebook.widget import ChatWidget, Transcript, Turn
from glm_notebook.render.live import SEGMENT_CHARS
from glm_notebook.render.markdown import markdown_html
from glm_notebook.results.reply import Reply
from glm_notebook.wire.events import ContentDelta, Finish, ReasoningDelta

from .refresh_notebooks import DOCS_KEY

# -- the conversation model (no widgets, no I/O) --------------------------------------------------


def _handles_comms_while_a_cell_awaits(*least: int) -> pytest.MarkDecorator:
    """Skip below ipykernel `least`: older kernels handle a comm message (the "browser" here)
    only once the cell awaiting the chat has ended (seen: 6.x for a send; up to 7.3 for Stop)."""
    from importlib.metadata import version

    found = tuple(int(part) for part in version("ipykernel").split(".")[:2])
    return pytest.mark.skipif(found < least, reason=f"ipykernel {found} < {least}: comms wait for the cell")


def _reply(text: str = "", reasoning: str = "", finish: str | None = "stop") -> Reply:
    reply = Reply(model="glm-test")
    if reasoning:
        reply.apply(ReasoningDelta(reasoning))
    if text:
        reply.apply(ContentDelta(text))
    if finish:
        reply.apply(Finish(finish))
    return reply


def _ended(prompt: str, reply: Reply | None, *, stopped=False, error=None) -> Turn:
    return Turn(prompt, reply, error=error, stopped=stopped, ended=True)


def test_history_keeps_finished_and_partial_stopped_turns_only():
    transcript = Transcript(system="Be brief")
    transcript.turns = [
        _ended("one", _reply("first answer")),
        _ended("two", _reply("half an ans", finish=None), stopped=True),
        _ended("three", _reply("", reasoning="hmm", finish=None), stopped=True),
        _ended("four", _reply("cut", finish=None), error="Z.ai error (HTTP 500): boom"),
        _ended("five", None, error="No Z.ai API key"),
    ]
    for turn in transcript.turns:
        transcript.end(turn)
    assert [t.state for t in transcript.turns] == ["done", "stopped", "stopped", "error", "error"]
    assert transcript.history() == [
        {"role": "system", "content": "Be brief"},
        {"role": "user", "content": "one"},
        {"role": "assistant", "content": "first answer"},
        {"role": "user", "content": "two"},
        {"role": "assistant", "content": "half an ans"},
    ]


def test_start_builds_the_request_and_guards_the_turn():
    transcript = Transcript()
    with pytest.raises(ValueError):
        transcript.start("   ")
    turn, request = transcript.start("hello")
    assert request == [{"role": "user", "content": "hello"}] and turn.state == "streaming"
    assert transcript.busy and transcript.history() == []  # the open turn is not history yet
    with pytest.raises(RuntimeError, match="still streaming"):
        transcript.start("again")
    turn.reply, turn.ended = _reply("hi there"), True
    transcript.end(turn)
    _, request = transcript.start("again")
    assert [m["role"] for m in request] == ["user", "assistant", "user"]
    transcript.clear()
    assert transcript.turns == [] and not transcript.busy


def test_markdown_export_marks_unusual_endings():
    transcript = Transcript(system="Tutor")
    transcript.turns = [
        _ended("What is 2+2?", _reply("**4**")),
        _ended("Tell a story", _reply("Once upon", finish=None), stopped=True),
        _ended("Again", None, error="Z.ai error (HTTP 500): boom"),
    ]
    assert transcript.to_markdown() == (
        "**System:** Tutor\n\n---\n\n"
        "**You:**\n\nWhat is 2+2?\n\n**Assistant:**\n\n**4**\n\n---\n\n"
        "**You:**\n\nTell a story\n\n**Assistant:**\n\nOnce upon\n\n*(stopped)*\n\n---\n\n"
        "**You:**\n\nAgain\n\n**Assistant:**\n\n*(error: Z.ai error (HTTP 500): boom)*\n"
    )
    assert Transcript().to_markdown() == ""


# -- the widget in-process (asyncio.run, the local server, a recording comm) ----------------------


def _client(server, **kw) -> GLMClient:
    return GLMClient(server.api_key, server.base_url, max_retries=0, **kw)


def frontend(w: ChatWidget, **content) -> None:
    """What the browser sends: a custom message with `content`, handled as the kernel would."""
    w.widget.comm.handle_msg({"content": {"data": {"method": "custom", "content": content}}, "buffers": []})


def test_send_needs_an_event_loop(server):
    with pytest.raises(RuntimeError, match="event loop"):
        ChatWidget(client=_client(server)).send("hi")


def test_repr_counts_turns_and_never_shows_the_key(server):
    async def main():
        w = ChatWidget(model="glm-4.6", client=_client(server))
        assert repr(w) == "<ChatWidget glm-4.6: 0 turns, idle>"
        first = w.send("[[delay=0.01]] one")
        w.send("two")
        assert repr(w) == "<ChatWidget glm-4.6: 1 turn, streaming, 1 queued>"
        await first
        await asyncio.sleep(0)
        while w.busy:
            await asyncio.sleep(0.01)
        assert repr(w) == "<ChatWidget glm-4.6: 2 turns, idle>"
        data, _ = w._repr_mimebundle_()
        assert "turn" not in data["text/plain"]  # the saved copy of this line never goes stale
        assert server.api_key not in repr(w) + json.dumps(data) + json.dumps(w._static_bundle())
        assert data["application/vnd.jupyter.widget-view+json"]["model_id"] == w.widget.model_id

    asyncio.run(main())


def test_a_turn_goes_out_as_pane_changes(server, wire):
    async def main():
        w = ChatWidget(client=_client(server))
        frontend(w, op="send", text="[[delay=0.01]] What is a closure?")  # what Enter / Send does
        assert w.busy and wire.states()[-1] == {"busy": True}
        reply = await w._task
        assert reply.complete and w.turns[0].state == "done" and not w.busy
        [turn] = wire.ops("turn")
        assert "closure" in turn["user_html"] and turn["user_html"].startswith('<div class="glm-md')
        panes = wire.ops("pane")
        assert {p["turn"] for p in panes} == {turn["id"]}
        reasoning = [p["html"] for p in panes if p["index"] == 0]
        assert any('<details class="glm-reasoning" open>' in r for r in reasoning)  # while thinking
        assert reasoning[-1].startswith('<details class="glm-reasoning">')  # collapsed at the end
        answer = [p["html"] for p in panes if p["index"] == 1]
        assert len(answer) >= 3 and "<table>" in answer[-1]
        [end] = wire.ops("end")
        assert end["markdown"] == reply.text and "glm-footer" in end["note_html"]
        assert wire.custom()[-1] == end  # nothing after the end...
        states = wire.states()  # ...but the input's state and the header's running cost
        assert {"busy": False} in states[-2:] and w.widget.header.startswith("glm-4.6 · $0.00")
        assert w.widget.header.endswith(" so far") and w.widget.images is False

    asyncio.run(main())


def test_bytes_sent_grow_linearly_with_the_answer(server, wire):
    """Every update carries the open pane only: doubling the answer doubles the bytes."""

    async def run(size: int) -> tuple[int, int, int]:
        wire.sent.clear()
        w = ChatWidget(client=_client(server))
        w.updates_per_second = None  # draw on every event: the worst case
        reply = await w.send(f"[[huge={size}]] a long one")
        assert len(reply.text) == size
        sizes = [len(json.dumps(m).encode()) for m in wire.ops("pane")]
        return wire.bytes(), max(sizes), len(sizes)

    async def main():
        small, large = await run(10_000), await run(40_000)
        print(f"\nbytes sent: 10k answer {small}, 40k answer {large}")
        assert large[2] > 3 * small[2]  # four times the text, about four times the updates...
        assert large[0] < 5 * small[0], (small, large)  # ...and bytes: linear, not quadratic (16x)
        assert large[1] < 3 * SEGMENT_CHARS  # no update carries the whole answer (the end
        # message carries its Markdown once, for the copy button)
        naive = sum(len(markdown_html("x" * n)) for n in range(0, 40_000, 6))
        assert large[0] < naive / 5

    asyncio.run(main())


def test_sends_while_streaming_are_queued_in_order(server, wire):
    async def main():
        w = ChatWidget(client=_client(server))
        frontend(w, op="send", text="[[delay=0.01]] First question")
        frontend(w, op="send", text="Second question")  # typed while the first streams
        frontend(w, op="send", text="Third question")
        third = w.send("Fourth, from code")
        assert w.pending == ["Second question", "Third question", "Fourth, from code"]
        assert {"pending": ["Second question", "Third question"]} in wire.states()
        frontend(w, op="drop", index=0, text="Third question")  # a stale ✕: nothing happens
        frontend(w, op="drop", index=1, text="Third question")  # the ✕ on a queued prompt
        assert w.pending == ["Second question", "Fourth, from code"]
        reply = await third
        assert [t.prompt for t in w.turns] == [
            "[[delay=0.01]] First question",
            "Second question",
            "Fourth, from code",
        ]
        assert all(t.state == "done" for t in w.turns) and w.pending == []
        assert "This is turn 3 of our conversation" in reply.text
        last = [state for state in wire.states() if "header" not in state][-1]  # (the header's cost moves)
        assert last in ({"pending": []}, {"busy": False})

    asyncio.run(main())


def test_stop_ends_the_answer_and_the_queue_goes_on(server, wire):
    async def main():
        w = ChatWidget(client=_client(server))
        first = w.send("[[delay=0.01]] Explain recursion")
        second = w.send("Shorter please")
        while len(w.turns[0].answer) < 40 and not first.done():
            await asyncio.sleep(0.01)
        frontend(w, op="stop")
        partial = w.turns[0].answer
        assert (await first).stopped == "interrupted"
        reply = await second
        assert w.messages[:2] == [
            {"role": "user", "content": "[[delay=0.01]] Explain recursion"},
            {"role": "assistant", "content": partial},
        ]
        assert 'This is turn 2 of our conversation; you first asked about "Explain recursion"' in reply.text
        assert server.records[-1].body["messages"][1] == {"role": "assistant", "content": partial}
        notes = [m["note_html"] for m in wire.ops("end")]
        assert "Stopped after" in notes[0] and "glm-footer" in notes[1]

    asyncio.run(main())


def test_stop_right_after_send_gives_the_prompt_back(server, wire):
    async def main():
        w = ChatWidget(client=_client(server))
        task = w.send("[[delay=0.05]] A long story please")
        w.stop()  # before the task even started
        assert not w.busy and w.turns[0].state == "stopped"
        reply = await task
        assert reply is None or reply.stopped == "interrupted"
        assert w.messages == []
        assert wire.ops("draft") == [{"op": "draft", "text": "[[delay=0.05]] A long story please"}]
        assert "Stopped before the answer began" in wire.ops("end")[0]["note_html"]

    asyncio.run(main())


def test_stop_while_thinking_leaves_the_reasoning_open(server, wire):
    async def main():
        w = ChatWidget(client=_client(server))
        w.updates_per_second = None
        task = w.send("[[delay=0.03]] Think first")
        while not w.turns[0].reply or len(w.turns[0].reply.reasoning) < 20:
            await asyncio.sleep(0.01)
        frontend(w, op="stop")
        await task
        assert w.turns[0].answer == "" and w.turns[0].reply.reasoning
        last = [p["html"] for p in wire.ops("pane") if p["index"] == 0][-1]
        assert last.startswith('<details class="glm-reasoning" open>') and "Reasoning ·" in last
        snapshot = w._views[0].html()
        assert snapshot.panes[0] == last  # a reopened view and the saved transcript show it open too

    asyncio.run(main())


def test_new_conversation_can_be_restored_once(server, wire):
    async def main():
        w = ChatWidget(system="Tutor", client=_client(server))
        await w.send("First question")
        task = w.send("[[delay=0.02]] Something long")
        await asyncio.sleep(0.05)
        queued = w.send("Queued behind it")
        frontend(w, op="new")  # while streaming, with a prompt queued
        assert w.turns == [] and not w.busy and w.pending == []
        assert await queued is None  # a dropped prompt's task gives None
        await task
        assert w.messages == [{"role": "system", "content": "Tutor"}]
        assert wire.ops("reset") and w.widget.can_restore and not wire.ops("draft")
        frontend(w, op="restore")
        assert [t.prompt for t in w.turns] == ["First question", "[[delay=0.02]] Something long"]
        assert w.turns[1].state == "stopped" and not w.widget.can_restore
        snapshot = wire.ops("snapshot")[-1]
        assert snapshot["view"] is None and [t["id"] for t in snapshot["turns"]] == [1, 2]
        assert not w.restore()  # only once
        w.clear()
        await w.send("Fresh start")  # the next prompt makes New final
        assert not w.widget.can_restore and not w.restore()
        assert [t.prompt for t in w.turns] == ["Fresh start"]

    asyncio.run(main())


def test_a_view_that_opens_gets_the_whole_transcript(server, wire):
    async def main():
        w = ChatWidget(client=_client(server))
        await w.send("Explain snapshots")
        task = w.send("[[delay=0.02]] And streaming ones")
        while len(w.turns[1].answer) < 30:
            await asyncio.sleep(0.01)
        frontend(w, op="hello", view="view-2")  # a page reload or a second view
        snapshot = wire.ops("snapshot")[-1]
        assert snapshot["view"] == "view-2"
        done, streaming = snapshot["turns"]
        final_panes = {p["index"]: p["html"] for p in wire.ops("pane") if p["turn"] == 1}
        assert done["panes"] == [final_panes[i] for i in range(len(done["panes"]))]
        assert done["ended"] and done["markdown"] == w.turns[0].answer and "glm-footer" in done["note_html"]
        assert not streaming["ended"] and streaming["panes"][1]
        await task

    asyncio.run(main())


def test_a_missing_key_is_an_inline_error(server, wire, monkeypatch):
    monkeypatch.delenv("ZAI_API_KEY")

    async def main():
        w = ChatWidget()  # makes its own client: no key anywhere
        reply = await w.send("hello")
        assert reply is None and w.turns[0].state == "error"
        assert "ZAI_API_KEY" in wire.ops("end")[0]["note_html"]
        assert wire.ops("draft") == [{"op": "draft", "text": "hello"}]

    asyncio.run(main())


def test_close_closes_the_client_the_widget_made(server):
    async def main():
        w = ChatWidget()  # its own client, from the environment
        await w.send("hi")
        own = w._client
        assert own._ahttp is not None
        theirs = _client(server)
        other = ChatWidget(client=theirs)
        await other.send("hi")
        w.close()
        other.close()
        await w._closing
        assert own._ahttp is None and theirs._ahttp is not None  # a client passed in stays open
        await theirs.aclose()

    asyncio.run(main())


def test_static_transcript_is_sanitised_and_complete(server):
    async def main():
        w = ChatWidget(model="glm-4.6", client=_client(server))
        await w.send("[[echo]] <img src=x onerror=alert(1)> **bold** [x](javascript:alert(3))")
        await w.send("Second")
        bundle = w._static_bundle()
        html = bundle["text/html"]
        assert html.startswith('<style class="glm-style">')
        assert f'data-glm-chat="{w.widget.chat_id}"' in html and "glm-chat-static" in html
        assert html.count('class="glm-chat-turn"') == 2 and html.count('<p class="glm-footer">') == 2
        assert 'class="glm-chat-answer jp-RenderedHTMLCommon"' in html
        assert "<img" not in html and 'href="javascript' not in html and "&lt;img src=x" in html
        assert "2 turns" in html and bundle["text/plain"].startswith("Chat with glm-4.6: 2 turns")
        assert "**You:**\n\nSecond" in bundle["text/plain"]

    asyncio.run(main())


# -- the widget in a real kernel ------------------------------------------------------------------


def custom_messages(run, model_id: str) -> list[dict]:
    """The chat protocol messages the front end was sent for widget `model_id`, in order."""
    return [
        content["data"]["content"]
        for kind, content in run.messages
        if kind == "comm_msg"
        and content.get("comm_id") == model_id
        and (content.get("data") or {}).get("method") == "custom"
    ]


def ask(kernel, expression: str):
    """Evaluate `expression` in the kernel; its JSON value."""
    run = kernel.run(f"import json as _j; print(_j.dumps(({expression})))")
    assert run.error is None, run.error
    return json.loads(run.stdout)


def send_from_browser(kernel, model_id: str, **content) -> None:
    """What the front end sends (Enter, a button): a custom comm message on the shell channel."""
    client = kernel.client
    data = {"method": "custom", "content": content}
    client.shell_channel.send(client.session.msg("comm_msg", {"comm_id": model_id, "data": data}))


@pytest.fixture(scope="module")
def widget_kernel(kernel):
    run = kernel.run("import asyncio\nfrom glm_notebook import ChatWidget, chat, GLMClient")
    assert run.error is None, run.error
    return kernel


WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def test_chat_shows_one_widget_and_a_static_transcript(widget_kernel):
    run = widget_kernel.run('w = chat(model="glm-4.6", system="You are a helpful tutor")')
    assert run.error is None and run.result is None
    widget, static = run.of_type("display_data")
    assert widget["data"][WIDGET_VIEW]["model_id"] == ask(widget_kernel, "w.widget.model_id")
    assert widget["data"]["text/plain"] == "<ChatWidget glm-4.6: live chat; the saved transcript follows>"
    chat_id = ask(widget_kernel, "w.widget.chat_id")
    assert static["transient"]["display_id"] == f"glm-chat-{chat_id}"
    assert f'data-glm-chat="{chat_id}"' in static["data"]["text/html"]
    assert static["data"]["text/plain"].startswith("Chat with glm-4.6: 0 turns")


def test_chat_as_the_last_line_shows_it_once(widget_kernel):
    """`chat()` as a cell's value used to be displayed twice, both copies streaming."""
    run = widget_kernel.run("chat()")
    assert run.error is None
    views = [c for c in run.of_type("display_data", "execute_result") if WIDGET_VIEW in c["data"]]
    assert len(views) == 1 and run.result is None
    assert len(run.of_type("display_data")) == 2  # the widget and its static transcript
    again = widget_kernel.run("_")  # shown again in a later cell: a second view, on purpose
    assert [WIDGET_VIEW in c["data"] for c in again.of_type("display_data")] == [True, False]


@_handles_comms_while_a_cell_awaits(7, 0)
def test_the_browser_sends_and_the_static_transcript_updates_at_turn_ends(widget_kernel, server):
    run = widget_kernel.run("w = chat()")
    display_id = run.of_type("display_data")[1]["transient"]["display_id"]
    model_id = ask(widget_kernel, "w.widget.model_id")
    running = widget_kernel.start("await asyncio.sleep(0.5)\nawait w._task")
    send_from_browser(widget_kernel, model_id, op="send", text="[[delay=0.02]] Explain streaming")
    send_from_browser(widget_kernel, model_id, op="send", text="And queues?")  # while it streams
    run = running.wait()
    run = widget_kernel.run("while w.busy or w.pending: await asyncio.sleep(0.05)")
    assert run.error is None
    assert ask(widget_kernel, "[t.state for t in w.turns], [t.prompt for t in w.turns]") == [
        ["done", "done"],
        ["[[delay=0.02]] Explain streaming", "And queues?"],
    ]
    assert "This is turn 2" in ask(widget_kernel, "w.turns[1].answer")
    # The static transcript was updated once per turn end, never while streaming.
    static = ask(
        widget_kernel,
        f"[len(w._views), w._static_bundle()['text/html'].count('<p class=\"glm-footer\">'), {display_id!r}]",
    )
    assert static == [2, 2, display_id]


def test_static_updates_reach_the_notebook_only_at_turn_ends(widget_kernel, server):
    widget_kernel.run("w = chat()")
    run = widget_kernel.run('await w.send("[[delay=0.01]] One")\nawait w.send("Two")')
    assert run.error is None
    updates = run.of_type("update_display_data")
    assert len(updates) == 2  # one per finished turn
    assert updates[-1]["data"]["text/html"].count('<p class="glm-footer">') == 2
    assert "Two" in updates[-1]["data"]["text/plain"]
    model_id = ask(widget_kernel, "w.widget.model_id")
    assert len([m for m in custom_messages(run, model_id) if m["op"] == "pane"]) > 10


@_handles_comms_while_a_cell_awaits(7, 4)
def test_stop_from_the_browser_mid_stream_keeps_the_partial_answer(widget_kernel, server):
    model_id = ask(widget_kernel, "(w := ChatWidget()).widget.model_id")
    first = len(server.records)
    running = widget_kernel.start('reply = await w.send("[[delay=0.05]] Tell me about stopping")')
    running.wait_for(lambda run: any("<h2>" in m.get("html", "") for m in custom_messages(run, model_id)))
    send_from_browser(widget_kernel, model_id, op="stop")  # handled while the cell is still awaiting
    run = running.wait()
    assert run.error is None
    record = server.records[first]
    assert record.finished.wait(10) and record.disconnected and not record.completed
    state = ask(widget_kernel, "w.turns[-1].state, reply.stopped, w.turns[-1].answer, w.messages")
    assert state[:2] == ["stopped", "interrupted"] and state[2]
    assert state[3] == [
        {"role": "user", "content": "[[delay=0.05]] Tell me about stopping"},
        {"role": "assistant", "content": state[2]},
    ]
    # (The end message went out under the stop message's header, not this cell's.)
    assert "Stopped after" in ask(widget_kernel, "w._views[-1].html().note_html")


def test_interrupting_the_kernel_stops_the_turn(widget_kernel, server):
    first = len(server.records)
    ask(widget_kernel, "(w := ChatWidget()) is not None")
    model_id = ask(widget_kernel, "w.widget.model_id")
    running = widget_kernel.start('reply = await w.send("[[delay=0.05]] Interrupt me")')
    running.wait_for(lambda run: any("<h2>" in m.get("html", "") for m in custom_messages(run, model_id)))
    widget_kernel.interrupt()
    run = running.wait()
    assert run.error is not None and run.error["ename"] in ("CancelledError", "KeyboardInterrupt")
    record = server.records[first]
    assert record.finished.wait(10) and record.disconnected
    state = ask(widget_kernel, "w.turns[0].state, w.busy, w.widget.busy, w.replies[0].stopped")
    assert state == ["stopped", False, False, "interrupted"]
    assert ask(widget_kernel, "len(w.messages)") == 2  # the partial answer is kept, as with Stop


def test_error_shows_inline_and_gives_the_prompt_back(widget_kernel):
    run = widget_kernel.run(
        'w = ChatWidget(client=GLMClient(max_retries=0))\nreply = await w.send("[[status=500]] Will fail")'
    )
    assert run.error is None and run.outputs == []  # no traceback: the error is in the widget
    model_id = ask(widget_kernel, "w.widget.model_id")
    messages = custom_messages(run, model_id)
    [end] = [m for m in messages if m["op"] == "end"]
    assert re.fullmatch(r'<p class="glm-chat-error">⚠ Z\.ai error \(HTTP 500[^<\n]*</p>', end["note_html"])
    assert messages[-1] == {"op": "draft", "text": "[[status=500]] Will fail"}
    assert ask(widget_kernel, "w.messages, w.turns[0].state") == [[], "error"]


def test_kernel_stays_free_while_an_answer_streams(widget_kernel, server):
    first = len(server.records)
    run = widget_kernel.run('w = ChatWidget()\ntask = w.send("[[delay=0.05]] Take your time")')
    assert run.error is None
    assert ask(widget_kernel, "w.busy, 6 * 7") == [True, 42]  # another cell ran meanwhile
    deadline = time.monotonic() + 30
    while len(server.records) <= first and time.monotonic() < deadline:
        time.sleep(0.01)
    record = server.records[first]
    assert not record.finished.is_set()  # still streaming while the other cells ran
    widget_kernel.run("w.stop()\nawait task")
    assert record.finished.wait(10) and record.disconnected


def test_two_widgets_stream_at_once(widget_kernel, server):
    first = len(server.records)
    running = widget_kernel.start(
        "a, b = ChatWidget(), ChatWidget()\n"
        'both = await asyncio.gather(a.send("[[delay=0.02]] Alpha"), b.send("[[delay=0.02]] Beta"))'
    )

    def overlap(_run):  # both requests open at the same moment
        records = server.records[first:]
        return len(records) == 2 and not any(r.finished.is_set() for r in records)

    running.wait_for(overlap)
    assert running.wait().error is None
    assert ask(widget_kernel, "[r.complete for r in both], a.turns[0].answer != b.turns[0].answer") == [
        [True, True],
        True,
    ]


def test_hostile_html_never_reaches_the_browser_unescaped(widget_kernel):
    prompt = "[[echo]] <img src=x onerror=alert(1)> and <script>alert(2)</script> [x](javascript:alert(3))"
    run = widget_kernel.run(f"w = chat()\nreply = await w.send({prompt!r})")
    assert run.error is None
    model_id = ask(widget_kernel, "w.widget.model_id")
    messages = custom_messages(run, model_id)
    html = [v for m in messages for k, v in m.items() if k.endswith("html") and isinstance(v, str)]
    html += [u["data"].get("text/html", "") for u in run.of_type("display_data", "update_display_data")]
    assert len(html) > 3
    for value in html:
        low = value.lower()
        assert "<img" not in low and "<script" not in low and 'href="javascript' not in low, value
    turn = next(m for m in messages if m["op"] == "turn")
    assert "&lt;img src=x onerror=alert(1)&gt;" in turn["user_html"]
    assert ask(widget_kernel, "reply.text").startswith("<img src=x onerror=alert(1)>")


def test_messages_are_ready_to_send_again(widget_kernel, server):
    code = (
        'w = ChatWidget(model="glm-4.6", system="You are terse", temperature=0.3)\n'
        'await w.send("First question")\n'
        'await w.send("Second question")\n'
        "again = await GLMClient().achat(w.messages)"
    )
    run = widget_kernel.run(code)
    assert run.error is None, run.error
    messages = ask(widget_kernel, "w.messages")
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user", "assistant"]
    assert all(set(m) == {"role", "content"} and isinstance(m["content"], str) for m in messages)
    assert messages[0]["content"] == "You are terse" and messages[3]["content"] == "Second question"
    assert server.records[-2].body["temperature"] == 0.3
    assert server.records[-2].body["model"] == "glm-4.6"
    assert ask(widget_kernel, "len(w.replies), [r.complete for r in w.replies], repr(w)") == [
        2,
        [True, True],
        "<ChatWidget glm-4.6: 2 turns, idle>",
    ]
    markdown = ask(widget_kernel, "w.to_markdown()")
    assert markdown.startswith("**System:** You are terse\n\n---\n\n**You:**\n\nFirst question")


def test_the_magics_settings_apply_to_the_widget(widget_kernel, server):
    """`%config GLM.*` set for the magic also configures a widget made without a client."""
    run = widget_kernel.run(
        '%load_ext glm_notebook\n%config GLM.model = "glm-configured-model"\n'
        'w = ChatWidget()\nreply = await w.send("Which model?")'
    )
    try:
        assert run.error is None, run.error
        assert server.records[-1].body["model"] == "glm-configured-model"
        assert ask(widget_kernel, "reply.model") == "glm-configured-model"
    finally:
        widget_kernel.run('%config GLM.model = "glm-4.6"')


# -- the documentation notebook -------------------------------------------------------------------

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "chat_widget.ipynb"


def test_notebook_keeps_the_conversation_without_secrets():
    # Structure (explained cells, run, no errors) is checked for every notebook in
    # test_magic_notebooks; here, what this one must show.
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    text = nbformat.writes(notebook)
    assert DOCS_KEY not in text and "test-key-" not in text
    outputs = [out for cell in notebook.cells for out in cell.get("outputs", [])]
    views = [out for out in outputs if WIDGET_VIEW in out.get("data", {})]
    assert len(views) == 1  # chat() shows one widget
    # The saved notebook shows the conversation without a kernel: the static transcript.
    [static] = [out for out in outputs if "glm-chat-static" in out.get("data", {}).get("text/html", "")]
    html = static["data"]["text/html"]
    assert "This is turn 2 of our conversation" in html  # the history reached the model
    assert html.count('class="glm-chat-turn"') >= 2 and "<img" not in html


def test_a_long_queue_of_long_prompts_sends_previews_not_whole_prompts(server, wire):
    """60 queued 100 kB prompts: each change of the queue sends previews (start and length), so
    the browser gets a few hundred kB in all instead of hundreds of MB; ✕ still drops the right
    one, and each prompt is sent whole when its turn comes."""
    from glm_notebook.notebook.widget import PREVIEW_CHARS

    async def main():
        w = ChatWidget(client=_client(server))
        frontend(w, op="send", text="[[delay=0.02]] First")
        big = [f"prompt {i} " + "x" * 100_000 for i in range(60)]
        for text in big:
            frontend(w, op="send", text=text)
        queued = [s["pending"] for s in wire.states() if "pending" in s]
        sent = sum(len(json.dumps(p)) for p in queued)
        assert sent < 60 * 60 * (PREVIEW_CHARS + 60), sent  # naive: 60 × 61 / 2 × 100 kB ≈ 183 MB
        last = queued[-1]
        assert (
            len(last) == 60 and last[5].startswith("prompt 5 ") and last[5].endswith("(100,009 characters)")
        )
        frontend(w, op="drop", index=5, text=last[5])
        assert len(w.pending) == 59 and w.pending[5].startswith("prompt 6 ") and len(w.pending[0]) == 100_009
        w.stop()
        w.clear()

    asyncio.run(main())
