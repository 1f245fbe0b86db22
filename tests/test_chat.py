"""`Chat`: one conversation for Python, `%%glm -c` and the widget, against the local server over
loopback (client level), then in a real kernel (the magic and `trip("…")` streaming in place)."""

from __future__ import annotations

import json
import os

import pytest

from glm_notebook import Chat, ChatFileError, GLMClient, GLMError, Usage
from glm_notebook.results.cost import PRICES, cost_of, format_cost

from .kernel_harness import Kernel


def _chat(server, **kw) -> Chat:
    return Chat(client=GLMClient(server.api_key, server.base_url, max_retries=0), **kw)


def _roles(body: dict) -> list[str]:
    return [m["role"] for m in body["messages"]]


# -- the history ----------------------------------------------------------------------------------


def test_turns_carry_the_history_and_a_failed_turn_changes_nothing(server) -> None:
    trip = _chat(server, model="glm-4.6", system="You are a terse travel agent.")
    first = trip.send("Three days in Lisbon?")
    second = trip.send("And in Porto?")
    assert first.complete and second.complete
    assert _roles(server.records[-1].body) == ["system", "user", "assistant", "user"]
    assert trip.messages == [
        {"role": "system", "content": "You are a terse travel agent."},
        {"role": "user", "content": "Three days in Lisbon?"},
        {"role": "assistant", "content": first.text},
        {"role": "user", "content": "And in Porto?"},
        {"role": "assistant", "content": second.text},
    ]
    before = trip.messages
    with pytest.raises(GLMError):
        trip.send("Broken [[status=400,code=1214]]")
    assert trip.messages == before and len(trip) == 2
    assert trip.undo() is not None and len(trip) == 1
    trip.reset()
    assert trip.messages == [{"role": "system", "content": "You are a terse travel agent."}]


def test_max_history_sends_the_system_prompt_and_the_last_turns(server) -> None:
    chat = _chat(server, system="Be brief", max_history=1)
    for question in ("one", "two", "three"):
        chat.send(question)
    sent = server.records[-1].body["messages"]
    assert [m["content"] for m in sent if m["role"] != "assistant"] == ["Be brief", "two", "three"]
    assert len(chat.messages) == 7  # the chat itself keeps everything
    with pytest.raises(ValueError, match="max_history"):
        Chat(max_history=-1)


def test_a_tool_turn_keeps_its_calls_and_results_together(server) -> None:
    def weather(location: str) -> str:
        "Current weather. location: the city"
        return f"18 °C in {location}"

    chat = _chat(server, tools=[weather], max_history=1)
    reply = chat.send("[[tool=weather]] Weather in Florence?")
    assert reply.calls and reply.calls[0].result.startswith("18 °C")
    roles = [m["role"] for m in chat.turns[0].messages]
    assert roles[0] == "user" and "tool" in roles and roles[-1] == "assistant"
    chat.send("Thanks")
    sent = server.records[-1].body["messages"]
    calls = [m for m in sent if m.get("tool_calls")]
    results = [m for m in sent if m["role"] == "tool"]
    assert calls and [r["tool_call_id"] for r in results] == [c["id"] for m in calls for c in m["tool_calls"]]


def test_messages_are_settable_and_checked(server) -> None:
    chat = _chat(server)
    chat.messages = [
        {"role": "system", "content": "Tutor"},
        {"role": "user", "content": "What is 2+2?"},
        {"role": "assistant", "content": "4"},
    ]
    assert chat.system == "Tutor" and len(chat) == 1 and chat.turns[0].answer == "4"
    chat.send("And 3+3?")
    assert _roles(server.records[-1].body) == ["system", "user", "assistant", "user"]
    for bad in (
        "hello",
        [{"content": "no role"}],
        [{"role": "wizard", "content": "x"}],
        [{"role": "user", "content": 3}],
    ):
        with pytest.raises(ValueError):
            chat.messages = bad  # type: ignore[assignment]


@pytest.mark.anyio
async def test_asend_is_the_async_twin(server) -> None:
    chat = _chat(server)
    reply = await chat.asend("Hello there")
    again = await chat.asend("Again")
    assert reply.complete and again.complete and len(chat) == 2
    assert _roles(server.records[-1].body) == ["user", "assistant", "user"]


def test_the_key_never_goes_out_in_any_text(server) -> None:
    """Whatever path puts the key into a request (a prompt, history, a tool result), the client
    sends "[API key hidden]" in its place."""
    key = server.api_key

    def leaky(name: str) -> str:
        "Returns a secret. name: anything"
        return f"the key is {key}"

    chat = _chat(server, tools=[leaky])
    chat.messages = [{"role": "user", "content": f"my key {key}"}, {"role": "assistant", "content": key}]
    chat.send(f"[[tool=leaky]] and again {key}")
    for record in server.records[-2:]:
        assert key not in json.dumps(record.body) and "[API key hidden]" in json.dumps(record.body)


# -- totals ----------------------------------------------------------------------------------------


def test_usage_adds_and_cost_is_priced_from_the_table(server) -> None:
    chat = _chat(server, model="glm-4.6")
    replies = [chat.send("Tell me a fact"), chat.send("Another one")]
    usage = replies[0].usage + replies[1].usage
    assert chat.usage == usage == sum(r.usage for r in replies)
    price = PRICES["glm-4.6"]
    by_hand = sum(
        (
            (u.prompt_tokens - u.cached_tokens) * price.input
            + u.cached_tokens * price.cached_input
            + u.completion_tokens * price.output
        )
        / 1e6
        for u in (r.usage for r in replies)
    )
    assert chat.cost == pytest.approx(by_hand) and replies[0].cost == pytest.approx(
        cost_of("glm-4.6", replies[0].usage)
    )
    assert Chat(prices={"glm-4.6": (0, 0, 0)}, client=chat.client).cost == 0
    free = Usage(prompt_tokens=1000, completion_tokens=1000, total_tokens=2000)
    assert cost_of("glm-4.5-flash", free) == 0
    with pytest.warns(UserWarning, match="No price is known for 'glm-made-up'"):
        assert cost_of("glm-made-up", free) is None
    assert format_cost(None) == "cost ?" and format_cost(0.0016) == "$0.0016"


# -- saving and loading ------------------------------------------------------------------------


def test_save_and_load_round_trip_without_tools_or_key(server, tmp_path) -> None:
    chat = _chat(server, model="glm-4.6", system="Terse", temperature=0.3, max_history=4, tools=[len])
    chat.send("Hi")
    path = chat.save(tmp_path / "trip.json")
    text = path.read_text()
    assert server.api_key not in text and "len" not in json.loads(text)["params"]
    again = Chat.load(path, client=chat.client)
    assert again.messages == chat.messages and again.model == "glm-4.6" and again.max_history == 4
    assert again.params == {"temperature": 0.3} and again.usage == chat.usage and again.tools == []
    assert again.cost == pytest.approx(chat.cost)
    assert "**You:**\n\nHi" in again.to_markdown()
    again.send("And then?")
    assert _roles(server.records[-1].body) == ["system", "user", "assistant", "user"]


@pytest.mark.parametrize(
    "content, message",
    [
        ("not json", "is not JSON"),
        ("[]", "not a chat saved by glm_notebook"),
        ('{"glm_notebook_chat": 1, "turns": {}}', "'turns' is not a list"),
        ('{"glm_notebook_chat": 1, "turns": [{"messages": [{"role": "root", "content": "x"}]}]}', "role"),
        (
            '{"glm_notebook_chat": 1, "turns": [{"messages": [{"role": "assistant", "content": "x"}]}]}',
            "user message",
        ),
        ('{"glm_notebook_chat": 1, "params": {"tools": [1]}, "turns": []}', "'params' may hold only"),
        ('{"glm_notebook_chat": 1, "params": {"temperature": NaN}, "turns": []}', "'params' may hold only"),
        ('{"glm_notebook_chat": 1, "model": ["x"], "turns": []}', "'model' is not a string"),
        ('{"glm_notebook_chat": 1, "max_history": -3, "turns": []}', "max_history"),
        (
            '{"glm_notebook_chat": 1, "turns": [{"messages": [{"role": "user", "content": "x"}], "usage": {"prompt_tokens": -1}}]}',
            "not a count",
        ),
    ],
)
def test_a_hostile_chat_file_is_refused_in_one_line(tmp_path, content, message) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(ChatFileError, match=message) as caught:
        Chat.load(path)
    assert "\n" not in str(caught.value)


def test_save_never_writes_through_a_symlink(tmp_path) -> None:
    target = tmp_path / "bashrc"
    target.write_text("keep me")
    link = tmp_path / "chat.json"
    os.symlink(target, link)
    with pytest.raises(ChatFileError, match="symbolic link"):
        Chat(system="x").save(link)
    assert target.read_text() == "keep me"
    with pytest.raises(ChatFileError, match="Cannot read"):
        Chat.load(tmp_path / "missing.json")


# -- in a kernel ---------------------------------------------------------------------------------


def test_calling_a_chat_streams_in_place_and_shows_the_answer_once(k: Kernel) -> None:
    k.run("from glm_notebook import Chat\ntrip = Chat(model='glm-4.6', system='Terse')")
    run = k.run("trip('Three days in Lisbon?')")
    assert run.error is None, run.stderr
    assert run.of_type("update_display_data"), "the answer did not stream"
    assert run.of_type("execute_result") == []  # shown once: the final display, no Out duplicate
    finals = [out for out in run.outputs if out.get("data")]
    assert len(finals) == 1 and "Lisbon" in finals[0]["data"]["text/html"]
    assigned = k.run("r = trip('And Porto?')")
    assert assigned.error is None and len([o for o in assigned.outputs if o.get("data")]) == 1
    assert k.run("print(len(trip), r.complete, trip.usage.total_tokens > 0)").stdout.split() == [
        "2",
        "True",
        "True",
    ]
    both = k.run("trip('Lisbon or Porto?')\ntrip('Which is cheaper?')")
    finals = [out for out in both.outputs if out.get("data")]  # each turn keeps its answer, once
    assert both.error is None and len(finals) == 2 and both.of_type("execute_result") == []
    assert "Lisbon or Porto?" in finals[0]["data"]["text/html"]
    assert "Which is cheaper?" in finals[1]["data"]["text/html"]


def test_the_magic_continues_the_chat_in_the_variable(k: Kernel, server) -> None:
    k.run("from glm_notebook import Chat\nplan = Chat(system='You plan trips')\nplan.send('Lisbon?')")
    run = k.run("%%glm -c plan\nAnd the evening?")
    assert run.error is None
    assert _roles(server.records[-1].body) == ["system", "user", "assistant", "user"]
    assert k.run("print(len(plan), plan.messages[-2]['content'])").stdout.strip() == "2 And the evening?"
    fresh = k.run("%%glm -c brand_new\nHello")
    assert fresh.error is None
    assert k.run("print(type(brand_new).__name__, len(brand_new))").stdout.strip() == "Chat 1"
    history = k.run("h = %glm history plan\nprint(h is plan)")
    assert history.stdout.strip() == "True"
    shown = k.run("%glm history plan").result
    assert shown["text/plain"].startswith("Conversation 'plan' · 2 turns") and "$" in shown["text/plain"]
    k.run("taken = 'a string'")
    refused = k.run("%%glm -c taken\nHi")
    assert "holds a str, not a Chat" in refused.stderr + str(refused.error)
    clash = k.run("%%glm -c plan -o plan\nHi")
    assert "pick another -o name" in clash.stderr + str(clash.error)


def test_max_history_setting_applies_to_new_magic_conversations(k: Kernel, server) -> None:
    k.run("%config GLM.max_history = 1")
    try:
        for question in ("one", "two", "three"):
            assert k.run(f"%%glm -c limited\n{question}").error is None
    finally:
        k.run("%config GLM.max_history = None")
    sent = server.records[-1].body["messages"]
    assert [m["content"] for m in sent if m["role"] == "user"] == ["two", "three"]
    bad = k.run("%config GLM.prices = {'glm-4.6': 'free'}")
    assert "GLM.prices" in bad.stderr + str(bad.error)


# -- the widget on the same conversation -----------------------------------------------------------


def test_the_widget_continues_a_chat_and_the_reverse(server, wire) -> None:
    import asyncio

    from glm_notebook.notebook.widget import ChatWidget

    trip = _chat(server, system="Terse", max_history=5)
    trip.send("Lisbon?")

    async def main() -> None:
        w = ChatWidget(chat=trip, interpolate=False)
        assert w.chat is trip and len(w.turns) == 1  # the earlier turn shows as finished
        assert [op["op"] for op in wire.custom()[:2]] == ["turn", "pane"]
        await w.send("And Porto?")
        assert _roles(server.records[-1].body) == ["system", "user", "assistant", "user"]
        assert len(trip) == 2 and trip.messages[-2]["content"] == "And Porto?"
        trip.send("From Python again")  # the reverse: the next widget turn sees it
        await w.send("Thanks")
        assert [m["content"] for m in server.records[-1].body["messages"] if m["role"] == "user"] == [
            "Lisbon?",
            "And Porto?",
            "From Python again",
            "Thanks",
        ]
        saved = w.messages
        w.clear()
        assert len(trip) == 0 and w.restore() and len(trip) == 4
        w.messages = saved[:3]  # the setter: system + one turn
        assert len(trip) == 1 and len(w.turns) == 1
        w.close()

    asyncio.run(main())


def test_glm_usage_totals_the_session_by_model(k: Kernel) -> None:
    k.run("%glm usage --reset")
    assert k.run("%glm usage").stdout.strip() == "No answers yet in this session."
    assert k.run("%%glm -m glm-4.6\nOne").error is None
    assert k.run("%%glm -m glm-4.5-flash\nTwo").error is None
    table = k.run("%glm usage").stdout.splitlines()
    assert table[0].split() == ["model", "requests", "prompt", "cached", "completion", "reasoning", "cost"]
    rows = {line.split()[0]: line.split() for line in table[1:]}
    assert rows["glm-4.6"][1] == "1" and rows["glm-4.6"][-1].startswith("$")
    assert rows["glm-4.5-flash"][-1] == "$0" and rows["total"][1] == "2"


def test_two_turns_in_one_cell_leave_ipython_showing_replies_normally_afterwards(k: Kernel) -> None:
    k.run("from glm_notebook import Chat\ntwice = Chat()")
    run = k.run("a = twice('First?')\ntwice('Second?')")
    assert run.error is None and run.of_type("execute_result") == []
    later = k.run("a")  # the next cell: a Reply is shown by IPython again, as its result
    assert len(later.of_type("execute_result")) == 1
