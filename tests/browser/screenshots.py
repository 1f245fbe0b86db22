"""Regenerate the README's screenshots into `notebooks/screenshots/`:

    PYTHONPATH=$PWD .venv/bin/python -m tests.browser.screenshots

Runs `test_frontends.py` (real JupyterLab and Notebook 7 in headless Chromium, local GLM server)
for the variants the README shows, with `GLM_SCREENSHOTS_DIR` pointing there; the test crops the
`%%glm` answer and the chat cell to about 900 px wide and stores them as palette PNGs (Pillow).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

__all__ = ["main", "OUT"]

REPO = Path(__file__).resolve().parents[2]
OUT = REPO / "notebooks" / "screenshots"
VARIANTS = "lab-light or lab-dark or nb7-light"


def main() -> int:
    try:
        import PIL  # noqa: F401
    except ImportError:
        print("the screenshots are optimised with Pillow: pip install pillow", file=sys.stderr)
        return 2
    OUT.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, GLM_SCREENSHOTS_DIR=str(OUT))
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH")) if p)
    cmd = [
        sys.executable, "-m", "pytest", "tests/browser/test_frontends.py",
        "-m", "browser", "-q", "-s", "-k", VARIANTS,
    ]  # fmt: skip
    rc = subprocess.call(cmd, cwd=REPO, env=env)
    for png in sorted(OUT.glob("*.png")):
        print(f"{png.relative_to(REPO)}: {png.stat().st_size // 1024} kB")
    return rc


if __name__ == "__main__":
    sys.exit(main())
