"""Reopening a saved notebook with a 1 MB `%%glm` answer (issue 13), in real JupyterLab.

The notebook is executed once per module with nbclient against the local server (`[[huge=N]]`:
N characters of varied Markdown), then saved into JupyterLab's root through the contents API the
way JupyterLab saves it: signed (the user's own notebook; its HTML is rendered as is) or not (a
notebook from someone else; JupyterLab sanitises its HTML). Opened in a fresh page, the cell must
show exactly one output, the clipped final view with its "… N characters … not shown" note, and
the end of the answer and the footer, reachable by scrolling the notebook; no element may cut
content off with `overflow: hidden`, and the tab must not crash. How long the reopening takes is
measured by `benchmarks/bench_reopen.py`, not asserted here.
"""

from __future__ import annotations

import json
import re

import nbformat
import pytest

from glm_notebook.server.answers import huge_markdown

from ..refresh_notebooks import huge_answer_notebook

pytestmark = pytest.mark.browser

SIZE = 1_000_000
OPEN_TIMEOUT = 180_000  # ms: generous, the machine may be busy (the time is measured elsewhere)

# Elements in the output area, and its ancestors up to the notebook's scroller, whose content
# overflows a box that neither shows nor scrolls it (`overflow: hidden` / `clip`).
JS_CUT_OFF = r"""
(area) => {
  const cut = [];
  const scroller = area.closest('.jp-WindowedPanel-outer');
  const check = (el) => {
    const s = getComputedStyle(el);
    const hides = (v) => v === 'hidden' || v === 'clip';
    const y = hides(s.overflowY) && el.scrollHeight > el.clientHeight + 2;
    const x = hides(s.overflowX) && el.scrollWidth > el.clientWidth + 2;
    if (y || x) cut.push({tag: el.tagName.toLowerCase(), cls: el.getAttribute('class') || '',
                          axis: (y ? 'y' : '') + (x ? 'x' : ''),
                          scroll: [el.scrollWidth, el.scrollHeight], client: [el.clientWidth, el.clientHeight]});
  };
  area.querySelectorAll('*').forEach(check);
  for (let n = area; n && n !== scroller; n = n.parentElement) check(n);
  return cut;
}
"""

# Where `el` is, relative to the notebook's scroller's visible box.
JS_IN_VIEW = r"""
(el) => {
  const view = el.closest('.jp-WindowedPanel-outer').getBoundingClientRect();
  const r = el.getBoundingClientRect();
  return {inView: r.height > 0 && r.top >= view.top - 1 && r.bottom <= view.bottom + 1,
          top: r.top - view.top, bottom: view.bottom - r.bottom};
}
"""


@pytest.fixture(scope="module")
def megabyte_notebook(glm_endpoint, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The notebook of a 1 MB answer, executed once with this checkout (a dict, as saved)."""
    path = tmp_path_factory.mktemp("reopen") / "megabyte.ipynb"
    done = huge_answer_notebook(path, SIZE, base_url=glm_endpoint.base_url, api_key=glm_endpoint.api_key)
    assert [o.output_type for o in done.cells[1].outputs] == ["execute_result"]
    return json.loads(nbformat.writes(done))


@pytest.mark.parametrize("trusted", [True, False], ids=["signed", "unsigned"])
def test_reopening_a_megabyte_answer_shows_the_clipped_view_and_its_end(lab, megabyte_notebook, trusted):
    crashes: list[object] = []
    lab.page.on("crash", lambda page: crashes.append(page))
    path = f"{lab.name}.ipynb"
    # (content of its own: the server trusts any notebook whose content it signed before)
    notebook = dict(megabyte_notebook, metadata=dict(megabyte_notebook["metadata"], reopen_test=lab.name))
    lab.server.put_notebook(path, notebook, trusted=trusted)
    saved = lab.server.api("GET", f"/api/contents/{path}", timeout=60)
    assert saved["content"]["cells"][1]["metadata"].get("trusted") is trusted  # signed or not
    # (not `lab.open`: its short waits assume a page that is not busy rendering a megabyte)
    lab.path = path
    lab.page.goto(lab.url_for(path), wait_until="domcontentloaded")
    lab.page.locator(".jp-NotebookPanel .glm-reply").wait_for(state="attached", timeout=OPEN_TIMEOUT)
    lab.wait_kernel_idle(timeout=OPEN_TIMEOUT / 1000)

    cells = lab.cells()
    assert [c["outputs"] for c in cells] == [0, 1], cells
    area = lab.output(1)
    assert area.locator(":scope > .jp-OutputArea-child").count() == 1
    reply = area.locator(".glm-reply")
    assert reply.count() == 1

    # the note says how much is left out, and is on screen once scrolled to
    note = reply.locator(".glm-clipped").first
    note.scroll_into_view_if_needed()
    assert note.is_visible() and lab.page.evaluate(JS_IN_VIEW, note.element_handle())["inView"]
    shown = re.search(r"… ([\d,]+) characters of the answer not shown", note.inner_text())
    assert shown, note.inner_text()
    assert 750_000 <= int(shown.group(1).replace(",", "")) <= SIZE

    # scrolling the notebook to its bottom brings the end of the answer and the footer into view
    last = re.findall(r"^## (Section \d+)$", huge_markdown(SIZE), re.M)[-1]
    heading = reply.locator("h2", has_text=re.compile(rf"^{last}(?!\d)"))
    assert heading.count() == 1, f"the answer's last heading {last!r} is not in the view"
    to_bottom = "p => { const s = window.__glmt.scroller(p); s.scrollTop = s.scrollHeight; }"
    lab.page.evaluate(to_bottom, lab.path)
    lab.page.wait_for_timeout(500)  # JupyterLab lays out (and may window) after a scroll
    lab.page.evaluate(to_bottom, lab.path)
    footer = reply.locator(".glm-footer")
    footer.wait_for(state="visible")
    # at the bottom (JupyterLab scrolls past the end) the footer is not below the view ...
    assert lab.page.evaluate(JS_IN_VIEW, footer.element_handle())["bottom"] >= 0
    # ... and scrolled to, the last heading and the footer are both in view
    footer.scroll_into_view_if_needed()
    for element in (footer, heading):
        where = lab.page.evaluate(JS_IN_VIEW, element.element_handle())
        assert where["inView"], (element, where)
    assert heading.is_visible()
    # too many headings for an outline: JupyterLab's table of contents skips them all
    assert reply.locator("h2:not(.jp-toc-ignore)").count() == 0 and reply.locator("h2").count() > 1000
    lab.screenshot("end")

    cut = lab.page.evaluate(JS_CUT_OFF, area.element_handle())
    assert not cut, f"content cut off by overflow: {cut[:10]}"
    assert not crashes and lab.page.evaluate("() => 1 + 1") == 2
