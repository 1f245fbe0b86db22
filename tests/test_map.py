"""`client.map`: many prompts at once against the local server over loopback."""

from __future__ import annotations

import asyncio
import io
import re
import signal
import threading
import time

import pandas as pd
import pytest

from glm_notebook import GLMClient, QuotaError
from glm_notebook.client.inputs import expand_inputs
from glm_notebook.client.many import MapRun, forget_results
from glm_notebook.client.progress import TextProgress
from glm_notebook.server import LocalServer, ServerConfig


@pytest.fixture(autouse=True)
def _fresh_session():
    forget_results()
    yield
    forget_results()


@pytest.fixture
def client(server):
    with GLMClient(server.api_key, server.base_url) as c:
        yield c


def _asked(text: str | None) -> str:
    match = re.search(r'You asked about "([^"]*)"', text or "")
    assert match, text
    return match.group(1)


def _requests_for(server, word: str) -> int:
    return sum(word in str(r.body) for r in server.records)


def test_order_is_kept_and_one_bad_item_loses_nothing(client, server):
    # Later items answer sooner (smaller delay), so completion order is the reverse of input order.
    prompts = [f"order item {i} [[delay={0.002 * (12 - i):.3f}]]" for i in range(12)]
    prompts[5] = "order item 5 [[status=400,code=1214,message=bad_row]]"
    results = client.map(prompts, concurrency=6, progress=False)
    assert len(results) == 12 and results.done == 11 and results.failed == 1
    for i, text in enumerate(results.texts):
        if i == 5:
            assert text is None
        else:
            assert _asked(text) == f"order item {i}"
    assert [e is not None for e in results.errors] == [i == 5 for i in range(12)]
    assert "1214" in str(results.errors[5]) and "bad row" in str(results.errors[5])
    assert results[5].status == "failed" and results.replies[5] is None
    usage = results.usage
    assert usage.completion_tokens == sum(r.usage.completion_tokens for r in results.replies if r)
    assert usage.prompt_tokens > 0
    assert results.stopped is None and results.retries == 0
    assert "11/12 done" in repr(results) and "1 failed" in repr(results)


def test_template_over_a_dataframe_gives_columns_back_in_its_index(client):
    df = pd.DataFrame(
        {"review": ["great phone", "bad battery", "fine"], "stars": [5, 1, 3]}, index=["r1", "r2", "r3"]
    )
    results = client.map("Review ({stars} stars): {review} {{literal}}", df, progress=False)
    assert [_asked(t) for t in results.texts] == [
        "Review (5 stars): great phone {literal}",
        "Review (1 stars): bad battery {literal}",
        "Review (3 stars): fine {literal}",
    ]
    df["answer"] = results.texts
    assert df["answer"].notna().all()
    table = results.to_pandas()
    assert list(table.index) == ["r1", "r2", "r3"]
    assert {"prompt", "text", "status", "error", "completion_tokens"} <= set(table.columns)
    assert (table["status"] == "ok").all()


def test_inputs_series_dicts_values_and_message_lists():
    series = pd.Series(["a", "b"], index=[10, 20], name="word")
    assert [(label, m[0]["content"]) for label, m in expand_inputs("Say {word} / {item}", series)] == [
        (10, "Say a / a"),
        (20, "Say b / b"),
    ]
    assert expand_inputs("{x} and {y}", [{"x": 1, "y": 2}])[0][1][0]["content"] == "1 and 2"
    assert expand_inputs("Spell {item}", ["cat"])[0][1][0]["content"] == "Spell cat"
    conversation = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}]
    assert expand_inputs([conversation, "plain"])[0][1] == conversation
    assert expand_inputs(pd.Series(["p1", "p2"]))[1][1][0]["content"] == "p2"
    with pytest.raises(ValueError, match="no \\{field\\}"):
        expand_inputs("Always the same", ["a", "b"])
    with pytest.raises(ValueError, match="offers \\{x\\}, \\{y\\}"):
        expand_inputs("Typo in {z}", [{"x": 1, "y": 2}, {"x": 3, "y": 4}])
    with pytest.raises(TypeError, match="many prompts"):
        expand_inputs("just one prompt")


def test_quota_code_stops_the_run_at_once_and_keeps_what_finished(client, server):
    prompts = [f"quota item {i}" for i in range(10)]
    prompts[3] = "quota item 3 [[status=429,code=1113,message=Insufficient_balance]]"
    server.reset()
    results = client.map(prompts, concurrency=1, progress=False)
    assert results.stopped == "quota"
    assert [item.status for item in results] == ["ok"] * 3 + ["failed"] + ["not run"] * 6
    assert isinstance(results.errors[3], QuotaError)
    assert "1113" in results.message and "3 finished" in results.message
    assert _requests_for(server, "quota item") == 4  # nothing was sent after the quota error


def test_a_429_storm_backs_off_the_whole_pool_honouring_retry_after():
    config = ServerConfig(api_key="k-storm", latency=0.05, max_concurrent=3, rate_limit_retry_after=0.3)
    with LocalServer(config) as limited, GLMClient(limited.api_key, limited.base_url) as client:
        results = client.map([f"storm item {i}" for i in range(18)], concurrency=12, progress=False)
        log = limited.state.limits
        assert results.complete and [_asked(t) for t in results.texts] == [
            f"storm item {i}" for i in range(18)
        ]
        assert log.rejected > 0 and results.retries == log.rejected
        assert log.peak <= 3
        assert results.lowest_concurrency is not None and results.lowest_concurrency < 12
        # Seen from the server: after refusing a prompt, that prompt comes back no sooner than
        # Retry-After says, and no request at all arrives in the 0.3 s after the first refusal
        # except those the client had sent before the refusal reached it.
        arrivals = list(log.arrivals)
        for i, arrival in enumerate(arrivals):
            if not arrival.admitted:
                later = [a for a in arrivals[i + 1 :] if a.prompt == arrival.prompt]
                assert later and later[0].at - arrival.at >= 0.3 * 0.95
        assert log.admitted == 18


def test_ctrl_c_keeps_finished_results_closes_connections_and_a_rerun_continues(client, server):
    prompts = [f"ctrlc item {i}" for i in range(3)] + [
        f"ctrlc item {i} [[stall=30,times=1,tag=ctrlc{i}]]" for i in range(3, 6)
    ]
    server.reset()
    main = threading.main_thread().ident
    run = MapRun(client, prompts, concurrency=6, progress=False)

    ended = threading.Event()

    def interrupt() -> None:  # a real SIGINT, as Ctrl-C sends, once three answers are in
        while not ended.is_set():
            stalling = [r for r in server.records if "stall" in str(r.body)]  # arrived, held open
            if run.results.done == 3 and len(stalling) == 3:
                signal.pthread_kill(main, signal.SIGINT)
                return
            time.sleep(0.02)

    # Ctrl-C raises KeyboardInterrupt even where this process was started with SIGINT ignored
    # (a shell's background job), as in any terminal or kernel.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        threading.Thread(target=interrupt, daemon=True).start()
        results = run.run()  # it does not wait for the 30 s stalls: they are cut (checked below)
    finally:
        ended.set()
        signal.signal(signal.SIGINT, previous)
    assert results.stopped == "interrupted"
    assert [item.status for item in results] == ["ok"] * 3 + ["not run"] * 3
    assert "Interrupted" in results.message and "3 finished" in results.message
    stalled = [r.index for r in server.records if "stall" in str(r.body)]
    for index in stalled:
        assert server.wait_finished(index).disconnected  # the open requests were closed

    before = len(server.records)
    again = client.map(prompts, concurrency=6, progress=False)
    assert again.complete and again.stopped is None
    assert sum(item.reused for item in again) == 3
    new = server.records[before:]
    assert len(new) == 3 and all("stall" in str(r.body) for r in new)  # only the missing ones


def test_cancel_from_another_thread_returns_what_finished(client, server):
    prompts = [f"cancel item {i}" for i in range(2)] + [f"cancel item {i} [[stall=30]]" for i in range(2, 5)]
    run = MapRun(client, prompts, concurrency=5, progress=False)

    def cancel_when_two_done() -> None:
        while run.results.done < 2:
            time.sleep(0.02)
        run.cancel()

    threading.Thread(target=cancel_when_two_done, daemon=True).start()
    results = run.run()
    assert results.stopped == "cancelled" and results.done == 2 and results.not_run == 3
    assert results.texts[2:] == [None, None, None]


def test_sync_map_works_inside_a_running_event_loop_and_amap_on_it(client):
    async def inside() -> tuple:
        asyncio.get_running_loop()  # a loop is running here, as in a Jupyter kernel
        sync = client.map("Loop {item}", ["x", "y"], progress=False)
        concurrent = await client.amap("Async {item}", ["x", "y", "z"], concurrency=2, progress=False)
        return sync, concurrent

    sync, concurrent = asyncio.run(inside())
    assert [_asked(t) for t in sync.texts] == ["Loop x", "Loop y"]
    assert [_asked(t) for t in concurrent.texts] == ["Async x", "Async y", "Async z"]


@pytest.mark.anyio
async def test_cancelling_amap_closes_open_requests(client, server):
    server.reset()
    task = asyncio.ensure_future(
        client.amap([f"amap cancel {i} [[stall=30]]" for i in range(3)], progress=False)
    )
    while len([r for r in server.records if "amap cancel" in str(r.body)]) < 3:
        await asyncio.sleep(0.02)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    for record in server.records:
        assert server.wait_finished(record.index).disconnected


def test_text_progress_shows_counts_and_ends_with_a_final_line(client):
    buffer = io.StringIO()
    prompts = ["progress a", "progress b [[status=400]]", "progress c"]
    client.map(prompts, progress=TextProgress(buffer, interval=0, label="map"))
    lines = buffer.getvalue().splitlines()
    assert lines and all(line.startswith("map: ") for line in lines)
    assert lines[-1].startswith("map: 2/3 done · 1 failed")
    assert "ETA" not in lines[-1]


def test_retries_give_up_after_max_retries_with_the_error(client, server):
    results = client.map(
        ["busy [[status=429,code=1302,retry_after=0.01]]", "fine one"], max_retries=2, progress=False
    )
    assert results.failed == 1 and results.done == 1
    assert results[0].attempts == 3 and results.retries == 2
    assert "1302" in str(results.errors[0])


def test_endless_refusals_stop_the_run_and_keep_what_finished(client):
    """Every request refused (429 1302, for ever): the run does not retry for months; after
    `give_up_after` seconds without an answer it stops, saying why, and keeps what finished."""
    prompts = ["fine first"] + [f"busy {i} [[status=429,code=1302,retry_after=0.05]]" for i in range(20)]
    results = client.map(prompts, concurrency=4, retry_backoff=0.01, give_up_after=0.5, progress=False)
    assert results.stopped == "refused" and results.texts[0]
    assert results.message.startswith("Stopped: every request was refused for 0.5 s (RateLimitError")
    assert "1 finished result(s) are kept" in results.message and "\n" not in results.message
    assert results.not_run >= 1 and results.done == 1
    assert results.retries < 20 * 6  # gave up long before every item used its retries


def test_the_progress_snapshot_does_not_walk_the_items(client):
    """`MapRun.state()` is polled ten times a second: it reads counters, not every item."""
    run = MapRun(client, [f"count {i}" for i in range(300)] + ["bad [[status=400]]"], progress=False)
    results = run.run()
    state = run.state()
    assert (state.done, state.failed, state.total) == (results.done, results.failed, 301) == (300, 1, 301)


def test_the_map_table_shows_inputs_plain_answers_and_how_many_more(server):
    from glm_notebook.render.map_view import ROWS, map_html

    client = GLMClient(server.api_key, server.base_url)
    results = client.map([f"Summarise review {n}: it was fine" for n in range(ROWS + 5)], progress=False)
    html = map_html(results)
    assert html.count("<tr>") == ROWS + 1 and "… 5 more rows: results.to_pandas() shows them all" in html
    assert "<td>0</td><td>0:</td>" in html  # the varying word, the template's fixed words left out
    assert 'class="glm-map-rows"' in html and "**" not in html and "<td>## " not in html
