"""`%%glm --code`: the answer's code goes into a new cell below (or replaces this cell).

The kernel asks the front end through IPython's `set_next_input` (a `set_next_input` payload on
the execute reply): JupyterLab, Notebook 7 and classic Notebook insert a cell below, or replace
the current one with `replace=True`; terminal IPython puts it at the next prompt. Front ends that
ignore the payload (VS Code, Colab) get the code shown as a block to copy instead; either way it
stays in `reply.code` (and `Out`, `-o`).
"""

from __future__ import annotations

import os
import sys
from typing import Any

from IPython.display import display

from ..render.highlight import code_block_html, copy_buttons
from ..render.markdown import MD_OPEN
from ..render.styles import style_tag
from ..results.codeblocks import answer_code

__all__ = ["CODE_MODES", "inserts_cells", "send_code"]

#: `--code` values: a new cell below, or the current cell replaced.
CODE_MODES = ("below", "replace")


def inserts_cells() -> bool:
    """False in front ends known to ignore `set_next_input` (Colab, VS Code)."""
    if "google.colab" in sys.modules:
        return False
    return not any(name in os.environ for name in ("VSCODE_PID", "VSCODE_CWD", "VSCODE_IPC_HOOK_CLI"))


class _CodeBlock:
    """The answer's code as a copyable block (HTML), plain code as text."""

    def __init__(self, code: str) -> None:
        self.code = code

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, str]:
        html = copy_buttons(f"{MD_OPEN}{code_block_html(self.code, 'python')}</div>")
        return {"text/plain": self.code, "text/html": html + style_tag(html)}


def send_code(shell: Any, text: str, mode: str) -> str:
    """Put the code of answer `text` into a new cell (`mode` "below") or this cell ("replace");
    return the one line telling the user what happened."""
    code = answer_code(text)
    if not code:
        return "no code block in the answer: nothing inserted"
    if not inserts_cells():
        display(_CodeBlock(code))
        return "this front end cannot insert cells: copy the code above (also in reply.code)"
    shell.set_next_input(code, replace=mode == "replace")
    if type(shell).__name__ == "TerminalInteractiveShell":
        return "code placed at the next prompt (also in reply.code)"
    return "code replaced this cell" if mode == "replace" else "code inserted below"
