"""What syntax highlighting and server-side MathML cost the live view, next to plain rendering.

The live view re-renders the open tail of an answer up to ~20 times a second; the tail is at most
one block of `MAX_BLOCK_CHARS`. This replays that: a code block (or a paragraph full of math)
grows in 40-character steps up to 3,000 characters and is rendered after every step, by

- baseline: markdown-it with its plain `<pre><code>` and escaped TeX, then nh3's default clean;
- glm_notebook: `markdown_html` (Pygments token spans, latex2mathml behind the TeX allow-list,
  the full allow-list sanitiser), the whole block lexed on every render;
- live: the same as the live view renders its open tail, with a `Resumable` (lexing only the
  lines that follow the last top-level line break).

Prints CPU milliseconds per render and the ratios to the baseline, per kind of block.

    .venv/bin/python benchmarks/bench_highlight.py
"""

from __future__ import annotations

import time

import nh3
from markdown_it import MarkdownIt
from mdit_py_plugins.dollarmath import dollarmath_plugin

from glm_notebook.render.highlight import Resumable
from glm_notebook.render.live import MAX_BLOCK_CHARS
from glm_notebook.render.markdown import markdown_html

STEP = 40
ROUNDS = 3

CODE_LINES = [
    "def area(r: float) -> float:",
    "    # the area of a circle",
    '    return 3.14159 * r ** 2  # "pi r squared"',
    "for i, x in enumerate(range(10)):",
    "    print(f'{i}: {area(x):.2f}')",
]
CODE = "```python\n" + "\n".join(CODE_LINES[i % 5] for i in range(200))
MATH = " ".join(
    ["Energy is $E = mc^2$, a sum $\\sum_{i=1}^n i = \\frac{n(n+1)}{2}$ and $\\alpha_k \\le \\beta$."] * 40
)


def baseline_renderer():
    md = MarkdownIt("commonmark", {"html": False}).enable(["table", "strikethrough"])
    md.use(dollarmath_plugin, allow_space=False, allow_digits=False, double_inline=True)
    return lambda text: nh3.clean(md.render(text))


def live_renderer():
    resume = Resumable()
    return lambda text: markdown_html(text, None, resume)


def replay(make_render, source: str) -> float:
    """CPU seconds per render over the growing prefixes of `source` (a fresh renderer a round)."""
    prefixes = [source[:end] for end in range(STEP, min(len(source), MAX_BLOCK_CHARS), STEP)]
    best = float("inf")
    for _ in range(ROUNDS):
        render = make_render()
        start = time.process_time()
        for prefix in prefixes:
            render(prefix)
        best = min(best, (time.process_time() - start) / len(prefixes))
    return best


def main() -> None:
    markdown_html("warm up $x$\n\n```python\nx = 1\n```")
    print(f"{'block':<6} {'baseline ms':>12} {'glm ms':>8} {'ratio':>6} {'live ms':>8} {'ratio':>6}")
    for name, source in (("code", CODE), ("math", MATH)):
        base = replay(baseline_renderer, source)
        whole = replay(lambda: markdown_html, source)
        live = replay(live_renderer, source)
        print(
            f"{name:<6} {base * 1e3:>12.3f} {whole * 1e3:>8.3f} {whole / base:>6.2f}"
            f" {live * 1e3:>8.3f} {live / base:>6.2f}"
        )


if __name__ == "__main__":
    main()
