"""A saved notebook opened as someone else's (unsigned), in JupyterLab and Notebook 7, light and
dark: the frontend's sanitiser strips our `<style>` and every `<math>` element, so the answer must
stay correct without them. Math shows its TeX source (never `E=mc2`), code blocks stay framed
and labelled; signed, the same notebook shows typeset MathML and no source."""

from __future__ import annotations

import json

import pytest

from tests.browser.conftest import ARTIFACTS, in_frontends
from tests.refresh_notebooks import ROOT

pytestmark = pytest.mark.browser

JS_MATH_AND_CODE = r"""
(panel) => {
  const shown = (el) => el.getClientRects().length > 0 && getComputedStyle(el).visibility !== 'hidden';
  const replies = [...panel.querySelectorAll('.jp-OutputArea-output .glm-reply')];
  const code = panel.querySelector('.glm-reply .glm-code');
  const head = code && code.querySelector('.glm-code-head');
  const pre = code && code.querySelector('pre');
  return {
    replies: replies.length,
    styles: panel.querySelectorAll('.jp-OutputArea-output style').length,
    mathml: [...panel.querySelectorAll('.glm-reply .glm-mathml')].map(shown),
    sources: [...panel.querySelectorAll('.glm-reply code.glm-tex-alt')].map((c) => [shown(c), c.textContent]),
    text: replies.map((r) => r.innerText).join('\n'),
    frame: code && {style: getComputedStyle(code).borderTopStyle, width: parseFloat(getComputedStyle(code).borderTopWidth),
                    radius: parseFloat(getComputedStyle(code).borderTopLeftRadius)},
    label: head && {text: head.querySelector('.glm-code-lang').innerText.trim(), size: parseFloat(getComputedStyle(head).fontSize),
                    body: parseFloat(getComputedStyle(pre).fontSize), rule: getComputedStyle(head).borderBottomStyle},
  };
}
"""


@in_frontends("lab-light", "lab-dark", "nb7-light", "nb7-dark")
@pytest.mark.parametrize("trusted", [False, True], ids=["unsigned", "signed"])
def test_an_opened_notebook_keeps_math_and_code_readable_signed_or_not(app, trusted):
    notebook = json.loads((ROOT / "notebooks" / "quickstart.ipynb").read_text(encoding="utf-8"))
    notebook["metadata"]["untrusted_test"] = app.name  # content of its own: not signed before
    path = f"{app.name}.ipynb"
    app.server.put_notebook(path, notebook, trusted=trusted)
    app.open(path, wait_kernel=False)
    panel = app.page.locator(".jp-NotebookPanel").first
    panel.locator(".jp-OutputArea-output .glm-reply .glm-code").first.wait_for(
        state="attached", timeout=60_000
    )
    look = app.page.evaluate(JS_MATH_AND_CODE, panel.element_handle())
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    panel.locator(".jp-OutputArea-output .glm-reply").first.screenshot(
        path=str(ARTIFACTS / f"{app.name}-{'signed' if trusted else 'unsigned'}.png")
    )

    assert look["replies"] >= 1
    assert (look["styles"] > 0) is trusted, look["styles"]  # the sanitiser ran on the unsigned one
    assert look["mathml"] and look["sources"]
    if trusted:  # typeset math, no source
        assert all(look["mathml"]) and not any(shown for shown, _ in look["sources"]), look
    else:  # the TeX source, whole; no mangled MathML text
        assert not any(look["mathml"]) and all(shown for shown, _ in look["sources"]), look
        assert "$E = mc^2$" in look["text"] and "$$\\sum_{i=1}^{n} i = \\frac{n(n+1)}{2}$$" in look["text"]
        assert "E=mc2" not in look["text"].replace(" ", "")
    # a framed, labelled code block either way
    assert look["frame"]["style"] == "solid" and look["frame"]["width"] >= 1 and look["frame"]["radius"] >= 4
    assert look["label"]["text"] == "python" and (look["label"]["rule"] == "solid") is trusted
    assert look["label"]["size"] < look["label"]["body"], look["label"]
