"""`client.map` and `%%glm --map` in a real kernel (its event loop is running; Ctrl-C interrupts)."""

from __future__ import annotations

import pytest

from .kernel_harness import Kernel


@pytest.fixture(scope="module")
def k(kernel: Kernel) -> Kernel:
    run = kernel.run("%load_ext glm_notebook\nfrom glm_notebook import GLMClient\nclient = GLMClient()")
    assert run.error is None, run.error
    return kernel


def test_glm_map_cell_shows_a_compact_table_and_returns_the_results(k):
    k.run('reviews = ["great <b>phone</b>", "bad battery", "fine", "ok", "meh", "superb", "poor"]')
    run = k.run("%%glm --map reviews -o res --quiet\nClassify the sentiment of: {item}")
    assert run.error is None, run.error
    html, plain = run.result["text/html"], run.result["text/plain"]
    assert plain.startswith("<MapResults 7/7 done") and " s>" not in plain.splitlines()[0]
    assert "<table>" in html and html.count("<tr>") == 8  # header + every row (up to 20 show)
    assert "more rows" not in html and '<span class="glm-time">' in html
    # the input column holds what differs between the prompts; the answer is plain text
    assert "<th>input</th><th>answer</th>" in html and "<td>bad battery</td>" in html
    assert "<td>## " not in html and "Classify the sentiment of: bad battery You asked" in html
    assert "<b>phone</b>" not in html and "&lt;b&gt;phone" in html  # model/user text is escaped
    check = k.run("print(type(res).__name__, res.done, res.texts[1][:40].replace(chr(10), ' '))")
    assert check.stdout.startswith("MapResults 7 ## Classify the sentiment of: bad")


def test_glm_map_usage_errors_are_one_line_usage_errors(k):
    run = k.run("%%glm --map nothing_here\nSay {item}")
    assert run.stderr.startswith("UsageError: --map nothing_here: no variable named 'nothing_here'")
    k.run("same = ['a', 'b']")
    run = k.run("%%glm --map same\nAlways the same")
    assert (
        run.stderr.startswith("UsageError: --map same: the template") and "no {field} to fill" in run.stderr
    )


def test_sync_map_in_the_kernel_and_ctrl_c_keeps_what_finished(k, server):
    k.run("from glm_notebook.client.many import forget_results; forget_results()")
    running = k.start(
        "import sys\nfrom glm_notebook.client.progress import TextProgress\n"
        "r = client.map(['k fast 1', 'k fast 2'] + [f'k slow {i} [[stall=60]]' for i in range(3)],"
        " concurrency=5, progress=TextProgress(sys.stdout, interval=0))\n"
        "print('returned', r.done, r.not_run, r.stopped)"
    )
    # The text progress says when both fast answers are in; the slow ones stall for a minute.
    running.wait_for(lambda run: "map: 2/5 done · 3 in flight" in run.stdout, timeout=30)
    k.interrupt()
    run = running.wait(timeout=20)
    assert run.error is None, run.error
    assert "returned 2 3 interrupted" in run.stdout
    slow = [r for r in server.records if "k slow" in str(r.body)]
    assert len(slow) == 3 and all(server.wait_finished(r.index).disconnected for r in slow)


def test_the_notebook_progress_line_updates_in_place_and_ends_full(k):
    run = k.run("r = client.map(['bar a', 'bar b [[status=400]]', 'bar c'])")
    assert run.error is None, run.error
    shown = [c for kind, c in run.messages if kind in ("display_data", "update_display_data")]
    assert shown and len({c["transient"]["display_id"] for c in shown}) == 1  # one line, in place
    assert not any("application/vnd.jupyter.widget-view+json" in c["data"] for c in shown)  # no widget
    lines = [c["data"]["text/html"] for c in shown]
    assert all("%" not in line and "?" not in line for line in lines)  # never `0% … ?req/s`
    assert "0/3 done · 3 in flight" in lines[0] or "done" in lines[0]
    assert '2/3 done · 1 failed · <span class="glm-time">' in lines[-1] and "▰" * 10 in lines[-1]
    assert len(run.outputs) == 1  # the line, at its last state (the value was assigned)


def test_a_map_cell_replaces_its_progress_line_with_the_result(k):
    k.run('few = ["good", "bad", "fine"]')
    run = k.run("%%glm --map few\nOne word for: {item}")
    assert run.error is None, run.error
    assert any(
        kind == "display_data" and "glm-progress" in c["data"].get("text/html", "")
        for kind, c in run.messages
    )
    assert [o["output_type"] for o in run.outputs] == ["execute_result"]  # the line went


def test_a_batch_as_the_cell_value_is_a_live_bar_that_follows_it_to_the_end(k):
    run = k.run(
        "job = client.batch('Live {item}', [f'row {i} [[stall_headers=0.3]]' for i in range(4)])\n"
        "job.poll_interval = 0.1\njob"
    )
    assert run.error is None, run.error
    assert [o for o in run.outputs if "glm-progress" in o.get("data", {}).get("text/html", "")]
    # The line moves while other cells run: watch the messages during the next cell.
    later = k.run("import time\nwhile not job.done: time.sleep(0.05)\ntime.sleep(0.3)\nprint(job)")
    assert "completed · 4/4 done" in later.stdout
    updates = [
        c["data"]["text/html"] for kind, c in run.messages + later.messages if kind == "update_display_data"
    ]
    assert updates and "4/4 done" in updates[-1] and "▰" * 10 in updates[-1]
