"""The end of a `%%glm` answer must not move what the reader sees (issue 8.2), in real JupyterLab
and Notebook 7 (their notebook layouts differ; the live panes' colours are checked in dark).

A 16-cell notebook, the `%%glm` cell in the middle. The server streams the answer, then stays
silent before its last chunk (`stall` past the last delta), so the whole answer is on screen
while we scroll the notebook to put the end of the answer in view. Then the stream ends and the
live panes are swapped for the final view (`clear_output(wait=True)` + the Reply). A recorder
in the page logs, on every animation frame *and* in a MutationObserver on the output area (the
places where a collapse would show or the browser would clamp the scroll position), the output
area's height and the scroller's `scrollTop`. The height must never decrease across the swap and
`scrollTop` must be the same before and after. The cell must leave exactly one output. While
the stream stalls, every piece of text of the live panes (the status line too) must be readable
on its background.
"""

from __future__ import annotations

import time
from itertools import pairwise

import pytest

from .conftest import in_frontends, unreadable

pytestmark = pytest.mark.browser

FILLER = "\n\n".join(
    f"Paragraph {i} of filler text that makes the notebook tall enough to scroll. " * 3 for i in range(6)
)
GLM_CELL = 8  # index of the %%glm cell

# Records height / scrollTop of cell `index`'s output area on every frame and every DOM change.
JS_RECORD = r"""
(index) => {
  const cells = document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook .jp-Cell');
  const area = cells[index].querySelector('.jp-OutputArea');
  let scroller = area.parentElement;
  while (scroller && !(scroller.scrollHeight > scroller.clientHeight
                       && getComputedStyle(scroller).overflowY !== 'visible')) {
    scroller = scroller.parentElement;
  }
  const g = window.__glmt;
  g.area = area; g.scroller = scroller; g.rec = []; g.recording = true;
  const snap = (src) => g.rec.push({
    t: performance.now(), src,
    h: area.getBoundingClientRect().height,
    top: scroller.scrollTop,
    inner: area.scrollTop,  // Notebook 7 boxes long outputs: the area itself scrolls
    boxed: area.closest('.jp-Cell').classList.contains('jp-mod-outputsScrolled'),
    children: area.querySelectorAll(':scope > .jp-OutputArea-child').length,
    result: !!area.querySelector('.jp-OutputArea-executeResult'),
  });
  new MutationObserver(() => snap('mutation')).observe(
    area, {childList: true, subtree: true, characterData: true, attributes: true});
  const frame = () => { snap('frame'); if (g.recording) requestAnimationFrame(frame); };
  requestAnimationFrame(frame);
  return !!scroller;
}
"""

# Scrolls so that the bottom of the output area sits `margin` px above the viewport's bottom.
JS_SCROLL_TO_END = r"""
(margin) => {
  const g = window.__glmt;
  const area = g.area.getBoundingClientRect(), view = g.scroller.getBoundingClientRect();
  g.scroller.scrollTop += area.bottom - view.bottom + margin;
  const now = g.area.getBoundingClientRect();
  return [g.scroller.scrollTop, now.bottom > view.top + 100 && now.bottom < view.bottom];
}
"""

# Notebook 7 shows an output taller than ~1800 px in a box that scrolls (`jp-mod-outputsScrolled`,
# the output area itself scrolls): the reader scrolls that box to near its end.
JS_READ_INSIDE_THE_BOX = r"""
(margin) => {
  const area = window.__glmt.area;
  if (area.scrollHeight <= area.clientHeight + 1) return null;
  area.scrollTop = area.scrollHeight - area.clientHeight - margin;
  return area.scrollTop;
}
"""


def _notebook(glm_source: str) -> list:
    cells: list = ["%load_ext glm_notebook"]
    cells += [("markdown", f"## Part {i}\n\n{FILLER}") for i in range(1, GLM_CELL)]
    cells.append(glm_source)
    cells += [("markdown", f"## After {i}\n\n{FILLER}") for i in range(GLM_CELL + 1, 16)]
    assert len(cells) == 16
    return cells


def _run_and_watch(lab, glm_source: str, *, margin: int, min_height: float) -> dict:
    path = lab.write_notebook(_notebook(glm_source))
    lab.open(path)
    assert lab.page.evaluate(JS_RECORD, GLM_CELL), "no scrolling element around the notebook"
    lab.run_all()
    # the whole answer is on screen and the server is silent: the stall before the last chunk
    lab.page.wait_for_function(
        "h => { const g = window.__glmt;"
        " return Math.max(g.area.getBoundingClientRect().height, g.area.scrollHeight) >= h"
        " && /no data for/.test(g.area.textContent); }",
        arg=min_height,
        timeout=60_000,
        polling=50,
    )
    # JupyterLab 4 skips the rendering of cells out of view (content-visibility: auto): bring the
    # cell into view first, so that it is laid out for real, then its end.
    lab.page.evaluate("() => window.__glmt.area.closest('.jp-Cell').scrollIntoView({block: 'start'})")
    for _ in range(40):
        time.sleep(0.15)
        top, in_view = lab.page.evaluate(JS_SCROLL_TO_END, margin)
        if in_view and lab.page.evaluate(JS_SCROLL_TO_END, margin) == [top, True]:
            break
    else:
        raise AssertionError("could not bring the end of the answer into view")
    inner = lab.page.evaluate(JS_READ_INSIDE_THE_BOX, 150)
    time.sleep(0.3)
    live = lab.contrast(lab.output(GLM_CELL))
    assert any(r["text"].startswith("receiving…") for r in live), "the status line was not measured"
    bad = unreadable(live)
    assert not bad, f"{lab.kind}-{lab.theme}: live text hard to read on its background: {bad[:8]}"
    lab.screenshot("before-end")
    scrolled_at = lab.page.evaluate("() => performance.now()")
    lab.wait_done(timeout=60)
    time.sleep(1.0)
    lab.screenshot("after-end")
    records = lab.page.evaluate("() => { window.__glmt.recording = false; return window.__glmt.rec; }")
    after_scroll = [r for r in records if r["t"] >= scrolled_at]
    swap = next(i for i, r in enumerate(after_scroll) if r["result"])
    return {"top": top, "inner": inner, "records": after_scroll, "swap": swap, "cells": lab.cells()}


def _check(lab, seen: dict) -> None:
    records, swap = seen["records"], seen["swap"]
    assert swap > 0, "the final view was already there when we scrolled"
    heights = [r["h"] for r in records]
    before = records[swap - 1]
    print(
        f"\nswap at record {swap}/{len(records)}: height {before['h']:.0f} -> "
        f"{records[swap]['h']:.0f} -> {heights[-1]:.0f} px; scrollTop {seen['top']:.0f} -> "
        f"{records[swap]['top']:.0f} -> {records[-1]['top']:.0f}; outputs {before['children']} -> "
        f"{records[-1]['children']}; boxed {before['boxed']} -> {records[-1]['boxed']}, inner scrollTop "
        f"{seen['inner']} -> {sorted({round(r['inner']) for r in records})}"
    )
    tops = sorted({round(r["top"]) for r in records})
    assert tops == [round(seen["top"])], f"the scroll position moved: {tops}"
    drops = [(i, a, b) for i, (a, b) in enumerate(pairwise(heights)) if b < a - 0.5]
    inner = sorted({round(r["inner"]) for r in records})
    boxed = before["boxed"]
    assert records[-1]["boxed"] is boxed, "the output was boxed (or unboxed) by the swap"
    # nor does it grow (the text below each live pane's boundary moving down is a jump as well):
    # at most 1 px per live pane (`.glm-seg`'s padding that keeps it from ever being shorter)
    assert heights[-1] - before["h"] <= before["children"] + 1, (before["h"], heights[-1])
    if not boxed:
        assert not drops, f"the output area shrank (record, before, after): {drops[:10]}"
        assert inner == [0], inner
    _check_saved(lab, seen, records)
    if boxed and (drops or inner != [round(seen["inner"])]):
        # Notebook 7 boxes an output taller than ~1800 px (its scroll-output plugin). Any
        # `clear_output(wait=True)` there (our swap needs one: the Reply must end as the cell's
        # one execute_result) goes through JupyterLab's OutputArea._preventHeightChangeJitter,
        # which reads the layout between removing the old outputs and adding the new one (the
        # box's scrollTop clamps to 0) and sets an inline min-height for 50 ms, which matches
        # Notebook's `.jp-Cell-outputArea[style*="height"] {max-height: unset}` (the box opens
        # to full height for those 50 ms). No output can keep the box's own scroll position.
        pytest.xfail(
            f"Notebook 7 resets the scroll position inside a boxed output on clear_output(wait=True) "
            f"({round(seen['inner'])} -> {inner}) and opens the box for 50 ms (heights {drops[:2]})"
        )


def _check_saved(lab, seen: dict, records: list[dict]) -> None:
    assert seen["cells"][GLM_CELL]["outputs"] == 1, seen["cells"][GLM_CELL]
    assert records[-1]["children"] == 1 and records[-1]["result"]
    lab.save()
    saved = lab.read_notebook().cells[GLM_CELL].outputs
    assert [out.output_type for out in saved] == ["execute_result"]
    assert saved[0].data["text/plain"].startswith("<Reply ")


@in_frontends("lab-light", "nb7-light")
def test_long_answer_end_keeps_the_reader_in_place(app):
    lab = app
    seen = _run_and_watch(
        lab,
        "%%glm\n[[huge=6000,delay=0.002,stall=6,at=100000]] Write a long answer",
        margin=200,
        min_height=1500,
    )
    assert seen["top"] > 1000  # the reader really was far down the notebook
    _check(lab, seen)


@in_frontends("lab-light", "nb7-dark")
def test_short_answer_end_keeps_the_reader_in_place(app):
    lab = app
    seen = _run_and_watch(
        # (no math: MathJax typesets the final view's TeX a moment later, which the switch to
        # MathML rendered in Python removes)
        lab,
        "%%glm\n[[echo,delay=0.01,stall=8,at=100000]] A **short** answer:\n\n- one\n- two\n\nThe end.",
        margin=300,
        min_height=50,
    )
    _check(lab, seen)
