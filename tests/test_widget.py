"""The chat widget: its conversation model in-process, then the widget in a real kernel.

Kernel tests read what a front end would receive: `comm_open` / `comm_msg` messages on iopub,
whose `state` holds the widget values. Clicks and typing are sent the way a front end sends
them (`comm_msg` on the shell channel). Everything talks to the session's local server.

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
from glm_notebook.reply import Reply
from glm_notebook.events import ContentDelta, Finish, ReasoningDelta
from glm_notebook.render.live import SEGMENT_CHARS
from glm_notebook.render.markdown import markdown_html
from glm_notebook.notebook.widget import ChatWidget, Transcript, Turn

from .refresh_notebooks import DOCS_KEY

# -- the conversation model (no widgets, no I/O) --------------------------------------------------


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


# -- the widget in-process (asyncio.run, the local server) ----------------------------------------


def _client(server, **kw) -> GLMClient:
    return GLMClient(server.api_key, server.base_url, max_retries=0, **kw)


def test_send_needs_an_event_loop(server):
    with pytest.raises(RuntimeError, match="event loop"):
        ChatWidget(client=_client(server)).send("hi")


def test_repr_is_short_and_never_shows_the_key(server):
    w = ChatWidget(model="glm-4.6", client=_client(server))
    assert repr(w) == "<ChatWidget glm-4.6: 0 turns, idle>"
    assert server.api_key not in repr(w) and server.api_key not in str(w._repr_mimebundle_())
    assert w._repr_mimebundle_()["application/vnd.jupyter.widget-view+json"]["model_id"]


def test_send_button_disables_the_input_until_the_answer_is_in(server):
    async def main():
        w = ChatWidget(client=_client(server))
        w._input.value = "  "
        w._send_button.click()  # nothing to send: nothing happens
        assert w.turns == [] and w._task is None
        w._input.value = "What is a closure?"
        w._send_button.click()
        assert w._input.value == "" and w._input.disabled and w._send_button.disabled
        assert not w._stop_button.disabled and w.busy
        reply = await w._task
        assert reply.complete and w.turns[0].state == "done"
        assert not (w._input.disabled or w._send_button.disabled) and w._stop_button.disabled
        view = w._views[0]
        assert "closure" in view.user.value and "glm-footer" in view.note.value
        assert "<details" in view.panes[0].value  # the reasoning, collapsed
        assert "<table>" in view.panes[1].value and "<pre class=\"glm-highlight\"><code" in view.panes[1].value

    asyncio.run(main())


def test_stop_right_after_send_ends_the_turn_and_gives_the_prompt_back(server):
    async def main():
        w = ChatWidget(client=_client(server))
        task = w.send("[[delay=0.05]] A long story please")
        w.stop()  # before the task even started
        assert not w.busy and w.turns[0].state == "stopped"
        reply = await task
        assert reply is None or reply.stopped == "interrupted"
        assert w.messages == [] and w._input.value == "[[delay=0.05]] A long story please"
        assert "Stopped before the answer began" in w._views[0].note.value
        assert not w._input.disabled and w._stop_button.disabled

    asyncio.run(main())


def test_stop_then_send_at_once_carries_the_partial_answer(server):
    async def main():
        w = ChatWidget(client=_client(server))
        first = w.send("[[delay=0.01]] Explain recursion")
        while len(w.turns[0].answer) < 40 and not first.done():
            await asyncio.sleep(0.01)
        w.stop()
        partial = w.turns[0].answer
        second = w.send("Shorter please")  # no await needed between stop() and send()
        assert (await first).stopped == "interrupted"
        reply = await second
        assert w.messages[:2] == [
            {"role": "user", "content": "[[delay=0.01]] Explain recursion"},
            {"role": "assistant", "content": partial},
        ]
        assert 'This is turn 2 of our conversation; you first asked about "Explain recursion"' in reply.text
        assert server.records[-1].body["messages"][1] == {"role": "assistant", "content": partial}

    asyncio.run(main())


def test_clear_while_streaming_starts_over(server):
    async def main():
        w = ChatWidget(system="Tutor", client=_client(server))
        task = w.send("[[delay=0.02]] Something long")
        await asyncio.sleep(0.05)
        w.clear()
        assert w.turns == [] and w._turns_box.children == () and not w.busy
        assert not w._input.disabled and w._input.value == ""  # a cleared prompt is not restored
        await task
        assert w.messages == [{"role": "system", "content": "Tutor"}]
        await w.send("Fresh start")
        assert len(w.turns) == 1 and w.turns[0].state == "done"

    asyncio.run(main())


def test_a_missing_key_is_an_inline_error(server, monkeypatch):
    monkeypatch.delenv("ZAI_API_KEY")

    async def main():
        w = ChatWidget()  # makes its own client: no key anywhere
        reply = await w.send("hello")
        assert reply is None and w.turns[0].state == "error"
        assert "ZAI_API_KEY" in w._views[0].note.value and w._input.value == "hello"

    asyncio.run(main())


def test_a_long_answer_is_split_into_bounded_panes(server):
    async def main():
        w = ChatWidget(client=_client(server))
        w.updates_per_second = None  # draw on every event: the worst case for update size
        sizes: list[int] = []  # the size of every value sent to any pane
        task = w.send("[[huge=50000]] a long one")
        view = w._views[0]

        def watch_new_panes(change):
            for pane in set(change["new"]) - set(change["old"]):
                pane.observe(lambda c: sizes.append(len(c["new"])), "value")

        view.answer.observe(watch_new_panes, "children")
        reply = await task
        assert len(reply.text) == 50000 and len(view.panes) > 5
        whole = len(markdown_html(reply.text))
        assert len(sizes) > 100 and max(sizes) < 3 * SEGMENT_CHARS < whole / 5, (max(sizes), whole)

    asyncio.run(main())


# -- the widget in a real kernel ------------------------------------------------------------------


def widget_values(run, model_id: str) -> list[str]:
    """Every `value` the front end was sent for widget `model_id`, in order."""
    values = []
    for kind, content in run.messages:
        if content.get("comm_id") != model_id:
            continue
        data = content.get("data") or {}
        if kind == "comm_open" or data.get("method") in ("update", "echo_update"):
            state = data.get("state") or {}
            if "value" in state:
                values.append(state["value"])
    return values


def all_states(run) -> list[dict]:
    return [
        content["data"]["state"]
        for kind, content in run.messages
        if kind in ("comm_open", "comm_msg") and "state" in (content.get("data") or {})
    ]


def ask(kernel, expression: str):
    """Evaluate `expression` in the kernel; its JSON value."""
    run = kernel.run(f"import json as _j; print(_j.dumps(({expression})))")
    assert run.error is None, run.error
    return json.loads(run.stdout)


def click(kernel, model_id: str) -> None:
    """What a front end sends when a Button is clicked."""
    frontend(kernel, model_id, {"method": "custom", "content": {"event": "click"}})


def frontend(kernel, model_id: str, data: dict) -> None:
    client = kernel.client
    client.shell_channel.send(client.session.msg("comm_msg", {"comm_id": model_id, "data": data}))


@pytest.fixture(scope="module")
def widget_kernel(kernel):
    run = kernel.run("import asyncio\nfrom glm_notebook import ChatWidget, chat, GLMClient")
    assert run.error is None, run.error
    return kernel


def test_chat_displays_the_widget(widget_kernel):
    run = widget_kernel.run('w = chat(model="glm-4.6", system="You are a helpful tutor")')
    assert run.error is None and run.result is None
    [shown] = run.of_type("display_data")
    assert shown["data"]["text/plain"] == "<ChatWidget glm-4.6: 0 turns, idle>"
    view = shown["data"]["application/vnd.jupyter.widget-view+json"]
    assert view["model_id"] == ask(widget_kernel, "w.widget.model_id")


def test_answer_streams_into_the_transcript(widget_kernel, server):
    run = widget_kernel.run('w = ChatWidget()\nreply = await w.send("[[delay=0.02]] Explain streaming")')
    assert run.error is None and run.outputs == []
    panes = ask(widget_kernel, "[p.model_id for p in w._views[-1].panes]")
    final = ask(widget_kernel, "[p.value for p in w._views[-1].panes]")
    answer = widget_values(run, panes[1])
    assert len(answer) >= 4, answer  # it grew over several updates...
    assert len(answer[1]) < len(answer[-2]) < len(answer[-1])
    assert answer[-1] == final[1]  # ...and ended as the full answer
    assert "Explain streaming" in final[1] and "<table>" in final[1]
    reasoning = widget_values(run, panes[0])
    assert any("<details class=\"glm-reasoning\" open>" in v for v in reasoning)
    assert reasoning[-1] == final[0] and "<details class=\"glm-reasoning\">" in final[0]
    assert "glm-footer" in ask(widget_kernel, "w._views[-1].note.value")
    assert server.records[-1].completed


def test_stop_button_mid_stream_keeps_the_partial_answer(widget_kernel, server):
    ids = ask(widget_kernel, "(w := ChatWidget())._stop_button.model_id, w._send_button.model_id")
    first = len(server.records)
    running = widget_kernel.start('reply = await w.send("[[delay=0.05]] Tell me about stopping")')
    # Wait until the answer (not just the reasoning) is on screen: its heading arrived.
    running.wait_for(lambda run: any("<h2>" in str(state.get("value")) for state in all_states(run)))
    click(widget_kernel, ids[0])  # handled while the cell is still awaiting
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
    note = ask(widget_kernel, "w._views[-1].note.value")
    assert "Stopped after" in note and "kept" in note
    assert ask(widget_kernel, "w._input.disabled, w._stop_button.disabled") == [False, True]

    # The next turn carries the history: the server answers as turn 2.
    run = widget_kernel.run('reply = await w.send("And what comes next?")')
    assert run.error is None
    text = ask(widget_kernel, "reply.text")
    assert 'This is turn 2 of our conversation; you first asked about "Tell me about stopping"' in text
    assert server.records[-1].body["messages"][:2] == state[3]


def test_interrupting_the_kernel_stops_the_turn(widget_kernel, server):
    first = len(server.records)
    ask(widget_kernel, "(w := ChatWidget()) is not None")
    running = widget_kernel.start('reply = await w.send("[[delay=0.05]] Interrupt me")')
    running.wait_for(lambda run: any("<h2>" in str(state.get("value")) for state in all_states(run)))
    widget_kernel.interrupt()
    run = running.wait()
    assert run.error is not None and run.error["ename"] in ("CancelledError", "KeyboardInterrupt")
    record = server.records[first]
    assert record.finished.wait(10) and record.disconnected
    state = ask(widget_kernel, "w.turns[0].state, w.busy, w._input.disabled, w.replies[0].stopped")
    assert state == ["stopped", False, False, "interrupted"]
    assert ask(widget_kernel, "len(w.messages)") == 2  # the partial answer is kept, as with Stop


def test_typing_and_send_button_from_the_front_end(widget_kernel, server):
    ids = ask(widget_kernel, "(w := ChatWidget())._input.model_id, w._send_button.model_id")
    frontend(widget_kernel, ids[0], {"method": "update", "state": {"value": "Typed in the box"}, "buffer_paths": []})
    click(widget_kernel, ids[1])
    run = widget_kernel.run("await w._task")  # the turn started by the click
    assert run.error is None
    assert ask(widget_kernel, "w.turns[0].prompt, w.turns[0].state, w._input.value") == [
        "Typed in the box",
        "done",
        "",
    ]


def test_error_shows_inline_and_gives_the_prompt_back(widget_kernel):
    run = widget_kernel.run(
        'w = ChatWidget(client=GLMClient(max_retries=0))\nreply = await w.send("[[status=500]] Will fail")'
    )
    assert run.error is None and run.outputs == []  # no traceback: the error is in the widget
    note = ask(widget_kernel, "w._views[-1].note.value")
    assert re.fullmatch(r'<p class="glm-chat-error">⚠ Z\.ai error \(HTTP 500[^<\n]*</p>', note), note
    assert ask(widget_kernel, "w._input.value, w._input.disabled, w.messages, w.turns[0].state") == [
        "[[status=500]] Will fail",
        False,
        [],
        "error",
    ]


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


def test_hostile_html_never_reaches_a_widget_unescaped(widget_kernel):
    prompt = "[[echo]] <img src=x onerror=alert(1)> and <script>alert(2)</script> [x](javascript:alert(3))"
    run = widget_kernel.run(f"w = ChatWidget()\nreply = await w.send({prompt!r})")
    assert run.error is None
    values = [v for state in all_states(run) for v in state.values() if isinstance(v, str)]
    assert values, "no widget state seen"
    for value in values:
        low = value.lower()
        assert "<img" not in low and "<script" not in low and 'href="javascript' not in low, value
    final = ask(widget_kernel, "w._views[-1].panes[1].value, w._views[-1].user.value")
    assert all("&lt;img src=x onerror=alert(1)&gt;" in v for v in final)
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


def test_notebook_shows_a_conversation_without_secrets():
    # Structure (explained cells, run, no errors) is checked for every notebook in
    # test_magic_notebooks; here, what this one must show.
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    text = nbformat.writes(notebook)
    assert DOCS_KEY not in text and "test-key-" not in text
    assert "This is turn 2 of our conversation" in text  # the history reached the model
    widget_views = [
        out for cell in notebook.cells for out in cell.get("outputs", [])
        if "application/vnd.jupyter.widget-view+json" in out.get("data", {})
    ]
    assert [out.data["text/plain"] for out in widget_views] == ["<ChatWidget glm-4.6: 0 turns, idle>"] * 2
    # The saved widget state (shown by nbviewer / GitHub) went through the sanitiser too.
    assert "<img" not in json.dumps(notebook.metadata.get("widgets", {}))
