"""`GET {api}/models`: the models this server answers as, in the OpenAI list shape that one
public client's traffic showed for the service (unconfirmed there; see PROTOCOL.md)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .batches import guard

__all__ = ["SERVED_MODELS", "models_routes"]

#: The service's documented model names (PROTOCOL.md), as this server lists them.
SERVED_MODELS = (
    "glm-4.5", "glm-4.5-air", "glm-4.5-airx", "glm-4.5-flash", "glm-4.5-x", "glm-4.5v",
    "glm-4.6", "glm-4.6v", "glm-4.7", "glm-4.7-flash", "glm-4.7-flashx", "glm-5", "glm-5-turbo",
)  # fmt: skip
_CREATED = 1_767_225_600  # 2026-01-01


async def list_models(request: Request) -> Response:
    models = request.app.state.glm.config.models or ()
    data = [{"id": name, "object": "model", "created": _CREATED, "owned_by": "z-ai"} for name in models]
    return JSONResponse({"object": "list", "data": data})


def models_routes(api: str) -> list[Route]:
    """The `/models` route under one API root."""
    return [Route(f"{api}/models", guard(list_models), methods=["GET"])]
