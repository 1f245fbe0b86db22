import json

import nbformat
import pytest

pytestmark = pytest.mark.browser


def test_explore(lab):
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    md = nbformat.v4.new_markdown_cell(
        "```python\ndef f(x: int) -> str:\n    return 'a' # c\n```\n\n| Measure | Value |\n|---|---|\n| Words | 5 |\n| Characters | 25 |\n\n$O(n\\log n)$ and $\\sin x$"
    )
    cell = nbformat.v4.new_code_cell("x")
    cell.outputs = [
        nbformat.v4.new_output(
            "display_data",
            data={
                "text/html": "".join(
                    f'<div style="{st}">{i}</div>'
                    for i, st in enumerate(
                        [
                            "margin:.5em 0 .9em",
                            "opacity:.7",
                            "border:1px solid rgba(128,128,128,.35)",
                            "display:block",
                            "display:inline",
                            "display:flex",
                            "overflow-x:auto",
                            "white-space:pre",
                            "border-bottom:1px solid rgba(128,128,128,.35)",
                            "font-size:.75em",
                            "line-height:1.4",
                            "text-align:center",
                            "border-radius:6px",
                            "padding:.65em .9em",
                            "font-family:monospace",
                            "color:#757575",
                            "border:1px solid #8884",
                            "margin:0",
                        ]
                    )
                ),
                "text/plain": "x",
            },
        )
    ]
    nb.cells = [md, cell]
    lab.server.put_notebook("m.ipynb", json.loads(nbformat.writes(nb)), trusted=False)
    lab.path = "m.ipynb"
    lab.page.goto(lab.url_for("m.ipynb"), wait_until="domcontentloaded")
    lab.page.locator(".jp-MarkdownOutput pre").first.wait_for(state="attached", timeout=60000)
    lab.page.wait_for_timeout(3000)
    html = lab.page.evaluate("() => document.querySelector('.jp-MarkdownOutput').innerHTML")
    out = lab.page.evaluate("() => document.querySelector('.jp-OutputArea-output').innerHTML")
    styles = lab.page.evaluate(
        """() => [...document.querySelectorAll('.jp-MarkdownOutput th, .jp-MarkdownOutput td, .jp-MarkdownOutput tr, .jp-MarkdownOutput pre')].map(e => {const s = getComputedStyle(e); return [e.tagName, e.textContent.slice(0,10), s.textAlign, s.borderTop, s.borderBottom, s.backgroundColor, s.padding, s.fontWeight]})"""
    )
    open("/tmp/explore/md.html", "w").write(
        html + "\n\n----OUT----\n" + out + "\n" + json.dumps(styles, indent=0)
    )
    lab.page.screenshot(path="/tmp/explore/md.png")
