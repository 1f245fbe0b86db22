"""glm_notebook: talk to Z.ai's GLM models from Jupyter.

- `%load_ext glm_notebook` then `%%glm` cells stream answers in place;
- `chat()` shows a chat widget;
- `GLMClient` is the plain sync/async Python API under both; `tools=[fn]` runs Python
  functions the model calls; `image_part(obj)` / `content_parts([...])` build image messages
  for vision models, `summarize(value)` is what a `{value}` in a prompt sends.

Importing this package does not import IPython or ipywidgets.
"""

from __future__ import annotations

from typing import Any

from . import hooks
from ._version import __version__ as __version__
from .client import AsyncStream, GLMClient, Stream
from .client.batch import Batch, BatchUnavailableError
from .client.budget import SpendLimitError
from .client.content import ImageError, ImagePart, content_parts, image_part
from .client.conversation import Chat, ChatFileError, ChatTurn
from .client.many import MapRun
from .client.models import Model, ModelList
from .client.replay import Replay, ReplayMissError
from .client.structured import SchemaError
from .client.summaries import summarize
from .client.toolloop import AsyncToolStream, ToolStream
from .client.tools import Tool, ToolArgumentsError, tool
from .errors import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    GLMError,
    IncompleteStreamError,
    InsecureURLWarning,
    InvalidAPIKeyError,
    MissingAPIKeyError,
    ProtocolError,
    QuotaError,
    RateLimitError,
    ServerError,
    ServiceStreamError,
    StreamError,
)
from .files import UnsafeFileError
from .results.cost import set_prices
from .results.map_results import ItemResult, MapResults
from .results.reply import Reply
from .results.tool_reply import (
    StepLimit,
    StepStarted,
    ToolCall,
    ToolCallFinished,
    ToolCallStarted,
    ToolReply,
    ToolStep,
)
from .wire.events import (
    ContentDelta,
    Event,
    Finish,
    ReasoningDelta,
    Retrying,
    StreamStart,
    ToolCallDelta,
    Usage,
    UsageReport,
)

__all__ = [
    "Chat",
    "ChatTurn",
    "ChatFileError",
    "Replay",
    "ReplayMissError",
    "UnsafeFileError",
    "GLMClient",
    "Stream",
    "AsyncStream",
    "Reply",
    "MapRun",
    "MapResults",
    "ItemResult",
    "Batch",
    "image_part",
    "content_parts",
    "ImagePart",
    "ImageError",
    "summarize",
    "Event",
    "StreamStart",
    "ReasoningDelta",
    "ContentDelta",
    "ToolCallDelta",
    "Finish",
    "Retrying",
    "Usage",
    "UsageReport",
    "tool",
    "Tool",
    "ToolArgumentsError",
    "ToolStream",
    "AsyncToolStream",
    "ToolReply",
    "ToolStep",
    "ToolCall",
    "StepStarted",
    "ToolCallStarted",
    "ToolCallFinished",
    "StepLimit",
    "GLMError",
    "MissingAPIKeyError",
    "InvalidAPIKeyError",
    "APIStatusError",
    "AuthenticationError",
    "BadRequestError",
    "RateLimitError",
    "QuotaError",
    "ServerError",
    "APIConnectionError",
    "APITimeoutError",
    "StreamError",
    "ServiceStreamError",
    "ProtocolError",
    "IncompleteStreamError",
    "InsecureURLWarning",
    "SchemaError",
    "BatchUnavailableError",
    "SpendLimitError",
    "Model",
    "ModelList",
    "set_prices",
    "ChatWidget",
    "chat",
    "notebook_client",
    "load_ipython_extension",
    "unload_ipython_extension",
]

# The layers above plug in here, by path (nothing is imported until a view or bar is needed).
hooks.views.register(Reply, "glm_notebook.render.reply_view:reply_bundle")
hooks.views.register(ToolReply, "glm_notebook.render.tool_view:tool_reply_bundle")
hooks.views.register(MapResults, "glm_notebook.render.map_view:map_bundle")
hooks.displays.register(Batch, "glm_notebook.notebook.batch_view:show_batch")
hooks.progress.register("kernel", "glm_notebook.notebook.progress:kernel_progress")
hooks.displays.register("chat-turn", "glm_notebook.notebook.chat_turn:show_turn")
hooks.displays.register("chat-widget", "glm_notebook.notebook.widget:chat")
hooks.views.register(Chat, "glm_notebook.render.history_view:chat_bundle")
hooks.clients.register("default", "glm_notebook.client.glm:default_client")

for _name in __all__:
    _obj = globals().get(_name)
    if getattr(_obj, "__module__", "").startswith("glm_notebook."):
        _obj.__module__ = "glm_notebook"


def __getattr__(name: str) -> Any:
    # The widget pulls in ipywidgets: load it only when asked for.
    if name in ("ChatWidget", "chat"):
        from .notebook import widget

        return getattr(widget, name)
    if name == "notebook_client":
        from .notebook.magic import notebook_client

        return notebook_client
    raise AttributeError(f"module 'glm_notebook' has no attribute {name!r}")


def load_ipython_extension(ipython: Any) -> None:
    """`%load_ext glm_notebook`: register the `%%glm` cell magic and `%glm` line magic."""
    from .notebook.magic import load_ipython_extension as load

    load(ipython)


def unload_ipython_extension(ipython: Any) -> None:
    """`%unload_ext glm_notebook`: remove the magics (settings stay for a reload)."""
    from .notebook.magic import unload_ipython_extension as unload

    unload(ipython)
