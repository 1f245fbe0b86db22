"""MkDocs hook: publish the example notebooks and their screenshots from `notebooks/`.

The notebooks live at the top of the repository (they are tests too), so they are added to the
site's files here instead of being copied into `docs/`. It runs before mkdocs-jupyter, which then
renders each notebook from its saved outputs. The copy it renders leaves out the saved widget
state: a static page has no kernel, and that state would make the page fetch the widget manager
from a CDN; each widget output falls back to the transcript saved beside it.
"""

from __future__ import annotations

import json
from pathlib import Path

from mkdocs.plugins import event_priority
from mkdocs.structure.files import File, Files

ROOT = Path(__file__).resolve().parent.parent
STAGE = ROOT / ".cache" / "docs-notebooks"


def _staged(notebook: Path) -> None:
    data = json.loads(notebook.read_text(encoding="utf-8"))
    data.get("metadata", {}).pop("widgets", None)
    target = STAGE / notebook.relative_to(ROOT)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


@event_priority(100)
def on_files(files: Files, config) -> Files:
    for notebook in sorted(ROOT.glob("notebooks/*.ipynb")):
        _staged(notebook)
    published = [(STAGE, "notebooks/*.ipynb"), (ROOT, "notebooks/screenshots/*.png")]
    for base, pattern in published:
        for path in sorted(base.glob(pattern)):
            src = path.relative_to(base).as_posix()
            files.append(
                File(
                    src,
                    src_dir=str(base),
                    dest_dir=config.site_dir,
                    use_directory_urls=config.use_directory_urls,
                )
            )
    return files
