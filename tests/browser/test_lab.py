"""What a person sees in JupyterLab: `%%glm` output, asserted from the DOM (the chat widget: test_chat_browser.py).

Every test drives the session's real JupyterLab in headless Chromium (see conftest.py) against
the local GLM server, whose prompt directives (`[[delay=…]]`, `[[echo]]`, `[[huge=…]]`) make the
answers slow, hostile or long on demand.
"""

from __future__ import annotations

import json
import re
import statistics
import time
from itertools import pairwise

import pytest

from glm_notebook.server.answers import huge_markdown

pytestmark = pytest.mark.browser

LOAD = "%load_ext glm_notebook"

# -- reading the DOM ----------------------------------------------------------------------------

# Text of `root` as rendered, without reasoning (`<details>`), the "waiting" line (`.glm-status`),
# math (`.glm-math`: MathML, `mjx-container`) or anything hidden.
JS_ANSWER_TEXT = r"""
(root) => {
  if (!root) return '';
  const parts = [];
  const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    const el = n.parentElement;
    if (!el || el.closest('details, .glm-status, .glm-math, mjx-container, .MathJax, script, style, textarea, button')) continue;
    if (!el.checkVisibility()) continue;
    parts.push(n.data);
  }
  return parts.join('');
}
"""

# Records the output area after every batch of DOM changes: the answer text, whether the final
# result (an execute_result output) is shown, and the state of each `<details>`.
JS_TRACE_START = (
    r"""
([area, reasoningMark]) => {
  const answerText = """
    + JS_ANSWER_TEXT
    + r""";
  const trace = window.__glmt.trace = [];
  const record = () => trace.push({
    t: performance.now(),
    text: answerText(area),
    result: !!area.querySelector('.jp-OutputArea-executeResult'),
    details: [...area.querySelectorAll('details')].map(
      d => ({open: d.open, reasoning: d.textContent.includes(reasoningMark)})),
  });
  record();
  const frames = window.__glmt.frames = [];
  const sample = () => {
    frames.push({t: performance.now(), height: area.getBoundingClientRect().height, text: answerText(area),
                 result: !!area.querySelector('.jp-OutputArea-executeResult'),
                 open: [...area.querySelectorAll('details')].some(d => d.open && d.textContent.includes(reasoningMark))});
    if (!frames[frames.length - 1].result) requestAnimationFrame(sample);
  };
  requestAnimationFrame(sample);
  new MutationObserver(record).observe(
    area, {childList: true, subtree: true, characterData: true, attributes: true});
}
"""
)

MATH = re.compile(r"\$\$[\s\S]*?(\$\$|$)|\$[^$\n]*(\$|$)")


def words(text: str) -> int:
    """Words of answer text, raw `$…$` math left out (it is typeset asynchronously)."""
    return len(re.findall(r"\w+", MATH.sub(" ", text)))


def pwned_flags(page) -> list[str]:
    return page.evaluate("() => Object.keys(window).filter(k => k.startsWith('__pwned'))")


def answer_text(lab, index: int) -> str:
    """The visible answer text of cell `index`'s output (see JS_ANSWER_TEXT)."""
    return lab.page.evaluate(JS_ANSWER_TEXT, lab.output(index).element_handle())


def wait_words(lab, index: int, at_least: int, timeout: float = 30.0) -> int:
    deadline = time.monotonic() + timeout
    while True:
        n = words(answer_text(lab, index))
        if n >= at_least:
            return n
        if time.monotonic() > deadline:
            raise AssertionError(
                f"cell {index}: {n} answer words after {timeout}s (wanted {at_least});"
                f" output text: {lab.output_text(index)[:500]!r}"
            )
        time.sleep(0.05)


# -- 1. streaming with reasoning ----------------------------------------------------------------


def test_glm_streams_in_place_with_collapsible_reasoning(lab):
    path = lab.write_notebook([LOAD, "%%glm\n[[delay=0.03]] Explain streaming in notebooks"])
    lab.open(path)
    lab.page.evaluate(JS_TRACE_START, [lab.output(1).element_handle(), "The user asks"])
    lab.run_all()
    lab.wait_cell_running(1)
    time.sleep(1.0)
    lab.screenshot("streaming")
    lab.wait_done()
    lab.screenshot("streamed")

    trace = lab.page.evaluate("() => window.__glmt.trace")
    for row in trace:
        row["words"] = words(row["text"])
    final_at = next((i for i, r in enumerate(trace) if r["result"]), None)
    assert final_at is not None, "the cell has no execute_result (the Reply) at the end"
    # Streaming ends with the live panes emptied just before the result shows: that blank
    # moment is timed on its own, the rest must only ever grow.
    live = trace[:final_at]
    k = len(live)
    while k and live[k - 1]["words"] == 0:
        k -= 1
    live, swap = live[:k], live[k:]
    swap_ms = trace[final_at]["t"] - swap[0]["t"] if swap else 0.0
    counts = [r["words"] for r in live]
    steps = [c for i, c in enumerate(counts) if i == 0 or c != counts[i - 1]]
    print(f"\nanswer words at each DOM change ({len(counts)} changes): {steps}")
    print(f"final swap: answer blank for {swap_ms:.1f} ms between the live panes and the result")
    assert len(set(steps)) >= 10, f"the answer did not stream in steps: {steps}"
    drops = [(i, a, b) for i, (a, b) in enumerate(pairwise(counts)) if b < a]
    assert not drops, f"the visible answer shrank while streaming (change, before, after): {drops}"
    assert swap_ms < 100, f"the answer vanished for {swap_ms:.0f} ms before the final result showed"

    # Thinking → answer: no painted frame is shorter than the frames on both sides of it (the
    # reasoning once collapsed a frame before the answer's first text showed: 110 → 32 → 76 px).
    # Sampled once per animation frame: what a person sees, not every DOM change between paints.
    frames = lab.page.evaluate("() => window.__glmt.frames")
    assert len(frames) > 20, "too few animation frames were sampled"
    painted = [round(f["height"]) for f in frames if not f["result"]]
    painted = [h for i, h in enumerate(painted) if i == 0 or h != painted[i - 1]]
    print(f"painted output heights: {painted[:60]}")
    dips = [
        (a, b, c) for a, b, c in zip(painted, painted[1:], painted[2:], strict=False) if b < min(a, c) - 4
    ]
    assert not dips, f"the output was shorter for a moment while streaming (before, dip, after): {dips}"

    thinking = [r for r in live if r["words"] == 0 and any(d["reasoning"] for d in r["details"])]
    assert any(d["open"] for r in thinking for d in r["details"] if d["reasoning"]), (
        "the reasoning <details> was never seen open while the model was thinking"
    )
    # Painted frames: the answer's first text and the collapse are one display update (the
    # reasoning and the answer's first pane share a display), so no frame shows both.
    answered = [f["t"] for f in frames if not f["result"] and words(f["text"])]
    open_after = [f["t"] - answered[0] for f in frames if f["open"] and answered and f["t"] >= answered[0]]
    assert answered and not open_after, (
        f"the reasoning <details> was open beside the answer's text (ms after its first text: {open_after[:10]})"
    )

    # the end: one copy of the answer, reasoning collapsed, rich content rendered
    out = lab.output(1)
    visible = out.inner_text()
    assert visible.count("This note comes from the local GLM test server") == 1, visible
    reasoning = out.locator("details").filter(has_text="The user asks")
    assert reasoning.count() == 1, f"expected one reasoning <details>, found {reasoning.count()}"
    assert reasoning.evaluate("d => d.open") is False
    assert "The user asks" not in visible, "collapsed reasoning text is visible"
    assert out.locator("pre code:visible").count() == 1, out.inner_html()[:2000]
    assert "def answer_explain_streaming_in" in out.locator("pre code:visible").inner_text()
    assert out.locator("table:visible").count() == 1
    assert out.locator("table:visible td").filter(has_text=re.compile(r"^\s*Words\s*$")).count() == 1
    assert out.locator(".glm-math math").count() >= 2, "the formulas are not rendered as MathML"
    display_math = out.locator(".glm-math-display math[display='block']")
    assert display_math.count() == 1, "the $$…$$ formula is not typeset as display math"

    reasoning.locator("summary").click()
    assert reasoning.evaluate("d => d.open") is True
    assert "The user asks" in out.inner_text()
    lab.screenshot("reasoning-opened")


# -- 2. interrupt ---------------------------------------------------------------------------------


def test_interrupt_from_toolbar_keeps_the_partial_answer(lab):
    path = lab.write_notebook([LOAD, "%%glm\n[[delay=0.2]] Tell me about interrupts"])
    lab.open(path)
    lab.run_all()
    wait_words(lab, 1, 12, timeout=40)
    shown = answer_text(lab, 1)
    before = words(shown)
    first_words = " ".join(re.findall(r"\w+", shown)[:8])

    t0 = time.monotonic()
    lab.interrupt_from_toolbar()
    lab.page.wait_for_function(
        """p => { const c = window.__glmt.cells(p)[1]; const k = window.__glmt.kernelState(p);
                  return c.state !== 'running' && !!k && k.status === 'idle'; }""",
        arg=lab.path,
        timeout=10_000,
        polling=20,
    )
    elapsed = time.monotonic() - t0
    print(f"\ninterrupt: toolbar click -> cell stopped and kernel idle in {elapsed:.2f} s")
    time.sleep(0.5)  # let the last display updates land
    lab.screenshot("interrupted")

    text = lab.output_text(1)
    after = words(answer_text(lab, 1))
    assert after >= before, (
        f"the partial answer shrank after the interrupt ({before} -> {after} words): {text!r}"
    )
    assert first_words in " ".join(re.findall(r"\w+", text)), (
        f"the partial answer is gone (was {shown!r}, now {text!r})"
    )
    assert "sum of the first" not in text, "the whole answer arrived: the interrupt came too late"
    assert re.search(r"interrupted", text, re.I), f"no 'interrupted' mark in the output: {text!r}"
    assert "Traceback" not in text, f"a traceback is shown after the interrupt: {text!r}"
    time.sleep(1.0)
    assert words(answer_text(lab, 1)) == after, "the answer kept growing after the interrupt"


# -- 3. errors ------------------------------------------------------------------------------------


def test_bad_key_shows_one_short_line_without_the_key(lab):
    key = "wrong-key"
    path = lab.write_notebook([LOAD, f'%config GLM.api_key = "{key}"', "%%glm\nHello there"])
    lab.open(path)
    lab.run_all_and_wait(timeout=60)
    lab.screenshot("error")

    text = lab.output_text(2).strip()
    lines = [line for line in text.splitlines() if line.strip()]
    print(f"\nerror output: {text!r}")
    assert lines, "the failed cell shows nothing"
    assert len(lines) <= 3, f"the error is not short ({len(lines)} lines): {text!r}"
    assert re.search(r"key|auth|401|unauthori[sz]ed", text, re.I), f"the error does not say why: {text!r}"
    assert "Traceback" not in text and 'File "' not in text, f"a traceback is shown: {text!r}"
    leaks = lab.page.evaluate(
        """key => { const body = document.body.cloneNode(true);
                    body.querySelectorAll('.jp-InputArea, .jp-Cell-inputWrapper').forEach(e => e.remove());
                    return body.innerHTML.includes(key) || body.innerText.includes(key); }""",
        key,
    )
    assert not leaks, "the API key appears in the page outside the cell's source"
    for i in range(3):
        assert key not in lab.output_html(i), f"the API key appears in cell {i}'s output"


# -- 4. the chat widget: tests/browser/test_chat_browser.py ----------------------------------------


# -- 5. hostile model output --------------------------------------------------------------------

HOSTILE = (
    '<img src=x onerror="window.__pwned_img=1"> '
    "<script>window.__pwned_script=1</script> "
    '<svg onload="window.__pwned_svg=1"> '
    '<a href="javascript:window.__pwned_a=1">x</a> '
    '<iframe srcdoc="<script>parent.__pwned_iframe=1</script>">'
)


def _assert_harmless(lab, area, where: str) -> None:
    """No `__pwned_*` flag, no javascript: link, and the markup is shown as text."""
    time.sleep(1.0)  # onerror / onload fire asynchronously
    for link in area.locator("a").filter(has_text=re.compile(r"^\s*x\s*$")).all():
        if link.is_visible():
            link.click(no_wait_after=True)
    time.sleep(0.3)
    flags = pwned_flags(lab.page)
    assert not flags, f"{where}: hostile model output ran script: {flags}"
    assert area.locator("a[href^='javascript:' i]").count() == 0, f"{where}: a javascript: link is live"
    assert area.locator("script, iframe, svg[onload], img[onerror]").count() == 0, (
        f"{where}: hostile elements are in the DOM: {area.inner_html()[:1500]}"
    )
    text = area.inner_text()
    assert "onerror" in text and "<script>" in text, (
        f"{where}: the hostile markup is not shown as text: {text[:800]!r}"
    )


def test_hostile_output_in_magic_and_after_save_and_reopen(lab):
    path = lab.write_notebook([LOAD, "%%glm\n[[echo]] " + HOSTILE])
    lab.open(path)
    lab.run_all_and_wait(timeout=60)
    _assert_harmless(lab, lab.output(1), "%%glm output")
    lab.screenshot("magic")

    lab.save()
    saved = lab.read_notebook()
    assert saved.cells[1].outputs, "the saved notebook has no output for the %%glm cell"
    lab.reopen()
    trusted = lab.page.evaluate(
        "p => window.__glmt.panel(p).content.widgets.every(c => c.model.trusted)", lab.path
    )
    assert trusted, "the reopened notebook is not trusted: the test would not reach the unsanitised path"
    lab.output(1).locator("text=onerror").first.wait_for(timeout=15_000)
    _assert_harmless(lab, lab.output(1), "saved and reopened %%glm output")
    lab.screenshot("reopened")


# -- 6. a long answer stays fast ----------------------------------------------------------------

# Times each display update of one cell, in the page:
# - t_arrive: the kernel websocket's 'message' event, from a listener added when the socket was
#   made (before JupyterLab's own onmessage), so it sees every message first;
# - t_hook: a message hook on the cell's execute future (JupyterLab runs hooks just before the
#   output area handles the message), which tells the update's type and size;
# - t_dom: each batch of DOM mutations in the cell's output area, timed after forcing style and
#   layout (`offsetHeight`), so the cost of laying the new DOM out is counted.
# One update's apply time = its last DOM batch before the next update's hook - its arrival.
# Early and late medians are compared: the cost of an update must not grow with the answer.
# (Checked against a cell that re-sends its whole growing HTML on every update: there the late
# median is about 5x the early one, so the 1.5x bound has room for noise and still catches that.)
JS_PERF_HOOKS = r"""
window.__glmtArrivals = new Map();  // msg_id -> performance.now() when its frame arrived
(() => {
  const Native = window.WebSocket;
  const decoder = new TextDecoder('utf8');
  const msgId = (data) => {
    if (data instanceof ArrayBuffer) {  // v1.kernel.websocket.jupyter.org: offsets, then parts
      const view = new DataView(data);
      const start = Number(view.getBigUint64(16, true)), end = Number(view.getBigUint64(24, true));
      return JSON.parse(decoder.decode(new Uint8Array(data, start, end - start))).msg_id;
    }
    const m = typeof data === 'string' && data.match(/"msg_id":\s*"([^"]+)"/);
    return m ? m[1] : null;
  };
  class Timed extends Native {
    constructor(...args) {
      super(...args);
      if (String(args[0]).includes('/api/kernels/')) {
        this.addEventListener('message', (ev) => {
          const now = performance.now();
          try { const id = msgId(ev.data); if (id) window.__glmtArrivals.set(id, now); } catch (e) {}
        });
      }
    }
  }
  window.WebSocket = Timed;
})();
"""

JS_PERF_START = r"""
([path, cellIndex, marker]) => {
  const g = window.__glmt;
  const panel = g.panel(path);
  const kernel = panel.sessionContext.session.kernel;
  const cell = panel.content.widgets[cellIndex];
  const area = cell.outputArea.node;
  g.perf = {updates: [], dom: [], msgId: null};
  const perf = g.perf;
  new MutationObserver(() => {
    void area.offsetHeight;  // style + layout now, inside the measured window
    perf.dom.push(performance.now());
  }).observe(area, {childList: true, subtree: true, characterData: true, attributes: true});
  const hook = (msg) => {
    const now = performance.now();
    const type = msg.header.msg_type;
    if (type === 'update_display_data' || type === 'display_data' || type === 'execute_result'
        || type === 'clear_output' || type === 'stream') {
      const content = msg.content || {};
      const html = String((content.data || {})['text/html'] || '');
      perf.updates.push({
        type, hook: now, arrive: window.__glmtArrivals.get(msg.header.msg_id) ?? null,
        id: (content.transient || {}).display_id || null,
        bytes: html.length,
        reasoning: html.includes('glm-reasoning'),  // the answer's last pane carries the status line
      });
    }
    return true;
  };
  kernel.anyMessage.connect((_, args) => {
    const m = args.msg;
    if (args.direction === 'send' && m.header.msg_type === 'execute_request'
        && String(m.content.code).includes(marker)) {
      perf.msgId = m.header.msg_id;
      setTimeout(() => kernel.registerMessageHook(perf.msgId, hook), 0);
    }
  });
}
"""


def _apply_times(perf: dict) -> list[dict]:
    """Per display update: arrival → last DOM batch before the next update (ms)."""
    updates = perf["updates"]
    dom = perf["dom"]
    rows = []
    for i, u in enumerate(updates):
        if u["type"] != "update_display_data":
            continue
        end = updates[i + 1]["hook"] if i + 1 < len(updates) else float("inf")
        batches = [t for t in dom if u["hook"] <= t < end]
        if not batches:
            continue
        start = u["arrive"] if u["arrive"] is not None else u["hook"]
        rows.append({**u, "apply": batches[-1] - start, "queue": u["hook"] - start})
    return rows


def test_long_answer_updates_do_not_slow_down(lab):
    lab.page.add_init_script(JS_PERF_HOOKS)
    marker = "[[huge=50000,delay=0.001]]"
    path = lab.write_notebook([LOAD, f"%%glm\n{marker} Write a long answer"])
    lab.open(path)
    lab.page.evaluate(JS_PERF_START, [lab.path, 1, marker])
    t0 = time.monotonic()
    lab.run_all()
    lab.wait_done(timeout=200)
    wall = time.monotonic() - t0
    lab.screenshot("long-answer")
    perf = lab.page.evaluate("() => window.__glmt.perf")
    assert perf["msgId"], "the execute request of the %%glm cell was not seen"
    final = lab.output_text(1)
    assert final.count("Paragraph 1 talks about streaming") == 1, "not exactly one copy of the answer"
    last = re.findall(r"## (Section \d+)", huge_markdown(50_000))[-1]
    assert last in final, f"the long answer is cut: no {last!r} in {len(final)} characters shown"
    rows = _apply_times(perf)

    # the answer panes' updates, in order (not the reasoning pane)
    answer_rows = [r for r in rows if r["bytes"] and not r["reasoning"]]
    n = len(answer_rows)
    types = {
        t: sum(1 for u in perf["updates"] if u["type"] == t) for t in {u["type"] for u in perf["updates"]}
    }
    print(
        f"\nlong answer: {wall:.1f} s wall, messages by type {types}, {len(rows)} timed updates, "
        f"{n} on the answer display"
    )
    assert n >= 40, f"too few answer updates to compare ({n}); messages: {types}"
    # a quarter of the updates at each end: each spans several segments (the tail pane's payload
    # rises and falls as segments fill and close), so the two sides carry like amounts of HTML
    k = max(10, n // 4)
    early, late = answer_rows[2 : 2 + k], answer_rows[-k:]
    med = lambda rs, key: statistics.median(r[key] for r in rs)  # noqa: E731
    e_apply, l_apply = med(early, "apply"), med(late, "apply")
    print(
        json.dumps(
            {
                "updates": n,
                "window": k,
                "early_median_ms": round(e_apply, 2),
                "late_median_ms": round(l_apply, 2),
                "ratio": round(l_apply / max(e_apply, 1e-3), 2),
                "early_median_queue_ms": round(med(early, "queue"), 2),
                "late_median_queue_ms": round(med(late, "queue"), 2),
                "early_median_payload_bytes": int(med(early, "bytes")),
                "late_median_payload_bytes": int(med(late, "bytes")),
            },
            indent=1,
        )
    )
    # a floor of 4 ms keeps timer noise on tiny times from deciding the ratio
    assert max(l_apply, 4.0) <= 1.5 * max(e_apply, 4.0), (
        f"updates late in a 50k answer take {l_apply:.1f} ms to apply vs {e_apply:.1f} ms early"
    )
