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
    assert "<table>" in html and html.count("<tr>") == 6  # header + first 5 rows
    assert "2 more rows" in html and '<span class="glm-time">' in html
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


def test_the_notebook_progress_bar_is_tqdms_widget_and_ends_full(k):
    run = k.run("r = client.map(['bar a', 'bar b [[status=400]]', 'bar c'])")
    assert run.error is None, run.error
    views = [o for o in run.outputs if "application/vnd.jupyter.widget-view+json" in o.get("data", {})]
    assert len(views) == 1  # one bar, drawn by tqdm.notebook (ipywidgets), not hand-made HTML
    states = [
        c["data"]["state"]
        for kind, c in run.messages
        if kind in ("comm_open", "comm_msg") and isinstance(c.get("data", {}).get("state"), dict)
    ]
    values = [s["value"] for s in states if isinstance(s.get("value"), (int, float)) and "max" not in s]
    assert values and values[-1] == 3
    texts = " ".join(str(s.get("value")) for s in states if isinstance(s.get("value"), str)).replace(
        "\u2007", " "
    )
    assert "3/3 [" in texts and "1 failed · " in texts and "tok/s" in texts
    assert "0 in flight" not in texts  # a bar says only what is not zero


def test_a_batch_as_the_cell_value_is_a_live_bar_that_follows_it_to_the_end(k):
    run = k.run(
        "job = client.batch('Live {item}', [f'row {i} [[stall_headers=0.3]]' for i in range(4)])\n"
        "job.poll_interval = 0.1\njob"
    )
    assert run.error is None, run.error
    assert [o for o in run.outputs if "application/vnd.jupyter.widget-view+json" in o.get("data", {})]
    # The bar moves while other cells run: watch the messages during the next cell.
    later = k.run("import time\nwhile not job.done: time.sleep(0.05)\ntime.sleep(0.3)\nprint(job)")
    assert "completed · 4/4 done" in later.stdout
    states = [
        c["data"]["state"]
        for kind, c in run.messages + later.messages
        if kind == "comm_msg" and isinstance(c.get("data", {}).get("state"), dict)
    ]
    values = [s["value"] for s in states if isinstance(s.get("value"), (int, float)) and "max" not in s]
    assert values and values[-1] == 4
