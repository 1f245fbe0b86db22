"""TeX → MathML on our side: what is typeset, what is refused, and what the sanitiser keeps."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest

from glm_notebook.render import markdown_html, sanitize_html
from glm_notebook.render.math import (
    MATHML_ATTRIBUTES,
    MATHML_HIDDEN,
    MATHML_TAGS,
    math_html,
    mathml_attribute,
    tex_refusal,
)


class _Elements(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag, attrs):
        self.elements.append((tag, dict(attrs)))

    handle_startendtag = handle_starttag


def elements(html: str) -> list[tuple[str, dict[str, str | None]]]:
    parser = _Elements()
    parser.feed(html)
    return parser.elements


BANNED = {"style", "href", "id", "fontfamily", "mathbackground", "mathcolor", "xlink:href", "src"}


def assert_clean_mathml(html: str) -> None:
    """Every MathML element and attribute is on the allow-list; nothing can style or link."""
    for tag, attrs in elements(html):
        if attrs == {"class": "glm-mathml", "style": MATHML_HIDDEN}:
            continue  # our wrapper, hidden until the stylesheet shows it
        assert not BANNED & set(attrs), (tag, attrs)
        assert not any("url(" in (value or "") for value in attrs.values()), (tag, attrs)
        if tag in MATHML_TAGS:
            assert set(attrs) <= MATHML_ATTRIBUTES, (tag, attrs)


COMMON = {
    r"E = mc^2": "<mi>E</mi><mo>=</mo><mi>m</mi><msup><mi>c</mi><mn>2</mn></msup>",
    r"\sum_{i=1}^n i": "<munderover><mo>∑</mo><mrow><mi>i</mi><mo>=</mo><mn>1</mn></mrow><mi>n</mi></munderover>",
    r"\frac{a}{b}": "<mfrac><mrow><mi>a</mi></mrow><mrow><mi>b</mi></mrow></mfrac>",
    r"\sqrt[3]{x}": "<mroot><mrow><mi>x</mi></mrow><mn>3</mn></mroot>",
    r"\begin{pmatrix}1&2\\3&4\end{pmatrix}": "<mtr><mtd><mn>3</mn></mtd><mtd><mn>4</mn></mtd></mtr>",
    r"\begin{aligned}a&=b\\c&=d\end{aligned}": '<mtd columnalign="right"><mi>c</mi></mtd>',
    r"\begin{align}x&=1\end{align}": '<mtd columnalign="left"><mi></mi><mo>=</mo><mn>1</mn></mtd>',
    r"f(x) = \begin{cases}1 & x>0\\0 & \text{else}\end{cases}": "<mtext>else</mtext>",
    r"\int_0^1 f(x)\,dx": '<mspace width="0.167em"></mspace>',
    r"\mathbb{R}^n \to \mathcal{L}": "<mi>ℝ</mi>",
    r"\left( \frac{\alpha}{\beta} \right)": '<mo stretchy="true" fence="true" form="prefix">(</mo>',
    r"\hat{x} + \vec{v} \cdot \nabla": '<mover accent="true"><mrow><mi>x</mi></mrow><mo>^</mo></mover>',
    r"\lim_{x\to 0}\frac{\sin x}{x} = 1": "<mo>lim</mo>",
    r"x \in [0, 1] \Rightarrow x^2 \le x": '<mo stretchy="false">[</mo>',
    r"\textbf{bold} \mathbf{v}": '<mtext mathvariant="bold">bold</mtext>',
    r"\begin{array}{c|c}1&2\end{array}": '<mtable columnlines="solid">',
}


@pytest.mark.parametrize("tex", list(COMMON))
def test_common_formulas_become_mathml(tex: str) -> None:
    html = markdown_html(f"$${tex}$$")
    assert (
        '<div class="glm-math glm-math-display"><div class="glm-mathml" style="display:none"><math display="block">'
        in html
    ), html
    assert COMMON[tex] in html, html
    shown = re.sub(
        r'<code class="glm-tex glm-tex-alt">.*?</code>', "", html
    )  # the source, for untrusted views
    assert "glm-tex" not in shown and "\\" not in shown
    assert_clean_mathml(html)


HOSTILE_TEX = [
    r"\unicode[x;position:fixed;top:0;left:0;width:100%;height:100%;background:white]{x41}",
    r'\mmlToken{mi}[fontfamily="x;background-image:url(http://127.0.0.1:9/leak)"]{x}',
    r"\style{position:fixed;top:0}{x}",
    r"\class{jp-Dialog}{x}",
    r"\cssId{main}{x}",
    r"\href{http://127.0.0.1:9/x}{x}",
    r"\url{http://127.0.0.1:9/x}",
    r"\require{http://127.0.0.1:9/x.js}",
    r"\html{x}",
    r"\data{x}",
    r"\rule{1000em}{5em}",
    r"\color{red}{x}",
    r"\textcolor{red}{x}",
    r"\colorbox{red}{x}",
    r"\fcolorbox{red}{blue}{x}",
    r"\mathchoice{a}{b}{c}{d}",
    r"\def\x{y}",
    r"\newcommand{\x}{y}",
    r"\renewcommand{\x}{y}",
    r"\let\x=y",
    r"\begin{picture}x\end{picture}",
    r"\begin{align}[t]x\end{align}",
    r"\begin{array}{c;position:fixed}x\end{array}",
    r"\frac[style=x]{a}{b}",
    r"a \\[1000em] b",
    r"\hspace{100em}",
    r"\mspace{100mu}",
    r"\kern{100em}",
    r"\raise{2em}{x}",
    r"\tag{1}",
    r"\verb|x|",
    r"\'a",
    r"\foo{x}",
    r"\text{<img src=x onerror=alert(1)>}",  # latex2mathml copies text-mode input unescaped
    r"\textbf{</mtext><img src=x>}",
    r"\text{a < b}",
    r"x^",  # malformed: latex2mathml raises
    r"\left( x",
    r"\left",
    r"\sqrt",
    "x" * 5000,
]


@pytest.mark.parametrize("tex", HOSTILE_TEX)
@pytest.mark.parametrize("delimiters", [("$", "$"), ("$$", "$$"), ("\\(", "\\)"), ("\\[", "\\]")])
def test_refused_tex_is_shown_as_code(tex: str, delimiters: tuple[str, str]) -> None:
    opener, closer = delimiters
    html = markdown_html(f"Before {opener}{tex}{closer} after.")
    assert "<math" not in html, html
    assert 'class="glm-tex"' in html, html
    assert_clean_mathml(html)


def test_refusal_names_the_command() -> None:
    assert tex_refusal(r"x + \unicode[x]{41}") == "\\unicode"
    assert tex_refusal(r"\begin{foo}\end{foo}") == "\\begin{foo}"
    assert tex_refusal(r"\frac[x]{a}{b}") == "\\frac[…]"
    assert tex_refusal(r"\alpha + \left[ x \right] + \sqrt[3]{y} + \in [0, 1]") is None


def test_refused_source_is_escaped_text() -> None:
    html = math_html("<img src=x>", display=False, block=False, source="$\\x<img src=x>$")
    assert html.startswith("<span")  # no TeX commands: `<img` is typeset as operators and letters
    html = markdown_html(r"$\foo<img src=x onerror=alert(1)>$")
    assert '<code class="glm-tex">$\\foo&lt;img src=x onerror=alert(1)&gt;$</code>' in html


@pytest.mark.parametrize(
    "name, value, kept",
    [
        ("mathvariant", "bold", "bold"),
        ("mathvariant", "bold;font-family:x", None),
        ("display", "block", "block"),
        ("display", "none", None),
        ("width", "0.167em", "0.167em"),
        ("width", "1000em", None),
        ("width", "100%", None),
        ("height", "calc(100vh)", None),
        ("columnspacing", "0em 2em", "0em 2em"),
        ("columnalign", "right left", "right left"),
        ("columnalign", "right expression(x)", None),
        ("stretchy", "true", "true"),
        ("scriptlevel", "0", "0"),
        ("scriptlevel", "-99", None),
        ("style", "color:red", None),
        ("href", "http://x", None),
        ("mathcolor", "red", None),
        ("fontfamily", "x", None),
    ],
)
def test_mathml_attribute_values(name: str, value: str, kept: str | None) -> None:
    assert mathml_attribute(name, value) == kept


def test_sanitiser_cleans_mathml_built_by_hand() -> None:
    dirty = (
        '<math display="block" style="position:fixed" id="x" class="y" href="http://e">'
        '<mstyle mathcolor="red" mathbackground="url(http://e)"><mi mathvariant="bold" '
        'fontfamily="x;background:url(http://e)">x</mi></mstyle><mspace width="1000em"/>'
        '<semantics><annotation-xml encoding="text/html"><img src=x onerror=alert(1)>'
        '</annotation-xml></semantics><maction actiontype="statusline">y</maction></math>'
    )
    clean = sanitize_html(dirty)
    assert clean.startswith('<math display="block"><mstyle><mi mathvariant="bold">x</mi></mstyle><mspace>')
    assert "<img" not in clean and "annotation" not in clean and "maction" not in clean
    assert_clean_mathml(clean)


def test_money_and_code_are_not_math() -> None:
    html = markdown_html("It costs $5 and $10. Use `$x$` in shell, or \\$x\\$.")
    assert "<math" not in html and "glm-tex" not in html
    assert "$5 and $10" in html and "<code>$x$</code>" in html


def test_nothing_is_left_for_mathjax() -> None:
    html = markdown_html(r"Inline $x$, display $$y$$, \(z\) and \[w\], refused $\href{a}{b}$.")
    assert html.startswith('<div class="glm-md mathjax_ignore tex2jax_ignore">')
    assert "mathjax_process" not in html and "tex2jax_process" not in html
    assert html.count("<math") == 4
    assert (
        html.count(
            '<span class="glm-math glm-math-display"><span class="glm-mathml" style="display:none"><math display="block">'
        )
        == 2
    )
    assert re.search(r"<code class=\"glm-tex\">\$\\href\{a\}\{b\}\$</code>", html)


def test_refused_display_math_keeps_its_own_line() -> None:
    html = markdown_html("$$\\foo$$\n\n$$\\bar$$\n\nText $\\baz$ inline.")
    assert '<p><code class="glm-tex">$$\\foo$$</code></p>' in html
    assert '<p><code class="glm-tex">$$\\bar$$</code></p>' in html
    assert '<p>Text <code class="glm-tex">$\\baz$</code> inline.</p>' in html
