"""The chat widget as a person uses it: real JupyterLab and Notebook 7 in headless Chromium
(see conftest.py). Each test runs in JupyterLab light and in one Notebook 7 variant: dark where
what it shows has colours of its own to read (queued prompts, the jump button, Stop's mark, the
kernel-less transcript), whose text must then be readable on its background.

Keys (Enter sends, Shift+Enter is a new line), typing and queueing while an answer streams,
following the answer and not fighting a reader who scrolls up, a bounded transcript with the
input in view, links and copy buttons, the same look as `%%glm` output, one widget for
`chat()` as a cell's last line, and the conversation still visible after save, kernel shutdown
and reopen (the static transcript), images attached by the file picker, a paste or a drop and
shown as thumbnails. Screenshots go to artifacts/browser/.
"""

from __future__ import annotations

import base64
import io
import re
import time

import pytest

from .conftest import ARTIFACTS, in_frontends, unreadable
from .test_lab import HOSTILE

pytestmark = pytest.mark.browser

CHAT = "from glm_notebook import chat\nw = chat()"
LIVE = ".glm-chat:not(.glm-chat-static)"
TURN_END = ".glm-footer, .glm-chat-stopped, .glm-chat-error"


def _chat(lab, index: int = 0):
    chat = lab.output(index).locator(LIVE)
    chat.locator("textarea.glm-chat-input").wait_for(state="visible", timeout=30_000)
    return chat


def _open_chat(lab):
    """A notebook whose one cell shows `chat()`, run; the live chat's locator."""
    lab.open(lab.write_notebook([CHAT]))
    lab.run_all_and_wait(timeout=60)
    return _chat(lab)


def _wait_ended(lab, chat, count: int, timeout: float = 60.0) -> None:
    lab.page.wait_for_function(
        "([el, sel, n]) => el.querySelectorAll(sel).length >= n",
        arg=[chat.element_handle(), TURN_END, count],
        timeout=timeout * 1000,
    )


def _assert_readable(lab, root, what: str) -> list[dict]:
    """Every piece of text under `root` (a Locator) is readable on its background; the rows."""
    rows = lab.contrast(root)
    bad = unreadable(rows)
    assert not bad, f"{lab.kind}-{lab.theme}: {what}: text hard to read on its background: {bad[:8]}"
    return rows


def _scroll(chat) -> dict:
    return chat.locator(".glm-chat-transcript").evaluate(
        "t => ({top: t.scrollTop, height: t.scrollHeight, client: t.clientHeight,"
        " gap: t.scrollHeight - t.scrollTop - t.clientHeight})"
    )


# Where an element sits against the part of the page a person sees: the window, cut by the
# nearest scrolling ancestor (in JupyterLab the status bar covers the window's last ~24 px).
JS_SEEN_AREA = r"""
(el) => {
  const box = el.getBoundingClientRect();
  let top = 0, bottom = window.innerHeight;
  for (let e = el.parentElement; e; e = e.parentElement) {
    const overflow = getComputedStyle(e).overflowY;
    if ((overflow === 'auto' || overflow === 'scroll') && e.scrollHeight > e.clientHeight) {
      const r = e.getBoundingClientRect();
      top = Math.max(top, r.top); bottom = Math.min(bottom, r.bottom);
    }
  }
  return {top: box.top, bottom: box.bottom, areaTop: top, areaBottom: bottom};
}
"""


@in_frontends("lab-light", "nb7-dark")
def test_keys_queue_autoscroll_and_a_bounded_transcript(app):
    lab = app
    lab.page.set_viewport_size({"width": 1400, "height": 700})  # the grown chat would not fit
    chat = _open_chat(lab)
    out = lab.output(0)
    assert out.locator(LIVE).count() == 1
    # the view hides the static copy at the kernel's first message (its proof that it is live)
    out.locator(".glm-chat-static").wait_for(state="hidden", timeout=15_000)
    box = chat.locator("textarea.glm-chat-input")
    count = lab.cells()[0]["count"]

    # Shift+Enter: a new line, nothing sent, no cell run.
    box.click()
    box.type("line one")
    box.press("Shift+Enter")
    box.type("line two")
    assert box.input_value() == "line one\nline two"
    assert chat.locator(".glm-chat-turn").count() == 0 and lab.cells()[0]["count"] == count

    # Enter sends; the box stays usable while the answer streams.
    box.fill("[[huge=7000,delay=0.01]] A long answer please")
    box.press("Enter")
    chat.locator(".glm-chat-turn").first.wait_for()
    assert box.input_value() == "" and box.is_enabled()
    lab.page.wait_for_function(
        "t => t.scrollHeight > t.clientHeight + 200",
        arg=chat.locator(".glm-chat-transcript").element_handle(),
        timeout=30_000,
    )
    box.type("[[delay=0.01]] And a short one")  # typed while streaming
    box.press("Enter")
    pending = chat.locator(".glm-chat-pending")
    pending.wait_for()
    assert "And a short one" in pending.inner_text() and box.input_value() == ""
    lab.screenshot("streaming-queued")

    # It follows the answer...
    gaps = []
    for _ in range(5):
        time.sleep(0.3)
        gaps.append(_scroll(chat)["gap"])
    assert max(gaps) < 40, f"the transcript did not follow the answer: gaps {gaps}"
    # ...until the reader scrolls up; then it stays where the reader is.
    chat.locator(".glm-chat-transcript").hover()
    lab.page.mouse.wheel(0, -600)
    time.sleep(0.3)
    before = _scroll(chat)
    time.sleep(1.5)
    after = _scroll(chat)
    assert after["height"] > before["height"], "the answer stopped growing: the test proves nothing"
    assert abs(after["top"] - before["top"]) < 2 and after["gap"] > 100, (before, after)
    assert chat.locator("button.glm-chat-jump").is_visible()
    rows = _assert_readable(lab, chat, "the chat while streaming, a prompt queued")
    seen = " ".join(r["text"] for r in rows)
    assert "Follow the answer" in seen and "queued" in seen and "And a short one" in seen, seen[:500]
    lab.screenshot("scrolled-up")

    # Bounded: the transcript scrolls; the input stayed in view as the chat grew (nobody scrolled)
    size = _scroll(chat)
    assert size["client"] <= 600 and size["height"] > size["client"]
    seen = box.evaluate(JS_SEEN_AREA)
    assert seen["top"] >= seen["areaTop"] and seen["bottom"] <= seen["areaBottom"] + 1, seen

    _wait_ended(lab, chat, 2)
    text = chat.inner_text()
    assert "This is turn 2 of our conversation" in text  # the queued prompt ran after the first
    assert chat.locator(".glm-chat-pending").count() == 0
    assert chat.locator("button.glm-copy-answer").count() == 2
    assert chat.locator("button.glm-chat-stop").is_disabled()  # busy went off before the end
    lab.screenshot("done")
    lab.page.set_viewport_size({"width": 1400, "height": 1000})


MARKDOWN = (
    "A paragraph with a [link](https://example.com/docs) and `inline code`.\n\n"
    "> A quoted line.\n\n"
    "| Name | Value |\n|---|---|\n| alpha | 1 |\n| beta | 2 |\n\n"
    "```python\nprint('hi')\n```\n\n"
    "Math: $E = mc^2$ and\n\n$$\\sum_{i=1}^{n} i$$\n"
)

JS_STYLES = r"""
(root) => {
  const css = (sel, prop) => {
    const el = root.querySelector(sel);
    return el ? getComputedStyle(el)[prop] : null;
  };
  return {
    lineHeight: css('.glm-md p', 'lineHeight'),
    fontSize: css('.glm-md p', 'fontSize'),
    codeBackground: css('.glm-md p code', 'backgroundColor'),
    linkColor: css('.glm-md a', 'color'),
    quoteBorder: css('.glm-md blockquote', 'borderLeftWidth') + ' ' + css('.glm-md blockquote', 'borderLeftStyle'),
    cellBorder: css('.glm-md td', 'borderBottomWidth') + ' ' + css('.glm-md td', 'borderBottomStyle'),
    math: root.querySelectorAll('.glm-md math').length,
  };
}
"""


@in_frontends("lab-light", "nb7-dark")
def test_the_chat_renders_like_glm_output(app):
    lab = app
    send = f"w = chat()\nawait w.send({('[[echo]] ' + MARKDOWN)!r})"
    path = lab.write_notebook(
        ["%load_ext glm_notebook", "%%glm\n[[echo]] " + MARKDOWN, "from glm_notebook import chat\n" + send]
    )
    lab.open(path)
    lab.run_all_and_wait(timeout=90)
    chat = _chat(lab, 2)
    _wait_ended(lab, chat, 1)
    answer = chat.locator(".glm-chat-answer").first
    magic = lab.output(1).locator(".glm-reply, .jp-OutputArea-output").last
    ours = answer.evaluate(JS_STYLES)
    theirs = magic.evaluate(JS_STYLES)
    print(f"\nchat: {ours}\n%%glm: {theirs}")
    assert ours == theirs, f"the chat renders differently from %%glm output:\n{ours}\n{theirs}"
    assert ours["math"] >= 2, "math is not rendered as MathML"
    assert float(ours["lineHeight"].rstrip("px")) < 2 * float(ours["fontSize"].rstrip("px"))

    links = chat.locator("a")
    assert links.count() >= 1
    for i in range(links.count()):
        link = links.nth(i)
        assert link.get_attribute("target") == "_blank", link.evaluate("a => a.outerHTML")
        assert link.get_attribute("rel") == "noopener noreferrer"
    blocks = chat.locator(".glm-code")
    assert blocks.count() >= 1
    assert chat.locator(".glm-code .glm-code-head button.glm-copy").count() == blocks.count()
    assert answer.evaluate("a => a.classList.contains('jp-RenderedHTMLCommon')")
    chat.scroll_into_view_if_needed()
    lab.screenshot("styles")


@in_frontends("lab-light", "nb7-dark")
def test_chat_as_last_line_shows_once_and_survives_save_shutdown_reopen(app):
    lab = app
    path = lab.write_notebook(["from glm_notebook import chat\nchat(model='glm-4.6')"])
    lab.open(path)
    lab.run_all_and_wait(timeout=60)
    out = lab.output(0)
    chat = _chat(lab)
    assert out.locator(LIVE).count() == 1, "chat() as the last line shows more than one widget"
    box = chat.locator("textarea.glm-chat-input")
    box.fill("Explain persistence")
    box.press("Enter")
    _wait_ended(lab, chat, 1)
    box.fill("And after a restart?")
    box.press("Enter")
    _wait_ended(lab, chat, 2)
    time.sleep(0.5)  # the static transcript's update arrives after the end message
    assert not out.locator(".glm-chat-static").is_visible()
    lab.save()
    saved = lab.read_notebook()
    static = [
        o for o in saved.cells[0].outputs if "glm-chat-static" in o.get("data", {}).get("text/html", "")
    ]
    assert static and "This is turn 2" in static[0]["data"]["text/html"]

    # A reload with the kernel alive: the new view asks for the whole transcript.
    lab.reopen()
    chat = _chat(lab)
    lab.page.wait_for_function(
        "el => el.querySelectorAll('.glm-chat-turn .glm-footer').length === 2", arg=chat.element_handle()
    )
    assert "This is turn 2 of our conversation" in chat.inner_text()
    lab.output(0).locator(".glm-chat-static").wait_for(state="hidden", timeout=15_000)
    lab.screenshot("reloaded")

    # Shut the kernel down and open the notebook again: the widget's model is gone.
    for session in lab.server.api("GET", "/api/sessions") or []:
        lab.server.api("DELETE", f"/api/sessions/{session['id']}")
    lab.open(path, wait_kernel=False)
    shown = lab.output(0).locator(".glm-chat-static")
    shown.wait_for(state="visible", timeout=30_000)
    text = shown.inner_text()
    assert "Explain persistence" in text and "This is turn 2 of our conversation" in text
    assert re.search(r"2 turns", text)
    assert shown.locator(".glm-chat-answer").count() == 2 and shown.locator("table").count() == 2
    gap = shown.evaluate(
        "s => s.querySelector('.glm-chat-user').getBoundingClientRect().top"
        " - s.querySelector('.glm-chat-static-head').getBoundingClientRect().bottom"
    )
    assert 0 <= gap <= 16, (
        f"{lab.kind}-{lab.theme}: {gap:.0f} px empty between the transcript's head and its first message"
    )
    _assert_readable(lab, shown, "the kernel-less transcript")
    lab.screenshot("reopened")


# Text of `root` as rendered, without reasoning, status lines, math, buttons or the input.
JS_ANSWER_WORDS = r"""
(root) => {
  const parts = [];
  const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    const el = n.parentElement;
    if (!el || el.closest('details, .glm-status, .glm-math, math, .glm-chat-user, textarea, button')) continue;
    if (el.checkVisibility()) parts.push(n.data);
  }
  return (parts.join(' ').match(/\w+/g) || []).length;
}
"""


@in_frontends("lab-light", "nb7-dark")
def test_stop_keeps_the_partial_answer_and_the_history(app):
    lab = app
    chat = _open_chat(lab)
    box = chat.locator("textarea.glm-chat-input")
    words = lambda: chat.evaluate(JS_ANSWER_WORDS)  # noqa: E731

    box.fill("[[delay=0.1]] Tell me about monads")
    box.press("Enter")
    counts = [words()]
    deadline = time.monotonic() + 30
    while counts[-1] < 25 and time.monotonic() < deadline:
        time.sleep(0.15)
        counts.append(words())
    assert counts[-1] >= 25 and len(set(counts)) >= 3, f"the answer did not stream: {counts}"
    assert box.is_enabled() and chat.locator("button.glm-chat-stop").is_enabled()

    chat.locator("button.glm-chat-stop").click()
    _wait_ended(lab, chat, 1, timeout=10)
    assert re.search(r"stopped", chat.inner_text(), re.I), "no 'stopped' mark after Stop"
    halted = words()
    time.sleep(1.5)
    assert words() == halted, "the answer kept growing after Stop"
    assert "sum of the first" not in chat.inner_text(), "the whole answer arrived: Stop came too late"
    _assert_readable(lab, chat, "the chat after Stop")
    lab.screenshot("stopped")

    box.fill("And what about functors?")
    box.press("Enter")
    _wait_ended(lab, chat, 2)
    text = chat.inner_text()
    assert (
        "This is turn 2 of our conversation" in text
        and 'you first asked about "Tell me about monads"' in text
    )
    assert chat.locator("button.glm-chat-stop").is_disabled()

    # New conversation, then Restore brings it back.
    chat.locator("button.glm-chat-new").click()
    lab.page.wait_for_function("el => !el.querySelector('.glm-chat-turn')", arg=chat.element_handle())
    restore = chat.locator("button.glm-chat-restore")
    restore.wait_for(state="visible")
    restore.click()
    lab.page.wait_for_function(
        "el => el.querySelectorAll('.glm-chat-turn').length === 2", arg=chat.element_handle()
    )
    assert not restore.is_visible()
    assert "This is turn 2 of our conversation" in chat.inner_text()
    _assert_readable(lab, chat, "the restored chat")
    lab.screenshot("restored")


def test_hostile_output_stays_text_in_the_chat(lab):
    chat = _open_chat(lab)
    chat.locator("textarea.glm-chat-input").fill("[[echo]] " + HOSTILE)
    chat.locator("textarea.glm-chat-input").press("Enter")
    _wait_ended(lab, chat, 1)
    time.sleep(1.0)  # onerror / onload fire asynchronously
    flags = lab.page.evaluate("() => Object.keys(window).filter(k => k.startsWith('__pwned'))")
    assert not flags, f"hostile model output ran script: {flags}"
    assert chat.locator("a[href^='javascript:' i], script, iframe, svg, img").count() == 0
    text = chat.inner_text()
    assert text.count("onerror") == 2 and text.count("<script>window.__pwned_script") == 2  # as text


# Adds a PNG (Base64 `b64`) to the chat as a paste into the input or a drop on the chat.
JS_PASTE_OR_DROP = r"""
([el, b64, name, how]) => {
  const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  const data = new DataTransfer();
  data.items.add(new File([bytes], name, { type: "image/png" }));
  const event = how === "paste"
    ? new ClipboardEvent("paste", { clipboardData: data, bubbles: true, cancelable: true })
    : new DragEvent("drop", { dataTransfer: data, bubbles: true, cancelable: true });
  el.dispatchEvent(event);
}
"""


def _png(width: int, height: int) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (30, 120, 200)).save(buffer, format="PNG")
    return buffer.getvalue()


def test_attached_images_reach_the_model_and_show_as_thumbnails(lab, tmp_path):
    pytest.importorskip("PIL")
    picture = tmp_path / "plot.png"
    picture.write_bytes(_png(64, 48))
    path = lab.write_notebook(["from glm_notebook import chat\nw = chat(model='glm-4.6v')"])
    lab.open(path)
    lab.run_all_and_wait(timeout=60)
    chat = _chat(lab)
    box = chat.locator("textarea.glm-chat-input")
    chips = chat.locator(".glm-chat-attachments .glm-chat-chip")
    assert chat.locator("button.glm-chat-attach").is_visible()
    file_input = chat.locator("input[type=file]")
    assert file_input.get_attribute("accept").startswith("image/png,image/jpeg")

    # The three ways in: the file picker, a paste into the input, a drop on the chat.
    file_input.set_input_files(str(picture))
    chips.first.wait_for()
    lab.page.evaluate(
        JS_PASTE_OR_DROP,
        [box.element_handle(), base64.b64encode(_png(30, 20)).decode(), "pasted.png", "paste"],
    )
    lab.page.evaluate(
        JS_PASTE_OR_DROP,
        [chat.element_handle(), base64.b64encode(_png(10, 10)).decode(), "dropped.png", "drop"],
    )
    lab.page.wait_for_function(
        "el => el.querySelectorAll('.glm-chat-chip').length === 3", arg=chat.element_handle()
    )
    assert [c.inner_text().strip().rstrip("✕").strip() for c in chips.all()] == [
        "plot.png",
        "pasted.png",
        "dropped.png",
    ]
    chips.nth(2).locator("button.glm-chat-chip-remove").click()  # changed my mind about this one
    assert chips.count() == 2
    lab.screenshot("images-attached")

    box.fill("What do these show?")
    box.press("Enter")
    _wait_ended(lab, chat, 1)
    assert chips.count() == 0 and box.input_value() == ""
    user = chat.locator(".glm-chat-turn .glm-chat-user").first
    thumbs = user.locator("img.glm-thumb")
    assert thumbs.count() == 2
    assert [t.get_attribute("alt") for t in thumbs.all()] == ["[image 64×48 PNG]", "[image 30×20 PNG]"]
    assert thumbs.first.get_attribute("src").startswith("data:image/jpeg;base64,")
    assert (
        thumbs.first.evaluate("img => img.complete && img.naturalWidth") == 64
    )  # a real image, not upscaled
    answer = chat.locator(".glm-chat-answer").first.inner_text()
    assert "I see 2 image(s)" in answer and "PNG, 64×48 pixels" in answer and "PNG, 30×20 pixels" in answer
    lab.screenshot("images-answered")

    time.sleep(0.5)  # the static transcript's update arrives after the end message
    lab.save()
    [static] = [
        o
        for o in lab.read_notebook().cells[0].outputs
        if "glm-chat-static" in o.get("data", {}).get("text/html", "")
    ]
    html = static["data"]["text/html"]
    assert html.count('class="glm-thumb"') == 2 and len(html) < 40_000


@in_frontends("lab-light", "nb7-dark")
def test_a_widget_opened_on_a_chat_continues_it_and_footers_show_the_cost(app):
    """`trip(...)` in a cell, then `chat(trip)`: the widget shows the earlier turn and adds to the
    same conversation; the answer's footer shows its cost beside the tokens."""
    lab = app
    start = 'from glm_notebook import Chat, chat\ntrip = Chat(system="You are a terse travel agent.")\ntrip("Plan a day in Lisbon")'
    follow = 'w = chat(trip)\n_ = await w.send("And what should I do in the evening?")\nw'
    lab.open(lab.write_notebook(["%load_ext glm_notebook", start, follow, "len(trip), trip.cost > 0"]))
    lab.run_all_and_wait(timeout=90)
    answer = lab.output(1)
    cost = answer.locator(".glm-footer .glm-cost")
    assert cost.count() == 1 and re.fullmatch(r"\$0\.\d+", cost.inner_text()), answer.inner_text()[-300:]
    chat = _chat(lab, 2)
    _wait_ended(lab, chat, 2)
    text = chat.inner_text()
    assert "Plan a day in Lisbon" in text and "And what should I do in the evening?" in text
    assert chat.locator(".glm-chat-answer").count() == 2
    assert chat.locator(".glm-footer .glm-cost").count() >= 1
    assert "(2, True)" in lab.output(3).inner_text()
    _assert_readable(lab, answer, "the answer's footer")
    _assert_readable(lab, chat, "the chat over an existing Chat")
    chat.scroll_into_view_if_needed()
    lab.screenshot("chat-over-existing")


@pytest.mark.parametrize("trusted", [True, False], ids=["signed", "unsigned"])
def test_a_saved_transcript_with_hostile_tex_cannot_style_the_page_or_fetch(lab, beacon, server, trusted):
    """Server error text and tool results holding TeX that MathJax would turn into a full-page
    overlay fetching a beacon: the saved transcript, opened signed or not, keeps it as text."""
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    import nbformat

    from glm_notebook import GLMClient
    from glm_notebook.notebook.widget import ChatWidget
    from tests.test_widget import frontend

    overlay = f"position:fixed;top:0;left:0;width:100%;height:100%;background:url({beacon.url}/tex)"
    error_tex = f"$\\style{{{overlay}}}{{x}}$ and \\(\\style{{{overlay}}}{{y}}\\)"
    tool_tex = f"$\\unicode[x;{overlay}]{{x41}}$ $$\\href{{{beacon.url}/href}}{{z}}$$"

    def lookup(place: str) -> str:
        """Look a place up. place: the place"""
        return tool_tex

    async def run() -> dict:
        client = GLMClient(server.api_key, server.base_url, max_retries=0)
        w = ChatWidget(model="glm-4.6", client=client, tools=[lookup])
        frontend(w, op="send", text="Use lookup [[tool=lookup]]")
        await w._task
        frontend(w, op="send", text=f"Again [[status=400,code=1214,message={error_tex}]]")
        await w._task
        return w._static_bundle()

    with ThreadPoolExecutor(1) as pool:  # (Playwright's sync API holds this thread's event loop)
        bundle = pool.submit(lambda: asyncio.run(run())).result()
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["hostile_test"] = f"{lab.name}-{trusted}"  # content of its own: signed only if asked
    cell = nbformat.v4.new_code_cell("from glm_notebook import chat\nw = chat()")
    cell.outputs = [nbformat.v4.new_output("display_data", data=bundle)]
    nb.cells = [cell]
    path = f"{lab.name}-{'signed' if trusted else 'unsigned'}.ipynb"
    lab.server.put_notebook(path, nbformat.from_dict(nb), trusted=trusted)
    lab.open(path, wait_kernel=False)
    static = lab.output(0).locator(".glm-chat-static")
    static.wait_for(timeout=30_000)
    time.sleep(2.0)  # MathJax typesets lazily; fetches and fonts would have started by now
    text = static.inner_text()
    assert "position:fixed" in text and "\\unicode" in text, "the hostile text is not shown as text"
    assert not beacon.hits, f"the beacon was reached: {beacon.hits}"
    positioned = lab.page.evaluate(
        "el => [...el.querySelectorAll('*')].filter(e => ['fixed', 'absolute', 'sticky']"
        ".includes(getComputedStyle(e).position)).map(e => e.outerHTML.slice(0, 120))",
        static.element_handle(),
    )
    assert not positioned, f"positioned elements in the transcript: {positioned}"
    assert lab.page.locator("mjx-container, .MathJax").count() == 0, "MathJax typeset hostile text"
    lab.screenshot(f"hostile-transcript-{'signed' if trusted else 'unsigned'}")


def test_hostile_tex_in_the_live_chat_stays_text(lab, beacon):
    """The same TeX in the live chat: an error message from the service and the model's echo."""
    overlay = f"position:fixed;top:0;left:0;width:100%;height:100%;background:url({beacon.url}/live)"
    chat = _open_chat(lab)
    box = chat.locator("textarea.glm-chat-input")
    box.fill(f"[[status=400,code=1214,message=$\\style{{{overlay}}}{{x}}$]] once")
    box.press("Enter")
    _wait_ended(lab, chat, 1)
    box.fill(f"[[echo]] and \\(\\style{{{overlay}}}{{y}}\\) then $$\\unicode[x;{overlay}]{{x41}}$$")
    box.press("Enter")
    _wait_ended(lab, chat, 2)
    time.sleep(2.0)  # MathJax typesets lazily; fetches would have started by now
    assert "position:fixed" in chat.inner_text()
    assert not beacon.hits, f"the beacon was reached: {beacon.hits}"
    assert lab.page.locator("mjx-container, .MathJax").count() == 0, "MathJax typeset hostile text"
    positioned = lab.page.evaluate(
        "el => [...el.querySelectorAll('*')].filter(e => getComputedStyle(e).position === 'fixed')"
        ".map(e => e.outerHTML.slice(0, 120))",
        chat.element_handle(),
    )
    assert not positioned, positioned


JS_BAR = r"""
(chat) => {
  const r = (q) => chat.querySelector(q).getBoundingClientRect();
  const bar = r('.glm-chat-bar'), input = r('textarea.glm-chat-input'), buttons = r('.glm-chat-buttons');
  const box = chat.querySelector('textarea.glm-chat-input');
  return {bar: bar.width, input: input.width, inputBottom: input.bottom, buttonsTop: buttons.top,
          head: chat.querySelector('.glm-chat-head').textContent,
          attach: !!chat.querySelector('.glm-chat-attach').offsetParent,
          placeholderCut: (() => { const c = document.createElement('canvas').getContext('2d');
                                   const st = getComputedStyle(box); c.font = st.font;
                                   return c.measureText(box.placeholder).width
                                          > box.clientWidth - parseFloat(st.paddingLeft) - parseFloat(st.paddingRight); })(),
          placeholder: box.placeholder};
}
"""


@in_frontends("lab-light", "nb7-dark")
def test_the_chat_keeps_its_input_wide_at_any_width_and_names_its_model(app):
    lab = app
    chat = _open_chat(lab)
    lab.page.locator(".glm-chat-static").first.wait_for(state="hidden", timeout=15_000)
    if lab.kind == "lab":  # a narrow window shows the notebook, not the file browser beside it
        lab.command("application:toggle-left-area")
    seen = {}
    for width in (1400, 700, 360):
        lab.page.set_viewport_size({"width": width, "height": 900})
        lab.page.wait_for_timeout(400)  # the notebook lays out again
        look = lab.page.evaluate(JS_BAR, chat.element_handle())
        seen[width] = look
        lab.shot(chat, ARTIFACTS / f"{lab.name}-chat-{width}.png")
        assert look["bar"] >= 200, (width, look)  # the chat itself has room (not hidden by a side panel)
        assert look["input"] >= 0.6 * look["bar"] - 1, (width, look)  # the box keeps most of the width
        assert not look["placeholderCut"], (width, look)  # the hint fits on its line, or is short
        if look["bar"] < 500:
            assert look["buttonsTop"] >= look["inputBottom"] - 1, (width, look)  # buttons wrap below
    lab.page.set_viewport_size({"width": 1400, "height": 1000})
    assert "Enter sends" in seen[1400]["placeholder"] and seen[360]["placeholder"] == "Ask something…"
    assert seen[1400]["head"] == "glm-4.6"  # a small header names the model
    assert not seen[1400]["attach"]  # glm-4.6 takes no images: no Image… button
