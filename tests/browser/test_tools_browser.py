"""Tool calls as a person sees them, in real JupyterLab (headless Chromium, local server), and
in Notebook 7 dark (another layout; the running, finished and asking views' colours).

`%%glm --tools weather` with a tool that sleeps 1.5 s: the call must show as running in the
live output (`details.glm-tool.glm-tool-running`, name and arguments), then the final view shows
it collapsed (`details.glm-tool.glm-tool-ok`, closed) with the result in its summary and the
full arguments and result inside, each labelled and framed so that they read as two blocks; the footer counts the call; one output is saved. The chat
widget shows the same call live inside its turn, then collapsed. Screenshots go to
artifacts/browser/.
"""

from __future__ import annotations

import json

import pytest

from .conftest import ARTIFACTS, in_frontends, unreadable

pytestmark = pytest.mark.browser

TOOL = '''import time

def weather(location: str) -> str:
    """Current weather. location: the city"""
    time.sleep(1.5)
    return f"18 °C, clear in {location}"'''
PROMPT = 'What is the weather in "Florence"? [[tool=weather]]'
RUNNING = "details.glm-tool.glm-tool-running"
DONE = "details.glm-tool.glm-tool-ok"


# How far a block stands out from what surrounds it: its border's width, and the contrast of its
# border (or its fill, whichever shows more) against the background around it.
JS_FRAME = r"""
(el) => {
  const t = window.__glmt;
  const lum = (c) => { const [r, g, b] = c.map(v => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; });
                       return 0.2126 * r + 0.7152 * g + 0.0722 * b; };
  const ratio = (a, b) => { const [x, y] = [lum(a), lum(b)].sort((p, q) => q - p); return (x + 0.05) / (y + 0.05); };
  const fill = (n) => { for (; n; n = n.parentElement) { const c = t.rgba(getComputedStyle(n).backgroundColor); if (c[3] >= 1) return c.slice(0, 3); } return [255, 255, 255]; };
  const around = fill(el.parentElement), style = getComputedStyle(el);
  const border = t.rgba(style.borderTopColor).slice(0, 3);
  return {width: parseFloat(style.borderTopWidth), edge: Math.max(ratio(border, around), ratio(fill(el), around)),
          border: style.borderTopColor, background: style.backgroundColor, around};
}
"""


def _assert_readable(lab, root, what: str) -> None:
    bad = unreadable(lab.contrast(root))
    assert not bad, f"{lab.kind}-{lab.theme}: {what}: text hard to read on its background: {bad[:8]}"


@in_frontends("lab-light", "nb7-dark")
def test_a_call_appears_runs_and_collapses(app):
    lab = app
    path = lab.write_notebook(["%load_ext glm_notebook", TOOL, f"%%glm --tools weather\n{PROMPT}"])
    lab.open(path)
    lab.run_all()
    out = lab.output(2)
    out.locator(RUNNING).wait_for(state="visible", timeout=60_000)
    running = out.locator(RUNNING).first.inner_text()
    assert 'weather(location="Florence")' in running and "running" in running, running
    assert "running weather" in out.locator(".glm-status").last.inner_text()
    _assert_readable(lab, out, "a running call")
    lab.shot(lab.cell(2), ARTIFACTS / f"{lab.name}-tools-running.png")
    lab.wait_done(timeout=60)

    final = out.locator(DONE)
    final.wait_for(state="visible")
    assert out.locator(RUNNING).count() == 0
    assert final.count() == 1 and final.get_attribute("open") is None  # collapsed
    summary = final.locator("summary").inner_text()
    assert summary.startswith('weather(location="Florence") → 18 °C, clear in Florence'), summary
    box = final.locator("summary").evaluate(
        "s => { const r = (q) => s.querySelector(q).getBoundingClientRect();"
        " return {out: r('.glm-tool-out').right, time: r('.glm-time').left, end: r('.glm-time').right,"
        " row: s.getBoundingClientRect().right}; }"
    )
    assert box["time"] > box["out"] + 10 and box["row"] - box["end"] < 20, (
        box
    )  # the duration apart, at the right
    result = final.locator("pre.glm-tool-result")
    assert not result.is_visible()
    final.locator("summary").click()
    assert result.is_visible() and "18 °C, clear in Florence" in result.inner_text()
    assert '"location": "Florence"' in final.locator("pre.glm-tool-args").inner_text()
    assert final.locator("p.glm-tool-label").all_inner_texts() == ["Arguments", "Result"]
    for block in ("pre.glm-tool-args", "pre.glm-tool-result"):
        frame = final.locator(block).evaluate(JS_FRAME)
        assert frame["width"] >= 1 and frame["edge"] >= 1.25, (
            f"{lab.kind}-{lab.theme}: {block} has no visible frame: {frame}"
        )
    assert "1 tool call" in out.locator(".glm-footer").inner_text()
    _assert_readable(lab, out, "a finished call, opened")
    lab.shot(lab.cell(2), ARTIFACTS / f"{lab.name}-tools-done.png")
    assert lab.cells()[2]["outputs"] == 1

    lab.save()
    [saved] = lab.read_notebook().cells[2].outputs
    assert saved.output_type == "execute_result"
    assert '<details class="glm-tool glm-tool-ok">' in saved.data["text/html"]
    assert saved.data["text/plain"].startswith("<ToolReply ")


def test_the_chat_shows_the_call_in_the_turn(lab):
    chat_cell = f"from glm_notebook import chat\nw = chat(tools=[weather])\ntask = w.send({PROMPT!r})"
    path = lab.write_notebook([TOOL, chat_cell])
    lab.open(path)
    lab.run_all()
    chat = lab.output(1).locator(".glm-chat:not(.glm-chat-static)")
    chat.locator(RUNNING).wait_for(state="visible", timeout=60_000)
    assert 'weather(location="Florence")' in chat.locator(RUNNING).first.inner_text()
    assert "Waiting for the model" not in chat.locator(".glm-chat-answer").inner_text()
    lab.shot(lab.cell(1), ARTIFACTS / f"{lab.name}-chat-tools-running.png")
    chat.locator(".glm-footer").wait_for(state="visible", timeout=60_000)
    lab.wait_done(timeout=60)
    assert chat.locator(RUNNING).count() == 0
    done = chat.locator(DONE)
    assert done.count() == 1 and done.get_attribute("open") is None
    assert "18 °C, clear in Florence" in done.locator("summary").inner_text()
    assert "1 tool call" in chat.locator(".glm-footer").inner_text()
    lab.shot(lab.cell(1), ARTIFACTS / f"{lab.name}-chat-tools-done.png")


@in_frontends("lab-light", "nb7-dark")
def test_the_chat_asks_before_a_call_with_confirm(app):
    lab = app
    chat_cell = (
        f"from glm_notebook import chat\nw = chat(tools=[weather], confirm=True)\ntask = w.send({PROMPT!r})"
    )
    path = lab.write_notebook([TOOL, chat_cell])
    lab.open(path)
    lab.run_all()
    chat = lab.output(1).locator(".glm-chat:not(.glm-chat-static)")
    ask = chat.locator(".glm-chat-ask")
    ask.wait_for(state="visible", timeout=60_000)
    assert ask.locator(".glm-chat-ask-head").inner_text() == "Run weather?"
    assert ask.locator(".glm-chat-ask-args").inner_text() == 'location = "Florence"'
    assert ask.locator(".glm-chat-ask-note").count() == 0  # nothing shortened, nothing to warn of
    _assert_readable(lab, ask, "the question before a call")
    lab.shot(lab.cell(1), ARTIFACTS / f"{lab.name}-chat-tools-ask.png")
    ask.locator("button.glm-chat-run").click()
    chat.locator(RUNNING).wait_for(state="visible", timeout=30_000)
    assert chat.locator(".glm-chat-ask").count() == 0
    chat.locator(".glm-footer").wait_for(state="visible", timeout=60_000)
    assert "18 °C, clear in Florence" in chat.locator(DONE).locator("summary").inner_text()


def test_the_chat_question_shows_every_argument_of_a_hostile_call(lab):
    """A call padded to hide its real target, with a right-to-left override: the Run / Skip
    question still shows the path, the hidden characters as <U+…>, and says what it shortened."""
    padding = "p" * 5000
    args = json.dumps({"text": "x" * 150, "padding": padding, "path": "/home/victim/.bashrc\u202e"})
    tool = (
        "def write_file(text: str, padding: str, path: str) -> str:\n"
        "    '''Write a file. text: what; padding: more; path: where'''\n"
        "    return 'written'"
    )
    prompt = f"Save it [[tool=write_file,args={args}]]"
    chat_cell = f"from glm_notebook import chat\nw = chat(tools=[write_file], confirm=True)\ntask = w.send({prompt!r})"
    lab.open(lab.write_notebook([tool, chat_cell]))
    lab.run_all()
    chat = lab.output(1).locator(".glm-chat:not(.glm-chat-static)")
    ask = chat.locator(".glm-chat-ask")
    ask.wait_for(state="visible", timeout=60_000)
    shown = ask.locator(".glm-chat-ask-args")
    text = shown.inner_text()
    assert 'path = "/home/victim/.bashrc<U+202E>"' in text and "\u202e" not in text
    assert f'text = "{"x" * 150}"' in text and "characters]…" in text
    assert "1 long value shortened in the middle" in ask.locator(".glm-chat-ask-note").inner_text()
    path_line = shown.locator("xpath=.").evaluate(
        "el => { const r = document.createRange(); const i = el.textContent.indexOf('path ='); "
        "r.setStart(el.firstChild, i); r.setEnd(el.firstChild, i + 6); const b = r.getBoundingClientRect(); "
        "const box = el.getBoundingClientRect(); return {inside: b.bottom <= box.bottom + 1 && b.width > 0}; }"
    )
    assert path_line["inside"], "the path line is not laid out inside the question"
    lab.shot(lab.cell(1), ARTIFACTS / f"{lab.name}-chat-hostile-ask.png")
    ask.locator("button.glm-chat-skip").click()
    chat.locator(".glm-footer").wait_for(state="visible", timeout=60_000)
