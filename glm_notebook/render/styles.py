"""The stylesheet every glm_notebook surface shares (`%%glm` output, final view, chat, export).

All rules are scoped under `.glm-md` / `.glm-reply` / `.glm-chat` so nothing leaks into the
notebook, and colours come from JupyterLab's CSS variables with fallbacks, so light and dark
themes, Notebook 7, VS Code and nbconvert HTML all read well. Our own constant: it is appended
after sanitising, never built from model text.
"""

from __future__ import annotations

__all__ = ["STYLESHEET", "style_tag"]

#: The CSS text (no `<style>` wrapper).
STYLESHEET = """
.glm-reply .glm-seg { display: flow-root; padding-bottom: calc(0.5em + 1px); }
.glm-reply .glm-seg:last-of-type { padding-bottom: 1px; }
"""


def style_tag() -> str:
    """`STYLESHEET` wrapped in a `<style>` element, to prepend to an HTML output."""
    return f'<style class="glm-style">{STYLESHEET.strip()}</style>'
