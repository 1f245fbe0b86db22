"""The harness itself: each front end starts in its theme and runs cells in the venv's kernel;
the layout recorder, the beacon and the page's request recorder see what they should."""

from __future__ import annotations

import os
import sys
import time
import urllib.request

import pytest

pytestmark = pytest.mark.browser


def test_lab_runs_a_cell_in_the_venv_kernel(lab):
    path = lab.write_notebook(
        [
            "print(1)",
            "import os, sys; print(sys.executable); print(os.environ.get('ZAI_BASE_URL'))",
        ]
    )
    lab.open(path)
    lab.run_all_and_wait(timeout=60)
    assert lab.output_text(0).strip() == "1"
    executable, base_url = lab.output_text(1).strip().splitlines()
    assert os.path.realpath(executable) == os.path.realpath(sys.executable)
    assert base_url.startswith("http://127.0.0.1:")


# -- every front end ------------------------------------------------------------------------------

LOW_CONTRAST = (
    "from IPython.display import HTML\n"
    'HTML(\'<p class="grey" style="color:#444">grey text</p><p class="plain">plain text</p>\'\n'
    '     \'<div style="opacity:.25"><p class="faded">faded text</p></div>\')'
)


# Both kinds and both themes in two runs (test_frontends checks the theme of all four).
@pytest.mark.parametrize(
    "frontend", [("lab", "light"), ("nb7", "dark")], indirect=True, ids=["lab-light", "nb7-dark"]
)
def test_front_end_theme_kernel_scroller_and_layout_recorder(app):
    """The variant is what it claims, the layout recorder sees an output grow and the notebook
    scroll, and the contrast reader tells grey-on-black from readable text."""
    growing = "import time\nfor i in range(6):\n    print(f'line {i}', flush=True)\n    time.sleep(0.15)"
    path = app.write_notebook([growing, LOW_CONTRAST, "print('\\n'.join(map(str, range(80))))"])
    app.open(path)
    theme = app.theme_info()
    assert theme["light"] is (app.theme == "light"), theme
    luminance = sum(theme["layoutRGB"][:3]) / 765
    assert (luminance > 0.9) if app.theme == "light" else (luminance < 0.15), theme
    page_url = app.page.url
    assert ("/notebooks/" in page_url) if app.kind == "nb7" else ("/lab/tree/" in page_url), page_url

    scroller = app.scroller()
    assert scroller.count() == 1, "the notebook's scroller (.jp-WindowedPanel-outer) is missing"
    app.record_layout(app.output(0))
    app.run_all_and_wait(timeout=60)
    rows = app.layout()
    heights = [r["height"] for r in rows if r["connected"]]
    print(
        f"\n{app.kind}-{app.theme}: {len(rows)} layout rows over {app.layout_frames} frames; heights {heights}"
    )
    assert app.layout_frames > 10, "the recorder saw almost no animation frames"
    assert {"start", "frame", "mutation"} <= {r["src"] for r in rows}, rows
    assert max(heights) > heights[0], f"the recorder did not see the output grow: {heights}"
    assert len(set(heights)) >= 3, f"the output grew in fewer than 2 steps: {heights}"
    app.show_cell(0)
    assert app.output_text(0).split() == [w for i in range(6) for w in ("line", str(i))]
    toolbar = ".jp-NotebookPanel-toolbar [data-command='notebook:interrupt-kernel']"
    assert app.page.locator(toolbar).count() == 1, (
        "no interrupt button where Lab.interrupt_from_toolbar looks"
    )

    ratios = {r["cls"]: r["ratio"] for r in app.contrast(app.output(1), "p")}
    print(f"contrast: {ratios}")
    assert ratios["plain"] >= 4.5, ratios
    assert ratios["faded"] < 2.5, ratios
    assert (ratios["grey"] > 7) if app.theme == "light" else (ratios["grey"] < 2.5), ratios

    app.record_layout(app.output(2), name="scroll")
    app.page.evaluate("p => { window.__glmt.scroller(p).scrollTop = 240; }", app.path)
    app.page.wait_for_timeout(200)
    rows = app.layout("scroll")
    assert [r for r in rows if r["src"] == "scroll"], f"no scroll event recorded: {rows}"
    assert rows[-1]["scrollTop"] == app.scroll_top() == 240, rows[-1]
    assert rows[-1]["scrollHeight"] > 1000, rows[-1]


# -- security helpers -----------------------------------------------------------------------------


def test_beacon_and_page_request_recorder(lab, beacon):
    path = lab.write_notebook(["print('quiet')"])
    lab.open(path)
    lab.run_all_and_wait(timeout=60)
    assert lab.foreign_requests() == [], "JupyterLab itself contacted a foreign address"
    assert beacon.hits == []

    lab.page.evaluate(
        "url => { const img = new Image(); img.src = url + '/img?x=1'; document.body.append(img);"
        " return fetch(url + '/fetch', {method: 'POST', body: 'hi'}).then(r => r.status); }",
        beacon.url,
    )
    deadline = time.monotonic() + 10
    while len(beacon.hits) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    paths = sorted((h.method, h.path) for h in beacon.hits)
    assert ("GET", "/img?x=1") in paths and ("POST", "/fetch") in paths, paths
    seen = {(r.method, r.url) for r in lab.foreign_requests()}
    assert ("GET", f"{beacon.url}/img?x=1") in seen and ("POST", f"{beacon.url}/fetch") in seen, seen

    beacon.stop()
    with pytest.raises(OSError):
        urllib.request.urlopen(beacon.url + "/after", timeout=2)
