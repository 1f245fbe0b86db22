"""How a rendered answer looks in real JupyterLab, and that model text can neither style the page
nor make the browser fetch anything. Asserted from the DOM and computed styles.

The local server's `[[echo]]` directive makes the answer exactly the Markdown of the cell.
"""

from __future__ import annotations

import http.server
import re
import threading
import time
from collections.abc import Iterator

import pytest

from glm_notebook.results.reply import Reply
from glm_notebook.wire.events import ContentDelta
from tests.browser.conftest import ARTIFACTS

pytestmark = pytest.mark.browser

LOAD = "%load_ext glm_notebook"
LONG_LINE = "x = " + " + ".join(f"value_{i}" for i in range(60))

RICH = f"""## Four languages

```python
def area(r: float) -> float:
    # circle
    return 3.14159 * r ** 2
{LONG_LINE}
```

```js
const xs = [1, 2, 3].map((x) => x * 2); // doubled
```

```bash
for f in *.txt; do echo "$f"; done
```

```sql
SELECT name, COUNT(*) FROM users WHERE age > 30 GROUP BY name;
```

Energy is $E = mc^2$, and it costs $5 and $10 to print.

$$\\sum_{{i=1}}^n i$$

See [the docs](https://example.com/docs) for more.

Steps:

- first
- second

That is all.

| Name | Score |
|------|------:|
| Ada  | 3     |
| Bob  | 12    |

> A quote worth keeping.

- [ ] write tests
- [x] render Markdown
"""


# -- a loopback beacon: any request to it is a leak ----------------------------------------------


class _Beacon(http.server.BaseHTTPRequestHandler):
    hits: list[str] = []

    def do_GET(self) -> None:
        type(self).hits.append(self.path)
        self.send_response(204)
        self.end_headers()

    do_POST = do_GET

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def beacon() -> Iterator[tuple[str, list[str]]]:
    """`(base URL, requests seen)` of an HTTP server on 127.0.0.1 that records every request."""
    handler = type("Beacon", (_Beacon,), {"hits": []})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", handler.hits
    finally:
        server.shutdown()
        server.server_close()


def hostile_tex(url: str) -> list[str]:
    """Formulas that MathJax would turn into CSS, links, boxes or fetches."""
    return [
        f"\\unicode[x;position:fixed;top:0;left:0;width:100%;height:100%;background:url({url}/unicode)]{{x41}}",
        f'\\mmlToken{{mi}}[fontfamily="x;background-image:url({url}/leak)"]{{x}}',
        f"\\style{{position:fixed;top:0;background:url({url}/style)}}{{x}}",
        "\\class{jp-Dialog}{x}",
        "\\cssId{jp-main-dock-panel}{x}",
        f"\\href{{{url}/href}}{{x}}",
        f"\\url{{{url}/url}}",
        f"\\require{{{url}/require.js}}",
        "\\html{x}",
        "\\data{x}",
        "\\rule{1000em}{5em}",
        "\\color{red}{x}",
        "\\colorbox{red}{x}",
        "\\mathchoice{a}{b}{c}{d}",
        "\\def\\x{y} \\x",
        "\\newcommand{\\x}{y}",
        "\\let\\x=y",
        "\\begin{picture}x\\end{picture}",
    ]


# -- reading computed styles ---------------------------------------------------------------------

JS_LOOK = r"""
(area) => {
  const cs = (el) => getComputedStyle(el);
  const box = (el) => { const r = el.getBoundingClientRect(); return {w: r.width, h: r.height}; };
  const blocks = [...area.querySelectorAll('.glm-reply .glm-code')].map((b) => {
    const pre = b.querySelector('pre.glm-highlight');
    const code = pre.querySelector('code');
    const toks = [...pre.querySelectorAll('[class^="glm-tok-"]')];
    const kw = pre.querySelector('[class^="glm-tok-k"], .glm-tok-nb');
    return {
      lang: b.dataset.lang,
      label: b.querySelector('.glm-code-head .glm-code-lang').textContent,
      tokens: toks.length,
      plain: cs(code).color,
      colours: [...new Set(toks.map((t) => cs(t).color))],
      keyword: kw ? cs(kw).color : null,
      overflowX: cs(pre).overflowX,
      whiteSpace: cs(pre).whiteSpace,
      scrollWidth: pre.scrollWidth,
      clientWidth: pre.clientWidth,
      background: cs(b).backgroundColor,
      lines: code.textContent.split('\n').length,
      height: box(pre).h,
      lineHeight: parseFloat(cs(pre).lineHeight),
    };
  });
  const link = area.querySelector('.glm-reply a[href^="https://example.com"]');
  const cell = (el) => el && (({textAlign: align, borderTopStyle, borderBottomStyle, paddingTop, paddingLeft, fontWeight,
                                  backgroundColor}) => ({textAlign: align.replace('-webkit-', ''), borderTopStyle, borderBottomStyle, paddingTop,
                                  paddingLeft, fontWeight, backgroundColor}))(cs(el));
  const mdTable = document.querySelector('.jp-MarkdownOutput table') || area.querySelector('.glm-reply table');
  const table = area.querySelector('.glm-reply table');
  const th = table.querySelector('th');
  const quote = area.querySelector('.glm-reply blockquote');
  const p = area.querySelector('.glm-reply .glm-md p');  // the first paragraph, whichever pane
  return {
    blocks,
    maths: [...area.querySelectorAll('.glm-reply math')].map((m) => ({
      display: m.getAttribute('display'), ...box(m), attrs: m.getAttributeNames(),
      inMathSpan: !!m.closest('.glm-math'),
    })),
    mathjax: area.querySelectorAll('mjx-container, .MathJax').length,
    link: link && {target: link.target, rel: link.rel, colour: cs(link).color, text: cs(p).color},
    th: [...table.querySelectorAll('th')].map(cell), md_th: [...mdTable.querySelectorAll('th')].map(cell),
    td: [...table.querySelectorAll('td')].map(cell), md_td: [...mdTable.querySelectorAll('td')].map(cell),
    rows: [...table.querySelectorAll('tr')].map((r) => cs(r).backgroundColor),
    md_rows: [...mdTable.querySelectorAll('tr')].map((r) => cs(r).backgroundColor),
    thead: cs(table.querySelector('thead')).borderBottomStyle, md_thead: cs(mdTable.querySelector('thead')).borderBottomStyle,
    quote: quote && {border: cs(quote).borderLeftStyle, width: parseFloat(cs(quote).borderLeftWidth)},
    boxes: [...area.querySelectorAll('.glm-reply li.glm-task > input, .glm-reply li.glm-task > p > input')].map(
      (i) => ({type: i.type, disabled: i.disabled, checked: i.checked})),
    lineHeight: parseFloat(cs(p).lineHeight) / parseFloat(cs(p).fontSize),
    styled: area.querySelectorAll('style.glm-style').length,
  };
}
"""


# The vertical rhythm of a paragraph, a list and the paragraph after it, as laid out.
JS_SPACING = r"""
(root) => {
  const cs = (el) => getComputedStyle(el);
  const p = [...root.querySelectorAll('p')].find((el) => el.textContent === 'Steps:');
  const ul = p.nextElementSibling, items = [...ul.children];
  const after = [...root.querySelectorAll('p')].find((el) => el.textContent === 'That is all.');
  const r = (el) => el.getBoundingClientRect();
  const pick = (el) => (({marginTop, marginBottom, paddingLeft, lineHeight, fontSize}) =>
                        ({marginTop, marginBottom, paddingLeft, lineHeight, fontSize}))(cs(el));
  return {
    p: pick(p), ul: pick(ul), li: items.map(pick),
    gaps: [r(ul).top - r(p).bottom, r(items[1]).top - r(items[0]).bottom, r(after).top - r(ul).bottom]
          .map((g) => Math.round(g * 10) / 10),
  };
}
"""


def luminance(colour: str) -> float:
    """Relative lightness 0..1 of a computed `rgb(…)` / `rgba(…)` colour."""
    r, g, b = (float(v) for v in re.findall(r"[\d.]+", colour)[:3])
    return (0.2126 * r + 0.7152 * g + 0.0722 * b) / 255


def shoot(locator, stem: str) -> None:
    """A screenshot of one element (the whole answer, however tall) into artifacts/browser/."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    locator.screenshot(path=str(ARTIFACTS / f"{stem}.png"))


JS_POSITIONED = r"""
(area) => [...area.querySelectorAll('.glm-reply *, .glm-md *')]
  .filter((el) => ['fixed', 'absolute', 'sticky'].includes(getComputedStyle(el).position))
  .map((el) => el.outerHTML.slice(0, 200))
"""


def test_rich_answer_looks_like_jupyterlab_markdown(lab):
    table = (
        "Steps:\n\n- first\n- second\n\nThat is all.\n\n"
        + RICH[RICH.index("| Name") : RICH.index("> A quote")]
    )
    path = lab.write_notebook(
        [LOAD, "%%glm --no-interpolate --no-thinking\n[[echo]]\n" + RICH, ("markdown", table)]
    )
    lab.open(path)
    lab.run_all_and_wait(timeout=90)
    area = lab.output(1)
    area.locator(".glm-reply").wait_for()
    shoot(area.locator(".glm-reply"), lab.name + "-answer")
    look = lab.page.evaluate(JS_LOOK, area.element_handle())

    assert look["styled"] >= 1, "the final view carries no glm stylesheet"
    blocks = look["blocks"]
    assert [b["lang"] for b in blocks] == ["python", "js", "bash", "sql"], blocks
    assert [b["label"] for b in blocks] == ["python", "js", "bash", "sql"]
    for block in blocks:
        assert block["tokens"] >= 3, f"{block['lang']}: no highlighted tokens"
        assert block["keyword"] and block["keyword"] != block["plain"], (
            f"{block['lang']}: keywords are not coloured ({block})"
        )
        assert len(block["colours"]) >= 2, f"{block['lang']}: one colour only: {block['colours']}"
        assert block["overflowX"] == "auto" and block["whiteSpace"] == "pre", block
        assert block["background"] not in ("rgba(0, 0, 0, 0)", "transparent"), block
        # each line is one line tall: nothing wraps
        assert block["height"] < (block["lines"] + 2) * block["lineHeight"], block
    python = blocks[0]
    assert python["scrollWidth"] > python["clientWidth"], "the long line wraps instead of scrolling"

    # every code block has a Copy button a person can hit; it copies the block and says so
    buttons = area.locator(".glm-reply .glm-code .glm-code-head button.glm-copy")
    assert buttons.count() == 4 and all(buttons.nth(i).is_visible() for i in range(4))
    heights = {round(buttons.nth(i).bounding_box()["height"]) for i in range(4)}
    assert min(heights) >= 24 and len(heights) == 1, heights  # alike, and tall enough
    lab.page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=lab.server.url)
    buttons.nth(1).click()
    lab.page.wait_for_function(
        "b => b.textContent === 'Copied'", arg=buttons.nth(1).element_handle(), timeout=5000
    )
    copied = lab.page.evaluate("() => navigator.clipboard.readText()")
    assert copied == "const xs = [1, 2, 3].map((x) => x * 2); // doubled", copied

    maths = look["maths"]
    assert len(maths) == 2, maths
    assert [m["display"] for m in maths] == ["inline", "block"]
    for m in maths:
        assert m["w"] > 5 and m["h"] > 5, f"MathML not laid out: {m}"
        assert m["inMathSpan"] and set(m["attrs"]) <= {"display"}, m
    assert look["mathjax"] == 0, "MathJax typeset something we emitted"
    text = area.inner_text()
    assert "$5 and $10" in text, "money was read as math"

    # We emit rel="noopener noreferrer"; JupyterLab's link handling rewrites rel to "noopener".
    assert look["link"]["target"] == "_blank" and "noopener" in look["link"]["rel"].split()
    assert look["link"]["colour"] != look["link"]["text"], "links look like plain text"
    assert look["th"] == look["md_th"], (look["th"], look["md_th"])  # JupyterLab's own table
    assert look["td"] == look["md_td"] and look["rows"] == look["md_rows"], look
    assert look["thead"] == look["md_thead"] == "solid"  # a rule under the header, no grid
    # paragraphs and lists are spaced as in a Markdown cell of the same page
    ours = lab.page.evaluate(JS_SPACING, area.locator(".glm-reply").element_handle())
    theirs = lab.page.evaluate(JS_SPACING, lab.page.locator(".jp-MarkdownOutput").last.element_handle())
    print("spacing", ours, theirs)
    assert ours == theirs, (ours, theirs)
    assert look["quote"]["border"] == "solid" and look["quote"]["width"] >= 2, look["quote"]
    assert look["boxes"] == [
        {"type": "checkbox", "disabled": True, "checked": False},
        {"type": "checkbox", "disabled": True, "checked": True},
    ]
    assert 1.3 <= look["lineHeight"] <= 1.7, f"line height {look['lineHeight']:.2f} of the font size"

    # The same output in JupyterLab Dark: colours follow the theme's variables.
    lab.command("apputils:change-theme", {"theme": "JupyterLab Dark"})
    try:
        lab.page.wait_for_function("() => document.body.dataset.jpThemeLight === 'false'", timeout=20_000)
        time.sleep(0.5)
        shoot(area.locator(".glm-reply"), lab.name + "-answer-dark")
        dark = lab.page.evaluate(JS_LOOK, area.element_handle())
    finally:
        lab.command("apputils:change-theme", {"theme": "JupyterLab Light"})
    for light_block, dark_block in zip(blocks, dark["blocks"], strict=True):
        assert luminance(dark_block["background"]) < 0.2 < luminance(light_block["background"])
        assert dark_block["keyword"] != light_block["keyword"]
        assert luminance(dark_block["plain"]) > 0.6, dark_block
    assert luminance(dark["link"]["colour"]) > 0.3, dark["link"]


def test_tex_and_markdown_cannot_style_the_page_or_fetch(lab, beacon):
    url, hits = beacon
    seen: list[str] = []
    lab.page.on("request", lambda request: seen.append(request.url) if url in request.url else None)
    formulas = hostile_tex(url)
    answer = "\n\n".join(
        [f"Inline ${formulas[0]}$ and \\({formulas[1]}\\)."]
        + [f"$${tex}$$" for tex in formulas[2:]]
        + [f"![pixel]({url}/image.png)", f"$E = mc^2$ stays math, [a link]({url}/link) stays a link."]
    )
    path = lab.write_notebook([LOAD, "%%glm --no-interpolate --no-thinking\n[[echo]]\n" + answer])
    lab.open(path)
    lab.run_all_and_wait(timeout=90)
    area = lab.output(1)
    area.locator(".glm-reply").wait_for()
    time.sleep(1.5)  # anything lazy (fonts, images, MathJax) would have fired by now
    shoot(area.locator(".glm-reply"), lab.name + "-answer")

    def check(where: str) -> None:
        assert not hits, f"{where}: the beacon was reached: {hits}"
        assert not seen, f"{where}: the page requested the beacon: {seen}"
        positioned = lab.page.evaluate(JS_POSITIONED, area.element_handle())
        assert not positioned, f"{where}: positioned elements in the output: {positioned}"
        refused = area.locator(".glm-reply code.glm-tex:not(.glm-tex-alt)")
        assert refused.count() == len(formulas), (
            f"{where}: {refused.count()} formulas shown as source, wanted {len(formulas)}"
        )
        assert area.locator(".glm-reply math").count() == 1  # E = mc^2 only
        attrs = lab.page.evaluate(
            "a => [...a.querySelectorAll('math, math *')].flatMap(e => e.getAttributeNames())",
            area.element_handle(),
        )
        assert not {"style", "class", "id", "href", "mathcolor", "mathbackground"} & set(attrs), attrs
        assert area.locator("mjx-container, img, [style*='url(']").count() == 0

    check("fresh output")
    lab.save()
    lab.reopen()  # a trusted notebook re-renders the saved HTML (and would run MathJax on it)
    area = lab.output(1)
    area.locator(".glm-reply").wait_for()
    time.sleep(1.5)
    check("saved and reopened")


def test_nbconvert_html_export_keeps_the_look(browser_context, tmp_path):
    """A saved reply exported by nbconvert (lab template) reads the same, without a kernel."""
    import nbformat
    from nbconvert import HTMLExporter

    reply = Reply(model="glm-4.6")
    reply.apply(ContentDelta(RICH))
    reply.finish()
    data, metadata = reply._repr_mimebundle_()
    notebook = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("%%glm\nShow me")
    cell.outputs = [nbformat.v4.new_output("execute_result", data=data, metadata=metadata, execution_count=1)]
    notebook.cells.append(cell)
    body, _ = HTMLExporter(template_name="lab").from_notebook_node(notebook)
    page_path = tmp_path / "export.html"
    page_path.write_text(body, encoding="utf-8")

    page = browser_context.new_page()
    try:
        # nbconvert's page loads MathJax and require.js from a CDN: not needed, not fetched
        page.route("http*://**", lambda route: route.abort())
        page.goto(page_path.as_uri())
        page.wait_for_timeout(1000)
        area = page.locator(".jp-OutputArea").first
        look = page.evaluate(JS_LOOK, area.element_handle())
        shoot(area.locator(".glm-reply"), "test_nbconvert_html_export_keeps_the_look-answer")
    finally:
        page.close()
    assert [b["lang"] for b in look["blocks"]] == ["python", "js", "bash", "sql"]
    for block in look["blocks"]:
        assert block["keyword"] != block["plain"] and block["whiteSpace"] == "pre", block
    assert look["blocks"][0]["scrollWidth"] > look["blocks"][0]["clientWidth"]
    assert [m["display"] for m in look["maths"]] == ["inline", "block"]
    assert all(m["w"] > 5 and m["h"] > 5 for m in look["maths"]) and look["mathjax"] == 0
    assert look["thead"] == "solid" and look["quote"]["width"] >= 2  # a header rule, as in JupyterLab
    assert 1.3 <= look["lineHeight"] <= 1.7
