"""`GLMClient`: the `BaseClient` with its capabilities, each in a module of its own that takes a
`BaseClient` (and so never imports this one): the tool loop (`tools=` with Python functions),
structured answers (`schema=`), many prompts (`map`) and batches (`batch`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..results.reply import Reply
from ..wire.protocol import Messages
from .base import AsyncStream, BaseClient, EventCallback, Stream
from .config import resolve_api_key, resolve_base_url
from .models import ModelList, list_models
from .tools import runs_tools

if TYPE_CHECKING:
    from ..results.map_results import MapResults
    from .batch import Batch

__all__ = ["GLMClient", "default_client"]


class GLMClient(BaseClient):
    """A client for Z.ai's chat completions: `chat`/`achat`, `stream`/`astream`, with Python
    functions as `tools=`, `schema=` answers, `map`/`amap` and `batch`.

    ```python
    client = GLMClient()                      # key from ZAI_API_KEY, base URL from ZAI_BASE_URL
    reply = client.chat("Say hi in Portuguese", model="glm-4.6")
    ```

    Its settings (`api_key`, `base_url`, `model`, `timeout`, `max_retries`, `retry_backoff`,
    `replay`) are `BaseClient`'s.
    """

    def stream(self, messages: Messages, *, model: str | None = None, **params: Any) -> Stream:
        """Stream a completion: iterate events; `.reply` holds what arrived so far.

        With Python functions in `tools=`, a `ToolStream` runs the tool loop (`approve=`,
        `max_steps=`; see `glm_notebook.client.toolloop`).
        """
        if runs_tools(params.get("tools")):
            from .toolloop import ToolStream

            return ToolStream(self, messages, model=model, **params)  # type: ignore[return-value]
        return super().stream(messages, model=model, **params)

    def astream(self, messages: Messages, *, model: str | None = None, **params: Any) -> AsyncStream:
        """The async twin of `stream`: `async for event in client.astream(...)`."""
        if runs_tools(params.get("tools")):
            from .toolloop import AsyncToolStream

            return AsyncToolStream(self, messages, model=model, **params)  # type: ignore[return-value]
        return super().astream(messages, model=model, **params)

    def chat(
        self,
        messages: Messages,
        *,
        model: str | None = None,
        on_event: EventCallback | None = None,
        **params: Any,
    ) -> Reply:
        """Send `messages`, wait for the whole answer, return the `Reply` (streams underneath).

        `schema=` (a pydantic model, dataclass or JSON schema) asks for a JSON object, validates
        it (one repair round) and sets `reply.value`; see `glm_notebook.client.structured`.
        """
        if params.get("schema") is not None:
            from .structured import chat_structured

            return chat_structured(self, messages, model=model, on_event=on_event, **params)
        params.pop("schema", None)
        return super().chat(messages, model=model, on_event=on_event, **params)

    async def achat(
        self,
        messages: Messages,
        *,
        model: str | None = None,
        on_event: EventCallback | None = None,
        **params: Any,
    ) -> Reply:
        """The async twin of `chat`."""
        if params.get("schema") is not None:
            from .structured import achat_structured

            return await achat_structured(self, messages, model=model, on_event=on_event, **params)
        params.pop("schema", None)
        return await super().achat(messages, model=model, on_event=on_event, **params)

    # -- many prompts -------------------------------------------------------------------------

    def map(self, prompts: Any, data: Any = None, **options: Any) -> MapResults:
        """Many prompts at once, in input order: `client.map("Classify: {review}", df)`.

        `concurrency=` (8) caps requests in flight; `schema=`, `progress=`, `max_retries=` and chat
        parameters as for `chat`. Works inside a running event loop (a worker thread runs it);
        Ctrl-C returns what finished. See `glm_notebook.client.many`.
        """
        from .many import MapRun

        return MapRun(self, prompts, data, **options).run()

    async def amap(self, prompts: Any, data: Any = None, **options: Any) -> MapResults:
        """The async twin of `map`, on the running event loop."""
        from .many import MapRun

        return await MapRun(self, prompts, data, **options).arun()

    def models(self) -> ModelList:
        """The models the service lists (`GET {base}/models`); where it has no such endpoint,
        those of the dated price table, saying so. See `glm_notebook.client.models`."""
        return list_models(self)

    def batch(self, prompts: Any, data: Any = None, **options: Any) -> Batch:
        """Create a Z.ai batch job from the same inputs as `map` (uploads JSONL); see `glm_notebook.client.batch`."""
        from .batch import Batch

        return Batch.create(self, prompts, data, **options)


_DEFAULT: dict[tuple[str | None, str], GLMClient] = {}


def default_client() -> GLMClient:
    """A `GLMClient` from the environment (`ZAI_API_KEY`, `ZAI_BASE_URL`), one per key and base
    URL: what a `Chat` given no client uses outside a notebook with `%load_ext glm_notebook`."""
    where = (resolve_api_key(None), resolve_base_url(None))
    if where not in _DEFAULT:
        _DEFAULT[where] = GLMClient(*where)
    return _DEFAULT[where]
