"""The code of an answer: its fenced code blocks, fences stripped (for `%%glm --code`).

`code_blocks(text)` lists every fenced block as `CodeBlock(language, code)`, parsed with
markdown-it-py so fences inside lists or quotes count and `~~~` / longer fences work.
`answer_code(text)` is what goes into a new cell: the Python blocks (or, when there are none,
every block) joined by a blank line.
"""

from __future__ import annotations

from dataclasses import dataclass

from markdown_it import MarkdownIt

__all__ = ["CodeBlock", "code_blocks", "answer_code", "PYTHON_LANGUAGES"]

#: Info strings taken for Python (an empty one too: models often leave it out).
PYTHON_LANGUAGES = frozenset({"", "python", "py", "python3", "ipython", "ipython3", "pycon"})
_PARSER = MarkdownIt("commonmark")


@dataclass(frozen=True)
class CodeBlock:
    """One fenced code block: its language (first word of the info string, lower case) and code."""

    language: str
    code: str


def code_blocks(text: str) -> list[CodeBlock]:
    """Every fenced code block of the Markdown `text`, in order."""
    blocks = []
    for token in _PARSER.parse(text):
        if token.type == "fence":
            info = token.info.strip().split()
            blocks.append(CodeBlock(info[0].lower() if info else "", token.content.rstrip("\n")))
    return blocks


def answer_code(text: str) -> str:
    """The code for a new cell: the Python blocks of `text`, else all blocks, else ""."""
    blocks = code_blocks(text)
    chosen = [b for b in blocks if b.language in PYTHON_LANGUAGES] or blocks
    return "\n\n".join(b.code for b in chosen if b.code.strip())
