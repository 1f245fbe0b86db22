"""A `%%glm` answer and the chat widget in JupyterLab and Notebook 7, light and dark theme.

Each variant (fixture `app`, see conftest.py) runs one notebook: a `%%glm` cell whose answer is
Markdown we wrote (the local server's `[[echo]]` directive answers with the prompt) and a chat
widget that asks one question. Asserted from the DOM: the answer's parts render, the output is
not blank, every piece of its text is readable on its background (WCAG contrast), and the page
fetched nothing from outside the Jupyter server.

The same test writes the README's screenshots (cropped, palette PNG) when asked to:

    PYTHONPATH=$PWD .venv/bin/python -m tests.browser.screenshots

writes `notebooks/screenshots/*.png` (see `tests/browser/screenshots.py`); otherwise the crops go
to `artifacts/browser/tour/`.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from .conftest import ARTIFACTS, ours, unreadable

pytestmark = pytest.mark.browser

LOAD = "%load_ext glm_notebook"

# The answer, as Markdown: everything the renderer draws. `{name}` stays as written (interpolation
# leaves undefined names alone).
ANSWER = r"""## Counting words in Python

Split on whitespace and count the pieces — see the [Python docs](https://docs.python.org/3/library/stdtypes.html#str.split):

- `text.split()` splits on any run of whitespace
- punctuation stays attached to its word
- a `Counter` gives the frequency of each word

```python
from collections import Counter

def word_counts(text: str) -> Counter:
    return Counter(text.lower().split())

print(word_counts("the cat and the hat").most_common(1))  # [('the', 2)]
```

| Method | Handles punctuation | Speed |
|---|---|---|
| `str.split()` | no | fast |
| `re.findall(r"\w+", s)` | yes | medium |

For $n$ words the cost is linear, and the number of distinct pairs grows as

$$\binom{n}{2} = \frac{n(n-1)}{2}$$
"""

GLM_CELL = "%%glm\n[[echo]] " + ANSWER
CHAT_PROMPT = "How do I count the words of a string in Python?"
CHAT_CELL = f"from glm_notebook import chat\n\nw = chat()\nreply = await w.send({CHAT_PROMPT!r})"

# README screenshots: variant -> file stem (the variants the README shows)
TOUR = {("lab", "light"): "lab-light", ("lab", "dark"): "lab-dark", ("nb7", "light"): "notebook7-light"}
TOUR_WIDTH = 900  # px, the output area's width in the crops


def _fit_width(app, target, width: int) -> None:
    """Resize the page so that `target` (a Locator) is about `width` px wide."""
    for _ in range(3):
        now = target.bounding_box()["width"]
        if abs(now - width) <= 8:
            return
        size = app.page.viewport_size
        app.page.set_viewport_size({"width": int(size["width"] + width - now), "height": size["height"]})
        app.page.wait_for_timeout(300)  # JupyterLab lays out again on resize


def test_answer_and_chat_render_readably(app):
    path = app.write_notebook([LOAD, GLM_CELL, CHAT_CELL])
    app.open(path)
    theme = app.theme_info()
    assert theme["light"] is (app.theme == "light"), (
        f"{app.kind}: the {app.theme} theme did not apply: {theme}"
    )
    app.run_all_and_wait(timeout=90)

    # -- the %%glm answer -------------------------------------------------------------------------
    out = app.output(1)
    text = out.inner_text()
    assert "Traceback" not in text, text[:2000]
    box = out.bounding_box()
    assert box and box["height"] > 300, f"the answer's output area is (nearly) blank: {box}"
    assert out.locator("h2:visible").filter(has_text="Counting words in Python").count() == 1, (
        out.inner_html()[:3000]
    )
    assert out.locator("li:visible").count() >= 3
    assert out.locator("table:visible tr").count() == 3, "the table is not rendered as one 3-row table"
    code = out.locator("pre code:visible")
    assert code.count() == 1 and "def word_counts" in code.inner_text(), "the code block is not a <pre><code>"
    link = out.locator("a[href='https://docs.python.org/3/library/stdtypes.html#str.split']:visible")
    assert link.count() == 1 and link.inner_text() == "Python docs"
    assert "noopener" in (link.get_attribute("rel") or ""), link.evaluate("a => a.outerHTML")
    reasoning = out.locator("details.glm-reasoning")
    assert reasoning.count() == 1, "no collapsed reasoning (details.glm-reasoning)"
    assert reasoning.evaluate("d => d.open") is False
    # math: MathML (our renderer) or MathJax's output, inline and display
    app.page.wait_for_function(
        "el => el.querySelectorAll('math, mjx-container').length >= 2",
        arg=out.element_handle(),
        timeout=20_000,
    )
    assert "\\binom" not in text and "\\frac" not in text, f"display math is shown as TeX: {text[-400:]!r}"

    rows = app.contrast(out)
    worst = min(ours(rows), key=lambda r: r["ratio"])
    print(
        f"\n{app.kind}-{app.theme}: {len(rows)} text elements, worst contrast {worst['ratio']:.2f} ({worst})"
    )
    bad = unreadable(rows)
    assert not bad, f"{app.kind}-{app.theme}: text hard to read on its background: {bad[:8]}"

    # -- the chat widget (being rebuilt: asserted only to render its answer) ------------------------
    chat = app.output(2)
    chat_text = chat.inner_text()
    assert "Traceback" not in chat_text, chat_text[:2000]
    assert CHAT_PROMPT in chat_text, f"the chat does not show the question: {chat_text[:1000]!r}"
    assert "This note comes from the local GLM test server" in chat_text, "the chat shows no answer"
    chat_rows = app.contrast(chat, ".glm-md *, .glm-chat-answer *, .glm-chat-user *")
    assert len(chat_rows) > 5, f"the chat shows no Markdown answer (.glm-md): {chat_rows}"
    bad = unreadable(chat_rows)
    assert not bad, f"{app.kind}-{app.theme}: chat text hard to read on its background: {bad[:8]}"

    foreign = app.foreign_requests()
    assert not foreign, f"the page fetched from outside the Jupyter server: {foreign[:5]}"

    # -- screenshots: the whole page, and the crops the README shows -----------------------------------
    app.screenshot("page")
    readme = os.environ.get("GLM_SCREENSHOTS_DIR")
    if readme and (app.kind, app.theme) not in TOUR:
        return
    stem = TOUR.get((app.kind, app.theme), f"{app.kind}-{app.theme}")
    folder = Path(readme) if readme else ARTIFACTS / "tour"
    _fit_width(app, out, TOUR_WIDTH)
    # no active-cell bar or cell toolbar on the cropped cells
    app.page.evaluate(
        "p => { window.__glmt.panel(p).content.activeCellIndex = 0; document.activeElement.blur(); }",
        app.path,
    )
    app.page.mouse.move(0, 0)
    for shot in (
        app.shot(out, folder / f"glm-answer-{stem}.png"),
        app.shot(app.cell(2), folder / f"chat-{stem}.png"),
    ):
        _optimise(shot)
        print(f"screenshot: {shot} ({shot.stat().st_size // 1024} kB)")


def _optimise(path: Path) -> None:
    """Re-encode a PNG with a 256-colour palette when Pillow is there (text stays crisp)."""
    try:
        from PIL import Image
    except ImportError:
        return
    with Image.open(path) as img:
        small = img.convert("RGB").quantize(
            colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE
        )
    small.save(path, optimize=True)
