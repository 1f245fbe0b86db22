"""The chat widget running a tool loop against the local server: calls in the turn's panes,
tool turns in the history. In-process, at the comm layer (like tests/test_widget.py)."""

from __future__ import annotations

import asyncio

from glm_notebook.notebook.widget import ChatWidget
from glm_notebook.results.tool_reply import ToolReply

from .test_widget import _client, frontend


def weather(location: str) -> str:
    """Current weather. location: the city"""
    return f"18 °C, clear in {location} <script>alert(1)</script>"


def test_calls_show_in_the_turn_and_the_history_keeps_them(server, wire):
    async def main():
        w = ChatWidget(client=_client(server), tools=[weather])
        frontend(w, op="send", text='Weather in "Florence"? [[tool=weather]]')
        reply = await w._task
        assert isinstance(reply, ToolReply) and reply.complete and len(reply.calls) == 1
        panes = wire.ops("pane")
        running = [i for i, p in enumerate(panes) if 'class="glm-tool glm-tool-running"' in p["html"]]
        ok = [i for i, p in enumerate(panes) if 'class="glm-tool glm-tool-ok"' in p["html"]]
        assert running and ok and running[0] < ok[0], [p["html"][:120] for p in panes]
        end = running[0]  # a draw sends its panes last first: it ends where the index rises
        while end + 1 < len(panes) and panes[end + 1]["index"] < panes[end]["index"]:
            end += 1
        seen: dict[int, str] = {}
        for pane in panes[: end + 1]:  # the turn as the browser shows it while the call runs
            seen[pane["index"]] = pane["html"]
        assert seen[0] == "" and "Waiting for the model" not in "".join(seen.values())
        assert seen[1].startswith('<details class="glm-reasoning"')  # reasoning, then the call
        final = w._views[0].html().panes
        assert '<details class="glm-tool glm-tool-ok">' in final[0]  # the finished step, collapsed
        assert "18 °C, clear in Florence" in final[0]
        assert "<script" not in "".join(p["html"] for p in panes)  # results are untrusted text
        assert "&lt;script&gt;" in final[0]
        assert "Tool results" in "".join(final[1:])  # the answer after the call
        [end] = wire.ops("end")
        assert "1 tool call" in end["note_html"]
        roles = [m["role"] for m in w.messages]
        assert roles == ["user", "assistant", "tool", "assistant"]
        assert w.messages[1]["tool_calls"][0]["function"]["name"] == "weather"
        static = w._static_bundle()["text/html"]
        assert '<details class="glm-tool glm-tool-ok">' in static

        frontend(w, op="send", text="And tomorrow?")  # the next turn sends the tool turns along
        second = await w._task
        assert second.messages[:4] == w.messages[:4]  # sent with the tool calls and results
        assert [m["role"] for m in w.messages] == [
            "user",
            "assistant",
            "tool",
            "assistant",
            "user",
            "assistant",
        ]

    asyncio.run(main())


def test_approve_declines_a_call(server, wire):
    asked = []

    def approve(call):
        asked.append(call.summary())
        return False

    async def main():
        w = ChatWidget(client=_client(server), tools=[weather], approve=approve)
        frontend(w, op="send", text='Weather in "Florence"? [[tool=weather]]')
        reply = await w._task
        assert asked == ['weather(location="Florence") …']
        assert reply.calls[0].status == "declined"
        final = w._views[0].html().panes
        assert 'class="glm-tool glm-tool-declined"' in final[0]

    asyncio.run(main())


def test_a_second_step_blanks_the_panes_it_no_longer_uses(server, wire):
    async def main():
        w = ChatWidget(client=_client(server), tools=[weather])
        long_prompt = 'Weather in "Florence"? [[tool=weather]] [[tool_rounds=2]]'
        frontend(w, op="send", text=long_prompt)
        reply = await w._task
        assert len(reply.steps) == 3
        final = w._views[0].html().panes
        assert final[0].count('<details class="glm-tool') == 2  # both finished steps, in order
        assert '<details class="glm-tool' not in "".join(final[1:])

    asyncio.run(main())


def test_confirm_asks_in_the_chat_and_the_answer_decides(server, wire):
    async def main():
        w = ChatWidget(client=_client(server), tools=[weather], confirm=True)
        frontend(
            w,
            op="send",
            text='Weather in "Florence" and "Siena"? [[tool=weather,args={"location":"Florence"}]] [[tool=weather,args={"location":"Siena"}]]',
        )
        for answer in (True, False):
            while len(wire.ops("ask")) < (1 if answer else 2):
                await asyncio.sleep(0.01)
            ask = wire.ops("ask")[-1]
            frontend(w, op="answer", key="not-a-key", ok=True)  # ignored
            frontend(w, op="answer", key=ask["key"], ok=answer)
        reply = await w._task
        before = wire.custom()[: wire.custom().index(wire.ops("ask")[0])]
        shown = [m["html"] for m in before if m.get("op") == "pane" and "glm-tool" in m["html"]][-1]
        assert 'class="glm-tool glm-tool-pending"' in shown and "waiting…" in shown
        assert 'class="glm-tool glm-tool-running"' not in shown  # not running before the answer
        asks = wire.ops("ask")
        assert [(a["name"], a["lines"], a["note"]) for a in asks] == [
            ("weather", ['location = "Florence"'], ""),
            ("weather", ['location = "Siena"'], ""),
        ]
        assert [a["key"] for a in wire.ops("asked")] == [a["key"] for a in asks]
        assert [c.status for c in reply.calls] == ["ok", "declined"]
        assert not w._asks

    asyncio.run(main())


def test_stop_while_asking_ends_the_turn(server, wire):
    async def main():
        w = ChatWidget(client=_client(server), tools=[weather], confirm=True)
        frontend(w, op="send", text='Weather in "Florence"? [[tool=weather]]')
        while not wire.ops("ask"):
            await asyncio.sleep(0.01)
        frontend(w, op="stop")
        reply = await w._task
        assert w.turns[0].state == "stopped" and not w._asks
        assert wire.ops("asked")[-1]["key"] == wire.ops("ask")[-1]["key"]
        assert reply.calls[0].status != "ok"

    asyncio.run(main())


def test_confirm_needs_tools_and_excludes_approve(server):
    import pytest

    with pytest.raises(ValueError, match="tools"):
        ChatWidget(client=_client(server), confirm=True)
    with pytest.raises(ValueError, match="one of them"):
        ChatWidget(client=_client(server), tools=[weather], confirm=True, approve=lambda call: True)
