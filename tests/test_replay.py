"""Record and replay against the local server over loopback: what is stored, what is served
again, misses, tool loops, concurrent writers, corrupt lines, prune."""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import os
import socket
import threading
import time

import pytest

from glm_notebook import GLMClient, GLMError, Replay, ReplayMissError, ToolReply
from glm_notebook.client.replay import ReplayStore, request_key
from glm_notebook.files import UnsafeFileError
from glm_notebook.render.reply_view import reply_bundle


@pytest.fixture(autouse=True)
def no_key_in_environment(monkeypatch):
    """Clients here get the server's key explicitly or none at all."""
    monkeypatch.delenv("ZAI_API_KEY", raising=False)


def client_for(server, replay, **kw):
    return GLMClient(server.api_key, server.base_url, max_retries=0, replay=replay, **kw)


def closed_url():
    """A loopback URL where nothing listens."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/api/paas/v4"


def offline(path, mode="replay", **kw):
    """A client with no key and no server: only replays can answer."""
    return GLMClient(None, closed_url(), max_retries=0, replay=Replay(path, mode=mode, pace="instant", **kw))


def test_auto_records_then_replays_without_the_service(server, tmp_path):
    path = tmp_path / "a.glm.jsonl"
    start = len(server.records)
    live = client_for(server, Replay(path)).chat("Tell me about owls", temperature=0.2)
    assert len(server.records) == start + 1 and live.replayed_at is None
    (line,) = path.read_text().splitlines()
    entry = json.loads(line)
    assert entry["request"]["messages"] == [{"role": "user", "content": "Tell me about owls"}]
    assert entry["request"]["temperature"] == 0.2 and entry["model"] == live.model
    assert entry["request_id"] == live.id and entry["usage"]["total_tokens"] == live.usage.total_tokens
    assert entry["events"][-1][1] == "data: [DONE]" and entry["recorded_at"].endswith("Z")
    assert server.api_key not in path.read_text() and "Bearer" not in path.read_text()
    assert server.base_url not in path.read_text() and "127.0.0.1" not in path.read_text()

    replay = Replay(path, mode="replay", pace="instant")
    again = GLMClient(None, closed_url(), replay=replay).chat("Tell me about owls", temperature=0.2)
    assert len(server.records) == start + 1
    assert (again.text, again.reasoning, again.id, again.model) == (
        live.text,
        live.reasoning,
        live.id,
        live.model,
    )
    assert again.usage == live.usage and again.finish_reason == "stop" and again.complete
    assert again.replayed_at == entry["recorded_at"] and (replay.hits, replay.misses) == (1, 0)
    html, meta = reply_bundle(again)[0]["text/html"], reply_bundle(again)[1]["glm_notebook"]
    assert f"replayed · recorded {entry['recorded_at'][:10]}" in html
    assert meta["replayed"] == entry["recorded_at"]
    assert (
        "replayed" not in reply_bundle(live)[0]["text/html"]
        and "replayed" not in reply_bundle(live)[1]["glm_notebook"]
    )


def test_a_changed_parameter_or_message_is_a_miss(server, tmp_path):
    path = tmp_path / "b.glm.jsonl"
    client_for(server, Replay(path)).chat("Count to three", temperature=0.2)
    replay = Replay(path, mode="replay", pace="instant")
    client = GLMClient(None, closed_url(), replay=replay)
    for kwargs in ({"temperature": 0.3}, {"temperature": 0.2, "max_tokens": 50}):
        with pytest.raises(
            ReplayMissError, match=r"No recording .* b\.glm\.jsonl .*'Count to three'.*GLM_REPLAY=auto"
        ):
            client.chat("Count to three", **kwargs)
    with pytest.raises(ReplayMissError):
        client.chat("Count to four", temperature=0.2)
    assert (replay.hits, replay.misses) == (0, 3)
    assert client.chat("Count to three", temperature=0.2).text  # the recorded one still replays


def test_the_key_is_the_canonical_request():
    a = {"model": "glm-4.6", "messages": [{"role": "user", "content": "hi"}], "temperature": 0.2}
    b = json.loads(
        json.dumps(
            {"temperature": 0.2, "messages": [{"content": "hi", "role": "user"}], "model": "glm-4.6"},
            indent=3,
        )
    )
    assert request_key(a) == request_key(b)
    assert request_key(a) != request_key({**a, "temperature": 0.3})


def test_record_mode_always_asks_and_the_latest_wins(server, tmp_path):
    path = tmp_path / "c.glm.jsonl"
    start = len(server.records)
    replay = Replay(path, mode="record")
    client = client_for(server, replay)
    first, second = client.chat("Tell me a fact"), client.chat("Tell me a fact")
    assert len(server.records) == start + 2 and len(path.read_text().splitlines()) == 2
    assert first.replayed_at is None and second.replayed_at is None
    older, newer = path.read_text().splitlines()
    path.write_text(older.replace(first.id, "local-older") + "\n" + newer + "\n")
    again = offline(path).chat("Tell me a fact")
    assert again.id == second.id and len(ReplayStore(path).entries()) == 1


def test_errors_and_stopped_streams_are_not_recorded(server, tmp_path):
    path = tmp_path / "d.glm.jsonl"
    client = client_for(server, Replay(path))
    with pytest.raises(GLMError):
        client.chat("Fail please [[status=500]]")
    with client.stream("A long one [[huge=4000]]") as stream:
        next(iter(stream))
    assert not path.exists() or path.read_text() == ""


def test_replay_mode_needs_no_key_but_auto_asks_for_one_on_a_miss(tmp_path):
    with pytest.raises(ReplayMissError):
        offline(tmp_path / "e.glm.jsonl").chat("hello")
    from glm_notebook import MissingAPIKeyError

    with pytest.raises(MissingAPIKeyError):
        offline(tmp_path / "e.glm.jsonl", mode="auto").chat("hello")
    with pytest.raises(MissingAPIKeyError):
        GLMClient(None, closed_url()).chat("hello")


def test_async_record_and_replay_with_the_recorded_pace(server, tmp_path):
    path = tmp_path / "f.glm.jsonl"
    prompt = "One two three four five six [[echo,delay=0.05]]"

    async def main():
        async with client_for(server, Replay(path)) as client:
            live = await client.achat(prompt)
        async with GLMClient(None, closed_url(), replay=Replay(path, mode="replay")) as client:
            began = time.perf_counter()
            again = await client.achat(prompt)
            took = time.perf_counter() - began
        return live, again, took

    live, again, took = asyncio.run(main())
    times = [t for t, _ in json.loads(path.read_text())["events"]]
    assert times == sorted(times) and times[-1] - times[0] >= 0.04 * (len(times) - 3)
    assert again.text == live.text and again.replayed_at
    # the recorded pace: the last event comes no earlier than it did when recorded
    assert took >= times[-1]


def weather(location: str) -> str:
    """Current weather. location: the city"""
    calls.append(location)
    return f"18 °C, clear in {location}"


calls: list[str] = []


def test_a_replayed_tool_loop_does_not_call_the_tool(server, tmp_path):
    path = tmp_path / "g.glm.jsonl"
    calls.clear()
    live = client_for(server, Replay(path), model="glm-4.6").chat(
        "Weather in Florence? Use weather", tools=[weather]
    )
    assert calls == ["Florence"] and len(path.read_text().splitlines()) == 2  # each request its own entry

    replay = Replay(path, mode="replay", pace="instant")
    again = GLMClient(None, closed_url(), replay=replay, model="glm-4.6").chat(
        "Weather in Florence? Use weather", tools=[weather]
    )
    assert calls == ["Florence"] and (replay.hits, replay.misses) == (2, 0)
    assert isinstance(again, ToolReply) and again.text == live.text and again.replayed_at
    (call,) = again.calls
    assert (call.status, call.result) == ("ok", "18 °C, clear in Florence")
    assert again.messages == live.messages

    async def run_async():
        return await GLMClient(None, closed_url(), replay=replay, model="glm-4.6").achat(
            "Weather in Florence? Use weather", tools=[weather]
        )

    assert asyncio.run(run_async()).text == live.text and calls == ["Florence"]
    # asked to, replay runs the tools again (and the answer still comes from the file)
    rerun = Replay(path, mode="replay", pace="instant", run_tools=True)
    GLMClient(None, closed_url(), replay=rerun, model="glm-4.6").chat(
        "Weather in Florence? Use weather", tools=[weather]
    )
    assert calls == ["Florence", "Florence"]


def test_concurrent_writers_in_threads_and_processes_never_corrupt_the_file(server, tmp_path):
    path = tmp_path / "h.glm.jsonl"

    async def many(tag):
        async with client_for(server, Replay(path)) as client:
            await asyncio.gather(*(client.achat(f"Item {tag}-{i} [[huge=800]]") for i in range(6)))

    threads = [threading.Thread(target=asyncio.run, args=(many(t),)) for t in "ab"]
    context = multiprocessing.get_context("spawn")
    procs = [
        context.Process(target=_child, args=(server.base_url, server.api_key, str(path), t)) for t in "cd"
    ]
    for worker in [*threads, *procs]:
        worker.start()
    for thread in threads:
        thread.join(120)
    for proc in procs:
        proc.join(120)
        assert proc.exitcode == 0
    lines = path.read_text().splitlines()
    assert len(lines) == 24 and all(json.loads(line)["events"] for line in lines)
    replay = Replay(path, mode="replay", pace="instant")
    client = GLMClient(None, closed_url(), replay=replay)
    assert all(client.chat(f"Item {t}-{i} [[huge=800]]").text for t in "abcd" for i in range(6))


def _child(base_url, key, path, tag):
    async def many():
        async with GLMClient(key, base_url, max_retries=0, replay=Replay(path)) as client:
            await asyncio.gather(*(client.achat(f"Item {tag}-{i} [[huge=800]]") for i in range(6)))

    asyncio.run(many())


def test_a_corrupt_line_is_skipped_with_one_warning(server, tmp_path):
    path = tmp_path / "i.glm.jsonl"
    client_for(server, Replay(path)).chat("First")
    with path.open("a") as handle:
        handle.write('{"key": "broken", "events": [[0.1, "data: {\\"trunc\n')
        handle.write("not json at all\n")
    with pytest.warns(UserWarning, match=r"skipped 2 line\(s\)"):  # the writer's index warns too
        client_for(server, Replay(path)).chat("Second")
    replay = Replay(path, mode="replay", pace="instant")
    client = GLMClient(None, closed_url(), replay=replay)
    with pytest.warns(UserWarning, match=r"skipped 2 line\(s\)"):
        assert client.chat("First").text
    assert client.chat("Second").text  # no second warning for the same lines
    assert replay.hits == 2


def test_prune_keeps_what_this_session_used(server, tmp_path):
    path = tmp_path / "j.glm.jsonl"
    client_for(server, Replay(path)).chat("Old question")
    client_for(server, Replay(path)).chat("Kept question")
    client_for(server, Replay(path, mode="record")).chat("Kept question")
    replay = Replay(path, mode="auto")
    client = client_for(server, replay)
    client.chat("Kept question")  # a hit
    client.chat("New question")  # recorded
    assert replay.prune() == (2, 2)  # the old one and the superseded "Kept" line go
    questions = [
        json.loads(line)["request"]["messages"][0]["content"] for line in path.read_text().splitlines()
    ]
    assert sorted(questions) == ["Kept question", "New question"]
    assert "2 entries" in replay.status() and "1 replayed, 1 missed, 1 recorded" in replay.status()


def test_bad_mode_and_pace_are_refused(tmp_path):
    with pytest.raises(ValueError, match="auto, record, replay"):
        Replay(tmp_path / "x", mode="on")
    with pytest.raises(ValueError, match="recorded, instant"):
        Replay(tmp_path / "x", pace="fast")


def test_map_records_every_item_concurrently_and_replays_offline(server, tmp_path):
    path = tmp_path / "m.glm.jsonl"
    prompts = [f"Say {n} in words" for n in range(12)]
    start = len(server.records)
    live = client_for(server, Replay(path)).map(prompts, concurrency=6, progress=False)
    assert len(server.records) == start + 12 and not any(live.errors)
    lines = path.read_text().splitlines()
    assert len(lines) == 12 and all(json.loads(line)["events"] for line in lines)

    again = offline(path).map(prompts, concurrency=6, progress=False)
    assert len(server.records) == start + 12
    assert again.texts == live.texts and not any(again.errors)


def _tamper(path, old: str, new: str, line: int = 0) -> None:
    """Edit the recorded events of entry `line`, as a pull request could."""
    lines = path.read_text().splitlines()
    assert old in lines[line]
    lines[line] = lines[line].replace(old, new)
    path.write_text("\n".join(lines) + "\n")


@pytest.mark.parametrize("mode", ["replay", "auto"])
def test_a_tampered_recording_never_runs_a_tool(server, tmp_path, mode):
    """An edited tool argument in a recording: the notebook's function is not run with it (nor
    with anything else) in any mode; one line says why and how to re-record."""
    path = tmp_path / "tampered.glm.jsonl"
    calls.clear()
    client_for(server, Replay(path), model="glm-4.6").chat(
        "Weather in Florence? Use weather", tools=[weather]
    )
    assert calls == ["Florence"]
    # a fragment of the streamed argument, in the recorded chunks: "Florence" becomes "Zzorence"
    _tamper(path, '"arguments": "n\\":\\"Fl"', '"arguments": "n\\":\\"Zz"')
    replay = Replay(path, mode=mode, pace="instant")
    client = GLMClient("k" if mode == "auto" else None, closed_url(), replay=replay, model="glm-4.6")
    with pytest.raises(ReplayMissError, match=r"not running tools from a recordings file") as caught:
        client.chat("Weather in Florence? Use weather", tools=[weather])
    assert calls == ["Florence"], "a tool ran with arguments read from an edited recording"
    assert "\n" not in str(caught.value)


def test_a_recordings_file_that_is_a_link_is_refused_and_its_target_untouched(server, tmp_path):
    target = tmp_path / "bashrc"
    target.write_text("export PATH=/usr/bin\n")
    link = tmp_path / "nb.glm.jsonl"
    link.symlink_to(target)
    for mode in ("auto", "record", "replay"):
        client = client_for(server, Replay(link, mode=mode))
        with pytest.raises(UnsafeFileError, match="symbolic link") as caught:
            client.chat("Write $(touch /tmp/pwned) into it")
        assert "\n" not in str(caught.value)
    with pytest.raises(UnsafeFileError, match="symbolic link"):
        Replay(link).prune()
    assert target.read_text() == "export PATH=/usr/bin\n"

    # a directory reached through a link is refused too; a directory as the path is one line
    (tmp_path / "real").mkdir()
    (tmp_path / "linked").symlink_to(tmp_path / "real")
    with pytest.raises(UnsafeFileError, match="symbolic link"):
        client_for(server, Replay(tmp_path / "linked" / "x.glm.jsonl")).chat("Hi")
    assert list((tmp_path / "real").iterdir()) == []
    with pytest.raises(UnsafeFileError, match="is a directory"):
        client_for(server, Replay(tmp_path / "real")).chat("Hi")


def test_prune_replaces_the_file_instead_of_truncating_it(server, tmp_path):
    path = tmp_path / "p.glm.jsonl"
    client_for(server, Replay(path)).chat("Old")
    hard = tmp_path / "hardlink"
    os.link(path, hard)  # another name for the same file: a truncate in place would empty it
    replay = Replay(path)
    client_for(server, replay).chat("New")
    before = hard.read_text()
    assert replay.prune() == (1, 1)
    assert hard.read_text() == before and "Old" in before  # the other name keeps its content
    assert "New" in path.read_text() and "Old" not in path.read_text()
    assert oct(path.stat().st_mode & 0o777) == oct(hard.stat().st_mode & 0o777)


def test_tampered_event_times_are_clamped_and_bad_fields_skip_the_line(server, tmp_path):
    """Edited recordings cannot hang a replay (`1e9` seconds between events) or crash it (a bad
    status, `Infinity`, a lone surrogate): times are clamped, bad lines skipped with a warning."""
    from glm_notebook.client.replay import MAX_REPLAY_GAP, MAX_REPLAY_SECONDS, Entry

    path = tmp_path / "times.glm.jsonl"
    client_for(server, Replay(path)).chat("Slow one")
    client_for(server, Replay(path)).chat("Second")
    lines = path.read_text().splitlines()
    slow = json.loads(lines[0])
    slow["events"][1][0] = 1e9  # an edited time: 31 years before the second event
    slow["events"][-1][0] = -5
    good = Entry.from_data(slow)
    times = [t for t, _ in good.events]
    assert times == sorted(times) and times[-1] <= MAX_REPLAY_SECONDS
    assert all(b - a <= MAX_REPLAY_GAP for a, b in zip(times, times[1:], strict=False))
    broken = []
    for field, value in [("status", "abc"), ("status", 99), ("status", True), ("model", ["x"])]:
        bad = dict(json.loads(lines[1]), **{field: value})
        broken.append(json.dumps(bad))
    infinite = json.loads(lines[1])
    infinite["events"][0][0] = "INF"
    broken.append(json.dumps(infinite).replace('"INF"', "Infinity"))
    surrogate = json.loads(lines[1])
    surrogate["events"][0][1] = "data: \ud800"
    broken.append(json.dumps(surrogate))
    # the tampered "Slow one" first, then every broken copy of "Second" (the last line wins, so
    # a broken line that were read would shadow the good one)
    path.write_text("\n".join([json.dumps(slow), lines[1], *broken]) + "\n")
    replay = Replay(path, mode="replay", pace="recorded")
    client = GLMClient(None, closed_url(), replay=replay)
    with pytest.warns(UserWarning, match=rf"skipped {len(broken)} line\(s\)"):
        assert client.chat("Slow one").text  # at the recorded pace, clamped: it ends
    assert client.chat("Second").text and replay.hits == 2
