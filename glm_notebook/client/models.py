"""The models a client can use: `client.models()` / `%glm models`, and "did you mean …?".

`GET {base}/models` is not in the official SDK (see PROTOCOL.md: seen in one public client's
traffic, unconfirmed), so it is optional: where the base URL has no such endpoint (404 / 405),
or while replaying without a key, the list is the models of the dated price table and says so.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..results.cost import PRICES, PRICES_DATE
from . import rest

if TYPE_CHECKING:
    from .base import BaseClient

__all__ = [
    "Model",
    "ModelList",
    "list_models",
    "known_models",
    "suggest_model",
    "resolve_alias",
    "checked_aliases",
    "VISION_MODELS",
]

#: Vision models documented by the service (they have no price in the table).
VISION_MODELS = ("glm-4.6v", "glm-4.5v")


@dataclass(frozen=True)
class Model:
    """One model the service lists."""

    id: str
    owned_by: str | None = None
    created: int | None = None


class ModelList(list[Model]):
    """Models, and where the list came from: `"service"` or `"price table"`."""

    def __init__(self, models: Iterable[Model], source: str, note: str = "") -> None:
        super().__init__(models)
        self.source = source
        self.note = note

    @property
    def names(self) -> list[str]:
        return [model.id for model in self]

    def __repr__(self) -> str:
        head = f"{len(self)} models from the {self.source}" + (f" ({self.note})" if self.note else "")
        return "\n".join([head + ":", *(f"  {name}" for name in self.names)])


def _table(note: str) -> ModelList:
    names = sorted({*PRICES, *VISION_MODELS})
    return ModelList((Model(name) for name in names), "price table", f"{note}; prices of {PRICES_DATE}")


def _parse(payload: Any) -> list[Model] | None:
    data = payload.get("data") if isinstance(payload, Mapping) else payload
    if not isinstance(data, list):
        return None
    models = []
    for entry in data:
        name = entry.get("id") if isinstance(entry, Mapping) else entry
        if not isinstance(name, str) or not name.strip() or len(name) > 100:
            continue
        owner = entry.get("owned_by") if isinstance(entry, Mapping) else None
        created = entry.get("created") if isinstance(entry, Mapping) else None
        models.append(
            Model(
                name.strip(),
                owner if isinstance(owner, str) else None,
                created if isinstance(created, int) and not isinstance(created, bool) else None,
            )
        )
    return models


def list_models(client: BaseClient) -> ModelList:
    """The models `client`'s service lists, else those of the price table (saying why)."""
    if client._replaying and not client._key:
        return _table("replaying without a key: the service was not asked")
    response = rest.send(client, "GET", "/models")
    if response.status_code in (404, 405):
        return _table(f"{client.base_url} has no /models endpoint")
    rest.raise_for_status(response)
    try:
        models = _parse(json.loads(response.content))
    except (ValueError, RecursionError):
        models = None
    if models is None:
        return _table("the service's /models answer was not a list of models")
    client._listed_models = [model.id for model in models]
    return ModelList(sorted(models, key=lambda m: m.id), "service")


def known_models(client: BaseClient) -> list[str]:
    """Names to suggest from: the service's list if fetched, the price table, the aliases."""
    listed = getattr(client, "_listed_models", None) or []
    return sorted({*listed, *PRICES, *VISION_MODELS, *client.aliases})


def suggest_model(name: str, names: Iterable[str]) -> str | None:
    """The closest of `names` to `name`, if one is close."""
    matches = difflib.get_close_matches(name.lower(), list(names), n=1, cutoff=0.6)
    return matches[0] if matches else None


def resolve_alias(model: str, aliases: Mapping[str, str]) -> str:
    """`model` through `aliases` (one step; names compare without case)."""
    if model in aliases:
        return aliases[model]
    lowered = model.lower()
    return next((target for alias, target in aliases.items() if alias.lower() == lowered), model)


def checked_aliases(aliases: Mapping[str, str]) -> dict[str, str]:
    """`aliases` as a dict of names, or ValueError for an entry that is not two names."""
    checked = {}
    for alias, target in aliases.items():
        if (
            not isinstance(alias, str)
            or not isinstance(target, str)
            or not alias.strip()
            or not target.strip()
        ):
            raise ValueError(f"an alias maps a short name to a model name, not {alias!r} to {target!r}")
        checked[alias.strip()] = target.strip()
    return checked
