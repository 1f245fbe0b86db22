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
    lazy = {"ChatWidget", "chat", "notebook_client", "load_ipython_extension", "unload_ipython_extension"}
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


def _import_graph() -> dict[str, set[str]]:
    """Module → the package modules it imports, lazy imports inside functions included (imports
    under `if TYPE_CHECKING:` are left out: they never run)."""
    import ast
    from pathlib import Path

    root = Path(glm_notebook.__file__).parent
    graph: dict[str, set[str]] = {}
    for path in root.rglob("*.py"):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        is_init = parts[-1] == "__init__"
        module = ".".join(parts[:-1] if is_init else parts)
        package = module if is_init else module.rpartition(".")[0]
        tree = ast.parse(path.read_text())
        skipped = {
            id(inner)
            for node in ast.walk(tree)
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
            for inner in ast.walk(node)
        }
        targets: set[str] = set()
        for node in ast.walk(tree):
            if id(node) in skipped or not isinstance(node, ast.ImportFrom):
                continue
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            targets |= {target} | {f"{target}.{alias.name}" for alias in node.names}
        graph[module] = targets
    return {m: {t for t in targets if t in graph and t != m} for m, targets in graph.items()}


def test_no_import_cycles():
    """No module reaches itself through imports (lazy ones included): capabilities take a
    `BaseClient` instead of importing the client that offers them, results find their views in
    `glm_notebook.hooks`. Package `__init__`s re-export and are left out."""
    graph = _import_graph()
    inits = {m for m in graph if any(m == f"glm_notebook{s}" for s in ("", ".client", ".render", ".server",
             ".notebook", ".results", ".wire"))}  # fmt: skip
    graph = {m: targets - inits for m, targets in graph.items() if m not in inits}
    cycles = []
    for start in graph:
        seen, stack = set(), [(start, [start])]
        while stack:
            module, path = stack.pop()
            for target in graph[module]:
                if target == start:
                    cycles.append(" -> ".join([*path, start]))
                elif target not in seen:
                    seen.add(target)
                    stack.append((target, [*path, target]))
    assert cycles == []


def test_layers_import_only_downwards():
    """wire → results → client → render → notebook (the client assembles results from the wire's
    events): no module imports a layer above its own; the package's `__init__` is the one place
    that names them all, to register the hooks."""
    order = ["wire", "results", "client", "render", "notebook"]
    above = {layer: {f"glm_notebook.{up}" for up in order[order.index(layer) + 1 :]} for layer in order}
    offenders = [
        f"{module} -> {target}"
        for module, targets in _import_graph().items()
        if module.count(".") >= 2 and (layer := module.split(".")[1]) in above
        for target in targets
        if any(target == up or target.startswith(up + ".") for up in above[layer])
    ]
    assert offenders == []
