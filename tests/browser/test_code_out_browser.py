"""`%%glm --code` in real JupyterLab and Notebook 7: the answer's code appears as a new cell below the magic's
cell (the kernel's `set_next_input` payload), and `--code replace` puts it in the cell itself."""

from __future__ import annotations

import pytest

from .conftest import in_frontends

pytestmark = pytest.mark.browser

LOAD = "%load_ext glm_notebook"
SOURCES = "p => window.__glmt.panel(p).content.widgets.map(c => c.model.sharedModel.getSource())"
TRUSTED = "p => Array.from(window.__glmt.panel(p).content.model.cells).filter(c => c.type === 'code').map(c => c.trusted)"


def wait_cell_ran(lab, index: int, cells: int) -> None:
    lab.page.wait_for_function(
        """([p, i, n]) => { const cs = window.__glmt.cells(p); const s = window.__glmt.kernelState(p);
                            return !!cs && cs.length === n && cs[i].count !== null && cs[i].state !== 'running'
                                   && !!s && s.status === 'idle'; }""",
        arg=[lab.path, index, cells],
        timeout=120_000,
    )


@in_frontends("lab-light", "nb7-light")  # the theme plays no part
def test_code_goes_into_a_new_cell_below_or_replaces_the_cell(app) -> None:
    lab = app
    path = lab.write_notebook([LOAD, "%%glm --code\nWrite a word counter"])
    lab.open(path)
    lab.run_all()
    wait_cell_ran(lab, 1, 3)
    sources = lab.page.evaluate(SOURCES, lab.path)
    assert sources[1] == "%%glm --code\nWrite a word counter"
    assert sources[2].startswith("def answer_write_a_word(text: str) -> int:") and "```" not in sources[2]
    assert "code inserted below" in lab.output_text(1)
    lab.screenshot("inserted")
    # JupyterLab inserts a kernel's set_next_input cell untrusted until it runs (Notebook 7 says
    # "Not Trusted" meanwhile); it holds no output, so the saved file stays signed
    assert lab.page.evaluate(TRUSTED, lab.path) == [True, True, False]
    lab.save()
    lab.reopen()
    assert lab.page.evaluate(TRUSTED, lab.path) == [True, True, True]

    path = lab.write_notebook(
        [LOAD, "%%glm --code replace\nWrite a word counter"], name=f"{lab.name}-replace.ipynb"
    )
    lab.open(path)
    lab.run_all()
    lab.page.wait_for_function(
        "p => { const w = window.__glmt.panel(p); return !!w && w.content.widgets.length === 2"
        " && w.content.widgets[1].model.sharedModel.getSource().startsWith('def answer_'); }",
        arg=lab.path,
        timeout=120_000,
    )
    sources = lab.page.evaluate(SOURCES, lab.path)
    assert sources[1].startswith("def answer_write_a_word(text: str) -> int:")


CHAT = "from glm_notebook import chat\nw = chat()"
LIVE = ".glm-chat:not(.glm-chat-static)"


@in_frontends("lab-light", "nb7-light")  # the theme plays no part
def test_chat_code_block_inserts_a_cell_below_the_chat(app) -> None:
    lab = app
    path = lab.write_notebook([CHAT, "print('after')"])
    lab.open(path)
    lab.run_all_and_wait(timeout=60)
    chat = lab.output(0).locator(LIVE)
    box = chat.locator("textarea.glm-chat-input")
    box.wait_for(state="visible", timeout=30_000)
    box.fill("Write a word counter")
    box.press("Enter")
    chat.locator(".glm-footer").wait_for(timeout=60_000)
    block = chat.locator(".glm-chat-answer .glm-code[data-lang=python]").first
    assert block.locator(".glm-code-head button.glm-copy").count() == 1
    insert = block.locator(".glm-code-head button.glm-insert")
    assert insert.inner_text() == "Insert"
    insert.click()
    lab.page.wait_for_function("p => window.__glmt.panel(p).content.widgets.length === 3", arg=lab.path)
    sources = lab.page.evaluate(SOURCES, lab.path)
    assert sources[0] == CHAT and sources[2] == "print('after')"
    assert sources[1].startswith("def answer_write_a_word(text: str) -> int:") and "```" not in sources[1]
    assert insert.inner_text() == "Inserted"
    assert lab.page.evaluate(TRUSTED, lab.path) == [True, True, True]  # a user's cell: trusted
    if lab.name.startswith("nb7"):
        assert lab.page.locator(".jp-NotebookTrustedStatus").inner_text() == "Trusted"
    lab.screenshot("chat-inserted")
