"""A `%%glm --map` result as a person reads it in JupyterLab and Notebook 7, light and dark: an
input column beside the answer, text left-aligned and plain (no raw `## …`), the first 20 rows
reachable by scrolling the table, "N more rows" and how to see them, and no progress line left
above the table. Screenshots go to artifacts/browser/."""

from __future__ import annotations

import pytest

from tests.browser.conftest import ARTIFACTS, in_frontends, unreadable

pytestmark = pytest.mark.browser

REVIEWS = [
    f"Order {i}: {'great phone, the battery lasts' if i % 3 else 'the screen cracked in a week'}"
    for i in range(25)
]

JS_MAP = r"""
(root) => {
  const table = root.querySelector('.glm-map table');
  const rows = root.querySelector('.glm-map .glm-map-rows');
  if (!table || !rows) return null;
  const head = [...table.querySelectorAll('thead th')].map((th) => th.textContent);
  const body = [...table.querySelectorAll('tbody tr')];
  const cells = [...table.querySelectorAll('th, td')];
  const aligns = [...new Set(cells.map((c) => getComputedStyle(c).textAlign))];
  // The last row is reachable: scroll the table's box to its end and find the row inside it.
  rows.scrollTop = rows.scrollHeight;
  const box = rows.getBoundingClientRect(), last = body[body.length - 1].getBoundingClientRect();
  const reach = last.top >= box.top - 1 && last.bottom <= box.bottom + 1;
  rows.scrollTop = 0;
  const answers = body.map((tr) => tr.children[2].textContent);
  return {
    head, rows: body.length, aligns, reach,
    inputs: body.map((tr) => tr.children[1].textContent),
    answers,
    answerWidth: body[0].children[2].getBoundingClientRect().width,
    wide: rows.scrollWidth > rows.clientWidth + 1,
    more: [...root.querySelectorAll('.glm-map > p.glm-footer')].map((p) => p.textContent),
    progress: root.querySelectorAll('.glm-progress').length,
    outputs: root.querySelectorAll('.jp-OutputArea-output').length,
  };
}
"""


@in_frontends("lab-light", "lab-dark", "nb7-light", "nb7-dark")
def test_a_map_table_shows_input_and_answer_and_twenty_rows_in_reach(app):
    path = app.write_notebook(
        [
            "%load_ext glm_notebook",
            f"reviews = {REVIEWS!r}",
            "%%glm --map reviews\nClassify the sentiment of: {item}",
        ]
    )
    app.open(path)
    app.run_all_and_wait(timeout=180)
    out = app.output(2)
    look = out.evaluate(JS_MAP)
    assert look, out.inner_html()[:2000]
    assert look["head"] == ["", "input", "answer"], look["head"]
    assert look["rows"] == 20 and look["reach"], look  # 20 rows, the last one reachable by scrolling
    assert set(look["aligns"]) <= {"left", "start"}, look["aligns"]
    # which review gave which answer: the part of each prompt that differs from the others
    assert all(
        review.endswith(given) and len(given) > 20
        for review, given in zip(REVIEWS[:20], look["inputs"], strict=True)
    ), look["inputs"][:3]
    assert all(answer and not answer.lstrip().startswith("#") for answer in look["answers"]), look["answers"][
        :3
    ]
    assert look["answerWidth"] > 300 and not look["wide"], look  # readable, no sideways scroll at 1400 px
    assert any("5 more rows" in line and "to_pandas()" in line for line in look["more"]), look["more"]
    assert look["progress"] == 0 and look["outputs"] == 1, look  # the result replaced the progress line
    bad = unreadable(app.contrast(out))
    assert not bad, f"{app.name}: text hard to read: {bad[:8]}"
    app.shot(out, ARTIFACTS / f"{app.name}-map-table.png")
