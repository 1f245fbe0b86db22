"""What Z.ai's own features look like in JupyterLab and Notebook 7, light and dark: a web search
answer's citations as numbered links and its Sources list (live, and in the saved example
notebook), and a tool call forming in view before it runs. Screenshots go to artifacts/browser/."""

from __future__ import annotations

import json

import pytest

from tests.browser.conftest import ARTIFACTS, in_frontends, unreadable
from tests.refresh_notebooks import ROOT

pytestmark = pytest.mark.browser

JS_SOURCES = r"""
(root) => {
  const shown = (el) => el.getClientRects().length > 0 && getComputedStyle(el).visibility !== 'hidden';
  const cites = [...root.querySelectorAll('.glm-reply sup.glm-cite a')];
  const items = [...root.querySelectorAll('.glm-reply .glm-sources li')];
  return {
    cites: cites.map((a) => ({text: a.textContent, href: a.href, target: a.target, rel: a.rel, shown: shown(a),
                              raised: getComputedStyle(a.parentElement).verticalAlign})),
    items: items.map((li) => ({text: li.innerText, shown: shown(li),
                               link: (li.querySelector('a') || {}).href || '', bullet: getComputedStyle(li).listStyleType})),
    raw: root.innerText.includes('[ref_'),
  };
}
"""


def _check_sources(look: dict, name: str) -> None:
    assert len(look["cites"]) >= 3 and len(look["items"]) >= 3, look
    for cite in look["cites"]:
        assert cite["text"].startswith("[") and cite["shown"], cite
        assert cite["href"].startswith("https://") and cite["target"] == "_blank", cite
        assert "noopener" in cite["rel"].split(), cite  # Lab sets its own rel; ours also says noreferrer
        assert cite["raised"] == "super", cite
    for item in look["items"]:
        assert item["shown"] and item["text"].startswith("[") and " · 2026-" in item["text"], item
        assert item["link"].startswith("https://"), item
    assert not look["raw"], f"{name}: a [ref_N] marker was left as text"


@in_frontends("lab-light", "lab-dark", "nb7-light", "nb7-dark")
def test_the_saved_web_search_notebook_shows_linked_citations_and_sources(app):
    notebook = json.loads((ROOT / "notebooks" / "web_search.ipynb").read_text(encoding="utf-8"))
    path = f"web-{app.name}.ipynb"
    app.server.put_notebook(path, notebook, trusted=True)
    app.open(path, wait_kernel=False)
    panel = app.page.locator(".jp-NotebookPanel").first
    reply = panel.locator(".jp-OutputArea-output .glm-reply").first
    reply.locator(".glm-sources").wait_for(state="visible", timeout=60_000)
    _check_sources(app.page.evaluate(JS_SOURCES, reply.element_handle()), app.name)
    bad = unreadable(app.contrast(reply))
    assert not bad, f"{app.name}: text hard to read: {bad[:8]}"
    app.shot(reply, ARTIFACTS / f"{app.name}-web-sources.png")


@in_frontends("lab-light")
def test_a_live_web_search_cell_links_its_citations(app):
    path = app.write_notebook(
        ["%load_ext glm_notebook", "%%glm --web\nWhat changed in pandas 3.0? [[delay=0.02]]"]
    )
    app.open(path)
    app.run_all_and_wait()
    out = app.output(1)
    _check_sources(app.page.evaluate(JS_SOURCES, out.element_handle()), app.name)


PROMPT = 'What is the weather in "Florence"? [[delay=0.25]]'
TOOL = '''def weather(location: str) -> str:
    """Current weather. location: the city"""
    return f"18 °C, clear in {location}"'''


# Records every text a forming (pending) tool call shows, however briefly: reading it with a
# locator after the fact races the call finishing, which a loaded CI machine loses.
JS_WATCH_FORMING = r"""
() => {
  window.__glmForming = [];
  const seen = window.__glmForming;
  const look = () => {
    for (const el of document.querySelectorAll('details.glm-tool.glm-tool-pending')) {
      const text = el.innerText;
      if (text && seen[seen.length - 1] !== text) seen.push(text);
    }
  };
  new MutationObserver(look).observe(document.body, {subtree: true, childList: true, characterData: true});
}
"""


@in_frontends("lab-light", "nb7-dark")
def test_a_tool_call_forms_in_view_before_it_runs(app):
    path = app.write_notebook(["%load_ext glm_notebook", TOOL, f"%%glm --tools weather\n{PROMPT}"])
    app.open(path)
    app.page.evaluate(JS_WATCH_FORMING)
    app.run_all()
    out = app.output(2)
    forming = out.locator("details.glm-tool.glm-tool-pending")
    forming.first.wait_for(state="visible", timeout=60_000)
    shot = False
    while not shot and forming.count():
        texts = app.page.evaluate("window.__glmForming")
        if any('location="' in t for t in texts):
            app.shot(app.cell(2), ARTIFACTS / f"{app.name}-tool-forming.png")
            shot = True
        app.page.wait_for_timeout(50)
    app.wait_done(timeout=60)
    seen = app.page.evaluate("window.__glmForming")
    assert seen and seen[0].startswith("weather("), seen
    assert any('location="Florence"' in text for text in seen), seen  # the argument, readable
    assert out.locator("details.glm-tool.glm-tool-ok").count() == 1
    app.shot(app.cell(2), ARTIFACTS / f"{app.name}-tool-formed.png")
