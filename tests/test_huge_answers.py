"""Huge answers (issue 13): bounded outputs, message rates, saved size, and the clipped final view.

Kernel-level tests read the iopub messages of a real kernel streaming from the local server
(`[[huge=N]]`: N characters of Markdown in 4-8 character chunks, as fast as the client reads).
"""

from __future__ import annotations

import gc
import json
import random
import re
import tracemalloc
from collections import Counter
from itertools import pairwise

import pytest

from glm_notebook.render.live import NOTEBOOK_SEGMENT_CHARS, LiveAnswer
from glm_notebook.render.reply_view import OUTLINE_MAX_HEADINGS, clip_text, reply_html, set_max_display_chars
from glm_notebook.results.pieces import Pieces
from glm_notebook.results.reply import Reply
from glm_notebook.server.answers import huge_markdown
from glm_notebook.wire.events import ContentDelta, ReasoningDelta

from .kernel_harness import Kernel

#: Jupyter Server's default `iopub_msg_rate_limit` (messages per second).
IOPUB_MSG_RATE_LIMIT = 1000
#: Jupyter Server's default `iopub_data_rate_limit` (bytes per second).
IOPUB_DATA_RATE_LIMIT = 1_000_000


@pytest.fixture(scope="module")
def k(kernel: Kernel) -> Kernel:
    assert kernel.run("%load_ext glm_notebook").error is None
    return kernel


# -- kernel level -------------------------------------------------------------------------------


def test_a_megabyte_answer_leaves_one_output_and_stays_under_the_rate_limits(k: Kernel) -> None:
    run = k.run("%%glm -o big\n[[huge=1000000]] Write a megabyte", timeout=300)
    assert run.error is None
    # One output left, whatever the size: the Reply.
    assert [out["output_type"] for out in run.outputs] == ["execute_result"]
    kinds = Counter(kind for kind, _ in run.messages)
    panes = kinds["display_data"]
    # the live view stops growing at two thirds of max_display_chars, in panes of at most
    # MAX_SEGMENT_CHARS of HTML (small panes keep each redraw cheap)
    assert panes <= 200, kinds
    assert kinds["clear_output"] == 1
    peak_messages, peak_bytes = run.peak_per_second()
    print(f"\n1 MB answer: {kinds}, peak {peak_messages} messages/s, {peak_bytes:,} bytes/s")
    assert peak_messages < IOPUB_MSG_RATE_LIMIT / 4, peak_messages
    assert peak_bytes < IOPUB_DATA_RATE_LIMIT, peak_bytes
    # The saved cell: proportional to the answer with a small constant (here: clipped).
    saved = len(json.dumps(run.outputs))
    assert saved <= 2 * 1_000_000 + 50_000, saved
    html = run.result["text/html"]
    note = re.search(r"… ([\d,]+) characters of the answer not shown", html)
    assert note and "<code>str(reply)</code>" in html
    omitted = int(note.group(1).replace(",", ""))
    assert 790_000 <= omitted <= 810_000
    check = k.run("print(len(str(big)), big.text.count('## Section'))")
    length, sections = map(int, check.stdout.split())
    assert length == 1_000_000
    # the beginning and the end are shown, the middle is not
    h2 = '<h2 class="jp-toc-ignore">'  # (too many headings for JupyterLab's table of contents)
    assert f"{h2}Section 1</h2>" in html and f"{h2}Section {sections}</h2>" in html
    assert f"Section {sections // 2}</h2>" not in html
    status = [c for kind, c in run.messages if kind == "update_display_data"][-1]["data"]["text/html"]
    assert "the live view stops at 133,333" in status


def test_display_limit_is_a_setting(k: Kernel) -> None:
    k.run("%config GLM.max_display_chars = 5000")
    try:
        run = k.run("%%glm\n[[huge=30000]] Medium answer")
        assert run.error is None
        assert "characters of the answer not shown" in run.result["text/html"]
        # the live view stops at two thirds of the limit: its small panes stay few
        assert len(run.of_type("display_data")) <= 30, len(run.of_type("display_data"))
        assert "max_display_chars   5000" in k.run("%glm config").stdout
        # a Reply shown again later follows the setting too
        again = k.run("_")
        assert "characters of the answer not shown" in again.result["text/html"]
        k.run("%config GLM.max_display_chars = None")
        whole = k.run("_")
        assert "not shown" not in whole.result["text/html"]
        bad = k.run("%config GLM.max_display_chars = 10")
        assert bad.error is not None or "at least 1000" in bad.stderr
    finally:
        k.run("%config GLM.max_display_chars = 200000")


#: The answer of the memory test, and what may stay on top of it: the final view and the live
#: panes (bounded by `max_display_chars`, set low here, ~150 kB each) and bookkeeping.
MEMORY_ANSWER = 500_000
MEMORY_SLACK = 500_000
#: Once per process, not per answer: imports and caches of the first answers. A code fence whose
#: language is still arriving (```pyth) makes Pygments look through its plugins, which imports
#: more lexers (~1.5 MB).
WARM_UP = """%%glm
[[huge=30000]] Warm up
"""
WARM_UP_FENCE = (
    "from glm_notebook.render.markdown import markdown_html\nmarkdown_html('```pyth\\nx = 1\\n```')"
)


def test_a_huge_answer_costs_the_kernel_about_its_own_size(k: Kernel) -> None:
    """Kernel memory stays proportional to the answer (issue 13), traced by tracemalloc inside
    the kernel from before the cell. The text arrives in 4-8 character slices; kept as one `str`
    each until the end, they took ~11× the answer (500 kB: a traced peak of 6.7 MB)."""
    k.run("%config GLM.max_display_chars = 20000")
    try:
        assert k.run(WARM_UP).error is None and k.run(WARM_UP_FENCE).error is None
        start = "import gc, tracemalloc\ngc.collect()\ntracemalloc.start()\n_mem0 = tracemalloc.get_traced_memory()[0]"
        assert k.run(start).error is None
        run = k.run(f"%%glm -o big\n[[huge={MEMORY_ANSWER}]] Write half a megabyte", timeout=600)
        assert run.error is None
        measure = (
            "gc.collect()\n_mem1, _peak = tracemalloc.get_traced_memory()\ntracemalloc.stop()\n"
            "print(_mem1 - _mem0, _peak - _mem0, len(big.text), type(Out[max(Out)]).__name__)"
        )
        retained, peak, length, kept = k.run(measure).stdout.split()
    finally:
        k.run("%config GLM.max_display_chars = 200000")
    print(f"\n{MEMORY_ANSWER:,}-character answer: retained {int(retained):,} B, peak {int(peak):,} B")
    assert int(length) == MEMORY_ANSWER and kept == "Reply"  # the answer is alive, in `big` and Out
    # What stays: the answer once (in the Reply) and the bounded final view.
    assert MEMORY_ANSWER <= int(retained) <= MEMORY_ANSWER + MEMORY_SLACK, retained
    # At its height: the answer in batches and their join into one string, twice the answer.
    assert int(peak) <= 2 * MEMORY_ANSWER + MEMORY_SLACK, peak


# -- without a kernel ---------------------------------------------------------------------------


def test_interleaved_reasoning_redraws_stay_bounded() -> None:
    """Some servers keep sending reasoning after the answer began: each redraw must not re-send
    the whole reasoning (200k characters: 134 MB were sent before)."""
    live = LiveAnswer()
    live.apply(ContentDelta("The answer begins.\n\n"))
    sent = largest = 0
    piece = "reasoning goes on and on. " * 4
    total = 0
    while total < 200_000:
        live.apply(ReasoningDelta(piece))
        total += len(piece)
        if total % 1_000 < len(piece):  # a redraw every ~1,000 characters (a 20/s cap)
            for update in live.changes():
                sent += len(update.html)
                largest = max(largest, len(update.html))
    assert largest < 10_000, largest
    assert sent < 3_000_000, sent
    final = live.changes(final=True)
    assert sum(len(u.html) for u in final if u.index == 0) > 200_000  # all of it, once, at the end


def test_live_view_stops_at_max_chars() -> None:
    live = LiveAnswer(max_chars=10_000)
    text = "".join(f"Paragraph {i}: " + "words " * 30 + "\n\n" for i in range(1_000))
    for i in range(0, len(text), 7):
        live.apply(ContentDelta(text[i : i + 7]))
        live.changes()
    assert live.capped and live.content_chars == len(text)
    shown = "".join(live.panes)
    assert "Paragraph 40:" in shown and "Paragraph 100:" not in shown
    assert len(live.panes) <= 5


def test_clip_keeps_beginning_and_end_and_reopens_a_cut_code_block() -> None:
    text = "Intro\n\n```python\n" + "".join(f"line_{i} = {i}\n" for i in range(20_000)) + "```\n\nThe end.\n"
    head, tail, omitted = clip_text(text, 30_000)
    assert head.startswith("Intro") and tail.endswith("The end.\n")
    assert len(head) + len(tail) <= 30_000 + 20
    assert len(text) - 30_000 <= omitted <= len(text) - 29_000
    assert tail.startswith("```\nline_")  # the code block cut open is reopened
    assert clip_text("short", 30_000) == ("short", "", 0)
    assert clip_text("x" * 50_000, None) == ("x" * 50_000, "", 0)


def test_final_view_clips_at_the_limit_and_str_keeps_everything() -> None:
    reply = Reply(model="glm-4.6")
    text = "".join(f"## Part {i}\n\nBody of part {i}.\n\n" for i in range(20_000))
    reply.apply(ContentDelta(text))
    reply.finish()
    set_max_display_chars(20_000)
    try:
        html = reply_html(reply)
    finally:
        set_max_display_chars(200_000)
    h2 = '<h2 class="jp-toc-ignore">'
    assert f"{h2}Part 0</h2>" in html and f"{h2}Part 19999</h2>" in html and "Part 10000</h2>" not in html
    assert re.search(r"… [\d,]+ characters of the answer not shown", html)
    assert len(html) < 60_000
    assert str(reply) == text


def test_a_reply_holds_a_streamed_answer_in_about_its_own_size() -> None:
    """The client's side of the kernel test above, without a kernel: 4-8 character slices (each
    a new string, as JSON decoding makes them) folded into a `Reply`."""
    size = 500_000
    text = huge_markdown(size)
    rng = random.Random(13)
    cuts = [0]
    while cuts[-1] < size:
        cuts.append(min(size, cuts[-1] + rng.randint(4, 8)))
    gc.collect()
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        reply = Reply()
        for a, b in pairwise(cuts):
            reply.apply(ContentDelta(text[a:b]))  # a slice is a new string
        streamed = tracemalloc.get_traced_memory()[0] - base
        tracemalloc.reset_peak()
        assert reply.text == text
        held, peak = (value - base for value in tracemalloc.get_traced_memory())
    finally:
        tracemalloc.stop()
    assert streamed <= 1.1 * size + 50_000, streamed  # one `str` per slice: 10.6 × size
    assert held <= size + 50_000, held
    assert peak <= 2.1 * size + 50_000, peak  # the batches and their join


def test_pieces_keep_the_text_whole() -> None:
    pieces = Pieces()
    assert pieces.value() == "" and len(pieces) == 0 and not pieces
    slices = [f"{i}," for i in range(3 * Pieces.BATCH + 7)]
    for i, piece in enumerate(slices):
        pieces.append(piece)
        if i == 300:
            assert pieces.value() == "".join(slices[:301])  # reading mid-way, then more arrives
    assert pieces.value() == "".join(slices) and len(pieces) == len("".join(slices))
    assert pieces.value() is pieces.value()  # joined once, then kept
    other = Pieces()
    other.append("".join(slices))
    assert pieces == other and pieces != Pieces()


def test_the_live_view_keeps_about_what_it_shows() -> None:
    """A closed pane never changes: its blocks (HTML and source) are dropped once it was sent,
    so a live view holds about the HTML it shows (it held 3× that)."""
    text = huge_markdown(300_000)
    gc.collect()
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        live = LiveAnswer(max_chars=133_333, segment_chars=NOTEBOOK_SEGMENT_CHARS, grow=True, waiting=None)
        for i in range(0, len(text), 6):
            live.apply(ContentDelta(text[i : i + 6]))
            if i % 1_200 == 0:
                live.changes()
        held = tracemalloc.get_traced_memory()[0] - base
    finally:
        tracemalloc.stop()
    shown = sum(map(len, live.panes))
    assert shown > 400_000 and live.capped
    assert held <= 2 * shown, (held, shown)


def test_many_headings_stay_out_of_jupyterlabs_table_of_contents() -> None:
    """JupyterLab 4 matches each output heading to the page with a scan of the cell (quadratic):
    the 1,334 headings of a clipped 1 MB answer cost seconds on every reopening. Past
    OUTLINE_MAX_HEADINGS a final view marks its headings `jp-toc-ignore`, which JupyterLab's
    table of contents skips; a few headings stay in it."""

    def view(headings: int) -> str:
        reply = Reply(model="glm-4.6")
        reply.apply(ContentDelta("".join(f"## Part {i}\n\nBody of part {i}.\n\n" for i in range(headings))))
        reply.finish()
        return reply_html(reply)

    few, many = view(OUTLINE_MAX_HEADINGS), view(OUTLINE_MAX_HEADINGS + 1)
    assert few.count("<h2>") == OUTLINE_MAX_HEADINGS and "jp-toc-ignore" not in few
    assert many.count('<h2 class="jp-toc-ignore">') == OUTLINE_MAX_HEADINGS + 1 and "<h2>" not in many
    # text that looks like a heading tag stays text (the model cannot ask for the class)
    reply = Reply(model="glm-4.6")
    reply.apply(ContentDelta('<h2 class="jp-toc-ignore">fake</h2>\n\n# Real'))
    reply.finish()
    html = reply_html(reply)
    assert '&lt;h2 class="jp-toc-ignore"&gt;fake' in html and "<h1>Real</h1>" in html
