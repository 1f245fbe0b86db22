"""The stylesheet every glm_notebook surface shares (`%%glm` output, final view, chat, export).

Every selector names one of our own classes (`.glm-md …`, `details.glm-reasoning`,
`.glm-footer`, `.glm-status`), so nothing leaks into the notebook; colours come from JupyterLab's
CSS variables with fallbacks (`var(--jp-…, #…)`; code tokens use the CodeMirror editor's
`--jp-mirror-editor-*-color`), so light and dark themes, Notebook 7, VS Code and nbconvert HTML
all read well. What it sets: code blocks (`div.glm-code`: editor background, small muted
language label, horizontal scroll, no wrapping) and their token colours, links, inline code,
quotes, tables (as JupyterLab's own Markdown shows them: its rules apply where it renders, ours
match them elsewhere), the line height and paragraph and list spacing of its Markdown cells, headings, display math, task lists, the muted reasoning and
footer, tool calls (labelled, framed arguments and result). Our own constant: it is appended
after sanitising, never built from model text.
"""

from __future__ import annotations

import re

__all__ = ["STYLESHEET", "style_tag"]

#: The CSS text (no `<style>` wrapper).
STYLESHEET = """
.glm-md{line-height:var(--jp-content-line-height,1.6)}
.glm-md p,.glm-md li{line-height:inherit}
.glm-md>:first-child{margin-top:0}
.glm-md p{margin:0 0 1em}
.glm-md h1,.glm-md h2,.glm-md h3,.glm-md h4,.glm-md h5,.glm-md h6{line-height:1.25;margin:1em 0 .45em;font-weight:600}
.glm-md h1{font-size:1.6em}.glm-md h2{font-size:1.35em}.glm-md h3{font-size:1.15em}
.glm-md h4,.glm-md h5,.glm-md h6{font-size:1em}
.glm-md ul,.glm-md ol{margin:1em 0;padding-left:2em}
.glm-md li>p{margin:.2em 0}
.glm-md a{color:var(--jp-content-link-color,#1976d2);text-decoration:none}
.glm-md a:hover{text-decoration:underline}
.glm-md :not(pre)>code{background:var(--jp-layout-color2,#eee);border-radius:3px;padding:.1em .35em;font-family:var(--jp-code-font-family,monospace);font-size:.9em}
.glm-md blockquote{margin:.6em 0;padding:.1em 1em;border-left:4px solid var(--jp-border-color1,#bdbdbd);color:var(--jp-content-font-color2,#616161);background:none}
.glm-md table{margin:.6em 0 .9em;display:block;overflow-x:auto;max-width:100%}
div.glm-md.glm-md th{text-align:center}div.glm-md.glm-md td{text-align:start}
.glm-md table:not(.jp-RenderedHTMLCommon *){border-collapse:collapse;border-spacing:0;border:none}
.glm-md thead:not(.jp-RenderedHTMLCommon *){border-bottom:1px solid var(--jp-border-color1,#bdbdbd)}
.glm-md th:not(.jp-RenderedHTMLCommon *),.glm-md td:not(.jp-RenderedHTMLCommon *){padding:.5em;border:none}
.glm-md tbody tr:nth-child(even):not(.jp-RenderedHTMLCommon *){background:var(--jp-rendermime-table-row-background,rgba(128,128,128,.08))}
.glm-md hr{border:0;border-top:1px solid var(--jp-border-color1,#bdbdbd);margin:1em 0}
.glm-md .glm-tasks{list-style:none;padding-left:.6em}
.glm-md li.glm-task>input,.glm-md li.glm-task>p>input{margin:0 .45em 0 0;vertical-align:middle}
.glm-md .glm-code{margin:.5em 0 .9em;border-color:var(--jp-border-color2,#e0e0e0)!important;background:var(--jp-cell-editor-background,#f5f5f5);overflow:hidden}
.glm-md .glm-code-head{display:flex;align-items:center;gap:.6em;box-sizing:border-box;height:30px;padding:.2em .8em!important;border-bottom:1px solid var(--jp-border-color2,#e0e0e0);font:.75em/1.5 var(--jp-ui-font-family,system-ui,sans-serif);color:var(--jp-ui-font-color2,#757575)!important}
.glm-md .glm-code-lang{flex:1;text-transform:lowercase;letter-spacing:.03em}
.glm-md .glm-copy{display:inline-block!important;margin-left:auto;min-height:24px;padding:2px 10px;font:inherit;font-size:12px;line-height:18px;color:inherit;background:var(--jp-layout-color1,#fff);border:1px solid var(--jp-border-color2,#e0e0e0);border-radius:4px;cursor:pointer}
.glm-md .glm-copy:hover{background:var(--jp-layout-color2,#eee)}
.glm-md pre.glm-highlight{margin:0!important;padding:.65em .9em;overflow-x:auto;background:transparent;border:0;white-space:pre;word-wrap:normal;overflow-wrap:normal;font-family:var(--jp-code-font-family,monospace);font-size:var(--jp-code-font-size,13px);line-height:var(--jp-code-line-height,1.4);color:var(--jp-content-font-color1,#212121)}
.glm-md pre.glm-highlight code{background:none;padding:0;border:0;font:inherit;white-space:inherit;color:inherit}
.glm-md [class^="glm-tok-k"],.glm-md .glm-tok-ow{color:var(--jp-mirror-editor-keyword-color,#008000);font-weight:bold}
.glm-md [class^="glm-tok-s"],.glm-md .glm-tok-dl{color:var(--jp-mirror-editor-string-color,#ba2121)}
.glm-md .glm-tok-sr,.glm-md .glm-tok-ss,.glm-md .glm-tok-se,.glm-md .glm-tok-si{color:var(--jp-mirror-editor-string-2-color,#708)}
.glm-md [class^="glm-tok-m"],.glm-md .glm-tok-il{color:var(--jp-mirror-editor-number-color,#080)}
.glm-md [class^="glm-tok-c"],.glm-md .glm-tok-go{color:var(--jp-mirror-editor-comment-color,#408080);font-style:italic}
.glm-md .glm-tok-cp,.glm-md .glm-tok-cpf,.glm-md .glm-tok-nd,.glm-md .glm-tok-gp{color:var(--jp-mirror-editor-meta-color,#a2f);font-style:normal}
.glm-md .glm-tok-o{color:var(--jp-mirror-editor-operator-color,#a2f);font-weight:bold}
.glm-md .glm-tok-nf,.glm-md .glm-tok-fm,.glm-md .glm-tok-nc{color:var(--jp-mirror-editor-def-color,#00f)}
.glm-md .glm-tok-nb,.glm-md .glm-tok-bp,.glm-md .glm-tok-ne{color:var(--jp-mirror-editor-builtin-color,#008000)}
.glm-md .glm-tok-nv,.glm-md .glm-tok-vc,.glm-md .glm-tok-vg,.glm-md .glm-tok-vi,.glm-md .glm-tok-vm{color:var(--jp-mirror-editor-variable-2-color,#05a)}
.glm-md .glm-tok-no,.glm-md .glm-tok-kc{color:var(--jp-mirror-editor-atom-color,#88f)}
.glm-md .glm-tok-na,.glm-md .glm-tok-py{color:var(--jp-mirror-editor-attribute-color,#00c)}
.glm-md .glm-tok-nt{color:var(--jp-mirror-editor-tag-color,#170)}
.glm-md .glm-tok-gh,.glm-md .glm-tok-gu{color:var(--jp-mirror-editor-header-color,blue);font-weight:bold}
.glm-md .glm-tok-gd,.glm-md .glm-tok-err{color:var(--jp-mirror-editor-error-color,#f00)}
.glm-md .glm-tok-gi{color:var(--jp-mirror-editor-quote-color,#090)}
.glm-md .glm-tok-ge{font-style:italic}.glm-md .glm-tok-gs{font-weight:bold}
.glm-md .glm-math-display{display:block;margin:.6em 0;overflow-x:auto;overflow-y:hidden;text-align:center}
.glm-md .glm-math math{font-family:"STIX Two Math","Latin Modern Math","Cambria Math","Noto Sans Math",math;font-size:1.1em}
.glm-md code.glm-tex{white-space:pre-wrap}
.glm-mathml{display:inline!important}div.glm-mathml{display:block!important}code.glm-tex-alt{display:none}
details.glm-reasoning{margin:0 0 .8em;padding:.1em 0 .1em .8em;border-left:3px solid var(--jp-border-color2,#e0e0e0);color:var(--jp-ui-font-color2,#757575);font-size:.9em}
details.glm-reasoning>summary{cursor:pointer;color:var(--jp-ui-font-color2,#757575);font-size:.95em}
details.glm-reasoning .glm-md{color:inherit;font-size:inherit}
.glm-status{margin:.6em 0 0;color:var(--jp-ui-font-color2,#757575);font-size:.85em}
.glm-status small{font-size:inherit}
.glm-footer{margin:.6em 0 0;font-size:.85em;color:var(--jp-ui-font-color2,#757575)}
.glm-footer small{font-size:inherit}
sup.glm-cite{font-size:.75em;line-height:0}sup.glm-cite a{text-decoration:none}
.glm-sources{margin:.6em 0 0;font-size:.85em}.glm-sources p{margin:0 0 .2em}.glm-sources ul{list-style:none;margin:0;padding:0}
.glm-source-n,.glm-source-site{color:var(--jp-ui-font-color2,#757575)}
.glm-reply .glm-note{margin:.3em 0 0;font-size:.85em;font-style:italic;color:var(--jp-ui-font-color2,#757575)}
details.glm-tool{margin:.3em 0;padding:.1em 0 .1em .8em;border-left:3px solid var(--jp-brand-color2,#90caf9)}
details.glm-tool>summary{cursor:pointer;font-family:var(--jp-code-font-family,monospace);font-size:.9em}
details.glm-tool>summary .glm-time{float:right;margin-left:1.5em;padding-right:.3em;font-variant-numeric:tabular-nums;color:var(--jp-ui-font-color2,#757575)}
details.glm-tool .glm-tool-arrow{color:var(--jp-ui-font-color2,#757575)}
.glm-tool-running>summary,.glm-tool-pending>summary{color:var(--jp-ui-font-color2,#757575)}
details.glm-tool-error{border-left-color:var(--jp-error-color1,#c62828)}
.glm-tool-error>summary{color:var(--jp-error-color1,#c62828)}
.glm-tool-declined>summary,.glm-tool-skipped>summary,.glm-tool-note{color:var(--jp-warn-color1,#b26a00)}
details.glm-tool p.glm-tool-label{margin:.45em 0 .15em;font-size:.8em;line-height:1.3;color:var(--jp-ui-font-color2,#616161)}
details.glm-tool pre.glm-tool-args,details.glm-tool pre.glm-tool-result{margin:0 0 .3em;overflow-x:auto;white-space:pre;background:var(--jp-cell-editor-background,#f5f5f5);border:1px solid var(--jp-border-color2,#e0e0e0);padding:.4em .6em;border-radius:3px;font-size:.85em;color:var(--jp-content-font-color1,#212121)}
details.glm-tool pre.glm-tool-args>code,details.glm-tool pre.glm-tool-result>code{background:none;padding:0;border:0;color:inherit;font:inherit;white-space:inherit}
.glm-history-message{margin:.4em 0 .8em;padding-left:.8em;border-left:3px solid var(--jp-border-color2,#e0e0e0)}
.glm-history-user{border-left-color:var(--jp-brand-color1,#1976d2)}
.glm-history-role{margin:0 0 .2em;font-size:.85em;color:var(--jp-ui-font-color2,#757575);text-transform:capitalize}
.glm-history-facts{margin:0 0 .6em;color:var(--jp-ui-font-color2,#757575)}
.glm-chat .glm-thumbs,.glm-reply .glm-thumbs{display:flex;flex-wrap:wrap;gap:6px;margin:4px 0 6px}
.glm-chat .glm-thumb,.glm-reply .glm-thumb{display:block;max-width:160px;max-height:120px;border-radius:6px;border:1px solid var(--jp-border-color2,#d0d7de)}
.glm-chat .glm-thumb-placeholder,.glm-reply .glm-thumb-placeholder{color:var(--jp-content-font-color2,#59636e);font-size:.9em}
.glm-progress{color:var(--jp-ui-font-color2,#757575);font-variant-numeric:tabular-nums}
.glm-progress .glm-progress-bar{letter-spacing:-.1em;color:var(--jp-brand-color1,#1976d2)}
.glm-map .glm-map-rows{max-height:32em;overflow:auto;margin:.3em 0}
.glm-map .glm-map-rows table{margin:0;display:table}
div.glm-map.glm-map th,div.glm-map.glm-map td{text-align:left;vertical-align:top}
.glm-map td:first-child{color:var(--jp-ui-font-color2,#757575);font-variant-numeric:tabular-nums}
.glm-map .glm-map-error{color:var(--jp-error-color1,#c62828)}
.glm-reply .glm-seg{display:flow-root;padding-bottom:1px}
.glm-reply .glm-seg:not(:last-of-type)::after{content:"";display:block;margin-top:.5em}
"""


_CLASS = re.compile(r"\.(glm-[\w-]+)")
_PREFIX = re.compile(r'\[class\^="(glm-[\w-]+)"\]')
_RULE = re.compile(r"([^{}]+)\{[^{}]*\}")
_USED = re.compile(r"glm-[\w-]+")
_BASE = "glm-md"

#: Each line of the stylesheet with, per selector, the classes (and class prefixes) it needs.
_LINES = [
    (
        line,
        [
            (frozenset(_CLASS.findall(selector)) - {_BASE}, tuple(_PREFIX.findall(selector)))
            for selectors in _RULE.findall(line)
            for selector in selectors.split(",")
        ],
    )
    for line in STYLESHEET.strip().splitlines()
]


def style_tag(html: str | None = None) -> str:
    """`STYLESHEET` wrapped in a `<style>` element, to prepend to an HTML output. Given the
    output's `html`, only the lines it can use (a selector whose classes all occur in it): a
    saved short answer carries ~3 kB of stylesheet instead of 9 kB."""
    if html is None:
        return f'<style class="glm-style">{STYLESHEET.strip()}</style>'
    used = set(_USED.findall(html))
    kept = [
        line
        for line, selectors in _LINES
        if any(
            classes <= used and all(any(name.startswith(p) for name in used) for p in prefixes)
            for classes, prefixes in selectors
        )
    ]
    return f'<style class="glm-style">{chr(10).join(kept)}</style>'
