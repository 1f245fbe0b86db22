"""Where upper layers plug into lower ones, so that a lower layer never imports an upper one.

As IPython's formatters are filled in by whoever knows how to show a type, a result asks
`views.find(type(self))` for the function that renders it, and the rendering layer registers that
function; the client asks `displays` for a notebook's live view of a batch, a chat turn or the
chat widget, `progress` for a notebook's progress bar and `clients` for a default client. A target is a callable or a `"module:attribute"` path, imported on first
use, so registering costs nothing at import time (the package's `__init__` registers the paths).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Hashable
from typing import Any

__all__ = ["Hooks", "Viewable", "views", "displays", "progress", "clients"]


class Hooks:
    """A table from a key (a type matches its subclasses too) to a callable."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._targets: dict[Hashable, Callable[..., Any] | str] = {}

    def __repr__(self) -> str:
        return f"<Hooks {self.name}: {len(self._targets)} registered>"

    def register(self, key: Hashable, target: Callable[..., Any] | str) -> None:
        """Use `target` (a callable, or a "module:attribute" path) for `key`."""
        self._targets[key] = target

    def find(self, key: Any) -> Callable[..., Any] | None:
        """The callable for `key` (for a type: its own entry or its nearest base's), or None."""
        for candidate in key.__mro__ if isinstance(key, type) else (key,):
            target = self._targets.get(candidate)
            if target is None:
                continue
            if isinstance(target, str):
                module, _, attribute = target.partition(":")
                target = getattr(importlib.import_module(module), attribute)
                self._targets[candidate] = target
            return target
        return None


#: Result type → `bundle(result, include, exclude)`: its MIME bundle (the rendering layer).
views = Hooks("views")
#: Object type → `show(obj) -> bool`: a live notebook view of it; False where there is no kernel.
displays = Hooks("displays")
#: "kernel" → `make(label) -> Progress | None`: a notebook progress bar, None outside a kernel.
progress = Hooks("progress")
#: "default" → `make() -> client`: the client a `Chat` uses when given none (the notebook layer
#: puts its `%config GLM` client here when the extension loads).
clients = Hooks("clients")


class Viewable:
    """A result whose notebook view is registered in `views` (its repr where none is)."""

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> Any:
        view = views.find(type(self))
        if view is None:
            return {"text/plain": repr(self)}, {}
        return view(self, include=include, exclude=exclude)
