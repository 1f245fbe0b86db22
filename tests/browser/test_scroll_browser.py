"""The end of a `%%glm` answer must not move what the reader sees (issue 8.2), in real JupyterLab.

A 16-cell notebook, the `%%glm` cell in the middle. The server streams the answer, then stays
silent before its last chunk (`stall` past the last delta), so the whole answer is on screen
while we scroll the notebook to put the end of the answer in view. Then the stream ends and the
live panes are swapped for the final view (`clear_output(wait=True)` + the Reply). A recorder
in the page logs, on every animation frame *and* in a MutationObserver on the output area (the
places where a collapse would show or the browser would clamp the scroll position), the output
area's height and the scroller's `scrollTop`. The height must never decrease across the swap and
`scrollTop` must be the same before and after. The cell must leave exactly one output.
"""

from __future__ import annotations

import time

import pytest

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
        "h => { const g = window.__glmt; return g.area.getBoundingClientRect().height >= h"
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
    time.sleep(0.3)
    lab.screenshot("before-end")
    scrolled_at = lab.page.evaluate("() => performance.now()")
    lab.wait_done(timeout=60)
    time.sleep(1.0)
    lab.screenshot("after-end")
    records = lab.page.evaluate("() => { window.__glmt.recording = false; return window.__glmt.rec; }")
    after_scroll = [r for r in records if r["t"] >= scrolled_at]
    swap = next(i for i, r in enumerate(after_scroll) if r["result"])
    return {"top": top, "records": after_scroll, "swap": swap, "cells": lab.cells()}


def _check(lab, seen: dict) -> None:
    records, swap = seen["records"], seen["swap"]
    assert swap > 0, "the final view was already there when we scrolled"
    heights = [r["h"] for r in records]
    before = records[swap - 1]
    print(
        f"\nswap at record {swap}/{len(records)}: height {before['h']:.0f} -> "
        f"{records[swap]['h']:.0f} -> {heights[-1]:.0f} px; scrollTop {seen['top']:.0f} -> "
        f"{records[swap]['top']:.0f} -> {records[-1]['top']:.0f}; outputs {before['children']} -> "
        f"{records[-1]['children']}"
    )
    drops = [(i, a, b) for i, (a, b) in enumerate(zip(heights, heights[1:])) if b < a - 0.5]
    assert not drops, f"the output area shrank (record, before, after): {drops[:10]}"
    # nor does it grow much (content above the reader moving down would be a jump as well)
    assert heights[-1] - before["h"] <= 0.01 * before["h"] + 10, (before["h"], heights[-1])
    tops = sorted({round(r["top"]) for r in records})
    assert tops == [round(seen["top"])], f"the scroll position moved: {tops}"
    assert seen["cells"][GLM_CELL]["outputs"] == 1, seen["cells"][GLM_CELL]
    assert records[-1]["children"] == 1 and records[-1]["result"]
    lab.save()
    saved = lab.read_notebook().cells[GLM_CELL].outputs
    assert [out.output_type for out in saved] == ["execute_result"]
    assert saved[0].data["text/plain"].startswith("<Reply ")


def test_long_answer_end_keeps_the_reader_in_place(lab):
    seen = _run_and_watch(
        lab, "%%glm\n[[huge=6000,delay=0.002,stall=6,at=100000]] Write a long answer",
        margin=200, min_height=1500,
    )
    _check(lab, seen)
    assert seen["top"] > 1000  # the reader really was far down the notebook


def test_short_answer_end_keeps_the_reader_in_place(lab):
    seen = _run_and_watch(
        # (no math: MathJax typesets the final view's TeX a moment later, which the switch to
        # MathML rendered in Python removes)
        lab, "%%glm\n[[echo,delay=0.01,stall=8,at=100000]] A **short** answer:\n\n- one\n- two\n\nThe end.",
        margin=300, min_height=50,
    )
    _check(lab, seen)
