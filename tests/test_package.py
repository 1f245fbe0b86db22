"""The package's shape: light to import, complete exports, layers that do not leak upwards."""

from __future__ import annotations

import subprocess
import sys

import glm_notebook


def _modules_after(code: str) -> set[str]:
    out = subprocess.check_output([sys.executable, "-c", f"{code}\nimport sys; print(' '.join(sys.modules))"])
    return set(out.decode().split())


def test_importing_the_client_pulls_in_no_notebook_machinery():
    loaded = _modules_after("import glm_notebook; from glm_notebook import GLMClient, Reply")
    assert not {m for m in loaded if m.split(".")[0] in ("IPython", "ipywidgets", "ipykernel", "nbformat")}
    assert "glm_notebook.notebook" not in loaded and "glm_notebook.notebook.widget" not in loaded


def test_exports_are_complete_and_named_for_the_package():
    lazy = {"ChatWidget", "chat", "load_ipython_extension", "unload_ipython_extension"}
    for name in set(glm_notebook.__all__) - lazy:
        obj = getattr(glm_notebook, name)
        if isinstance(obj, type):
            assert obj.__module__ == "glm_notebook", name
    public_errors = {n for n in dir(glm_notebook.errors) if n.endswith("Error") and n[0].isupper()}
    assert public_errors <= set(glm_notebook.__all__)
    assert repr(glm_notebook.GLMClient("a-very-secret-key-1234", "http://h")).count("secret") == 0


def test_only_the_notebook_folder_imports_notebook_machinery():
    """The layout rule: IPython, ipywidgets and anywidget are imported under glm_notebook/notebook/
    only (the package's own lazy hooks in __init__ import that folder, nothing else)."""
    import ast
    from pathlib import Path

    root = Path(glm_notebook.__file__).parent
    offenders = []
    for path in root.rglob("*.py"):
        if path.relative_to(root).parts[0] == "notebook":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = (
                [alias.name for alias in node.names] if isinstance(node, ast.Import)
                else [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level
                else []
            )  # fmt: skip
            offenders += [
                f"{path.relative_to(root)}: {name}"
                for name in names
                if name.split(".")[0] in ("IPython", "ipywidgets", "anywidget", "ipykernel")
            ]
    assert offenders == []
